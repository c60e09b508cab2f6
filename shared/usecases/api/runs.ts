import { randomInt } from 'node:crypto';
import {
  GetExecutionHistoryCommand,
  type GetExecutionHistoryCommandOutput,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { stateMachineArn } from '../../config.ts';
import { type RunCounts, runCountsOf } from '../../domain/run-counts.ts';
import { ConflictError, NotFoundError } from '../../errors.ts';
import { keys } from '../../state/keys.ts';
import {
  PHASES,
  RUN_STATUSES,
  type RunRecord,
  type RunSchema,
  type RunStatus,
  toRun,
} from '../../state/runs.ts';
import type { Deps } from '../deps.ts';
import { type RunMessages, runCostEstimate, runMessagesOf } from '../phases/7-cleanup.ts';
import {
  audit,
  awsErrorName,
  cursorBefore,
  decodeCursor,
  type ManagementResponse,
  parseInput,
  type RouteContext,
  resumeBefore,
} from './common.ts';

/**
 * A new run id: `<pipeline>-<UTC yyyymmddThhmmssZ>-<6 base36>`. It is also the execution name
 * (at most 80 characters; a pipeline name has at most 40), so it sorts by start time within a
 * pipeline and two runs started in the same second still differ.
 */
export function newRunId(pipeline: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `${pipeline}-${stamp}-${randomInt(36 ** 6)
    .toString(36)
    .padStart(6, '0')}`;
}

const msBetween = (from: string, to: string | undefined, now: Date) =>
  Math.max(0, (to === undefined ? now.getTime() : Date.parse(to)) - Date.parse(from));

/** A run in a list: what tells runs apart at a glance. */
function runSummary(run: RunRecord, now: Date) {
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    status: run.status,
    trigger: run.trigger,
    requestedBy: run.requestedBy ?? null,
    startedAt: run.startedAt,
    endedAt: run.endedAt ?? null,
    durationMs: msBetween(run.startedAt, run.endedAt, now),
    counts: run.counts,
    verify: typeof run.verify?.status === 'string' ? run.verify.status : null,
    failure: run.failure?.error ?? null,
  };
}

export type RunSummary = ReturnType<typeof runSummary>;

const listRunsQuery = z.strictObject({
  pipeline: z.string().min(1).optional(),
  status: z.enum(RUN_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).optional(),
});

/** The merged listing's cursor: everything strictly older than this GSI sort key. */
const runSortKey = (run: RunRecord) => keys.listedAt(run.startedAt, run.runId);

/**
 * Up to `limit` runs of one pipeline older than `before` (a gsi1 sort key), newest first, read
 * straight from gsi1 (layout in state/keys.ts). Paging continues past pages the status filter
 * emptied, so `limit` matching runs come back whenever they exist.
 */
async function runsBefore(
  deps: Deps,
  pipeline: string,
  before: string | undefined,
  status: RunStatus | undefined,
  limit: number,
): Promise<{ runs: RunRecord[]; more: boolean }> {
  const runs: RunRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await deps.clients.ddb.send(
      new QueryCommand({
        TableName: deps.config.stateTable,
        IndexName: 'gsi1',
        KeyConditionExpression: before === undefined ? 'gsi1pk = :p' : 'gsi1pk = :p AND gsi1sk < :b',
        ExpressionAttributeValues: {
          ':p': keys.runsOf(pipeline),
          ...(before === undefined ? {} : { ':b': before }),
          ...(status ? { ':s': status } : {}),
        },
        ...(status ? { FilterExpression: '#s = :s', ExpressionAttributeNames: { '#s': 'status' } } : {}),
        ScanIndexForward: false,
        Limit: limit + 1,
        ExclusiveStartKey: start,
      }),
    );
    runs.push(...(out.Items ?? []).map(toRun));
    start = out.LastEvaluatedKey;
  } while (start !== undefined && runs.length <= limit);
  return { runs: runs.slice(0, limit), more: runs.length > limit || start !== undefined };
}

/**
 * `GET /runs?pipeline=&status=&limit=&after=`: runs newest first. Without `pipeline`, the runs
 * of every pipeline merged by start time; `next` is the cursor of the following page.
 */
export async function listRuns(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(listRunsQuery, ctx.query, 'query');
  const now = ctx.deps.now();
  if (query.pipeline !== undefined) {
    ctx.deps.catalog.get(query.pipeline);
    if (query.after !== undefined) decodeCursor(z.record(z.string(), z.unknown()), query.after);
    const page = await ctx.deps.state.runs.list({
      pipeline: query.pipeline,
      status: query.status,
      limit: query.limit,
      after: query.after,
    });
    return {
      status: 200,
      body: { runs: page.runs.map((r) => runSummary(r, now)), next: page.next ?? null },
    };
  }
  const before = resumeBefore(query.after);
  const pages = await Promise.all(
    ctx.deps.catalog.names().map((name) => runsBefore(ctx.deps, name, before, query.status, query.limit)),
  );
  const merged = pages
    .flatMap((p) => p.runs)
    .sort((a, b) => (runSortKey(a) < runSortKey(b) ? 1 : runSortKey(a) > runSortKey(b) ? -1 : 0));
  const runs = merged.slice(0, query.limit);
  const last = runs.at(-1);
  const more = merged.length > query.limit || pages.some((p) => p.more);
  return {
    status: 200,
    body: {
      runs: runs.map((r) => runSummary(r, now)),
      next: more && last !== undefined ? cursorBefore(runSortKey(last)) : null,
    },
  };
}

/** A run's counts as the report shows them, and what they were read from. */
interface ReportedCounts {
  readonly counts: RunCounts;
  readonly ties: number;
  readonly tiesReread: number;
  readonly fieldsDiscarded: number;
  /** Messages Load has still to complete; null once the run's own record holds its counts. */
  readonly pendingMessages: number | null;
  /** The run's messages, when its ledger was summed. */
  readonly messages?: RunMessages;
}

/**
 * The counts of a run, summed from its message ledger only while they can still change under
 * Load: a run that ended, or whose AwaitLoad found every message complete (its last full sum,
 * written on the record), is answered from its record without reading the ledger.
 */
async function reportedCounts(ctx: RouteContext, run: RunRecord): Promise<ReportedCounts> {
  const recorded = {
    counts: run.counts,
    ties: run.ties ?? 0,
    tiesReread: run.tiesReread ?? 0,
    fieldsDiscarded: run.fieldsDiscarded ?? 0,
  };
  const loaded = run.phases.AwaitLoad?.status === 'succeeded';
  if (run.status === 'running' && loaded) return { ...recorded, pendingMessages: 0 };
  if (run.status !== 'running' && run.cost !== undefined) return { ...recorded, pendingMessages: null };
  const totals = await ctx.deps.state.ledger.totals(keys.ledgerScopeOfRun(run.runId));
  if (run.status !== 'running' || totals.messages === 0)
    return { ...recorded, pendingMessages: null, messages: runMessagesOf(totals) };
  return {
    counts: runCountsOf(totals),
    ties: totals.ties,
    tiesReread: totals.tiesReread,
    fieldsDiscarded: totals.fieldsDiscarded,
    pendingMessages: totals.pendingMessages,
    messages: runMessagesOf(totals),
  };
}

/** A run's messages as AwaitLoad recorded them on its Execute phase. */
function executedMessages(run: RunRecord): RunMessages {
  const detail = run.phases.Execute?.detail ?? {};
  return runMessagesOf({
    messages: Number(detail.messages ?? 0),
    vouchedMessages: Number(detail.unsentMessages ?? 0),
    vouchedRecords: Number(detail.unsentRecords ?? 0),
  });
}

/**
 * `GET /runs/{id}`: the run report. Phases in state machine order with durations, counts (live
 * from the message ledger while Load may still change them, see {@link reportedCounts}), verify
 * result, cost estimate (computed from the counts until Cleanup stores the final one), and the
 * failure cause.
 */
export async function getRun(ctx: RouteContext): Promise<ManagementResponse> {
  const runId = ctx.params.id ?? '';
  const run = await ctx.deps.state.runs.get(runId);
  const now = ctx.deps.now();
  const { counts, ties, tiesReread, fieldsDiscarded, pendingMessages, messages } = await reportedCounts(
    ctx,
    run,
  );
  let cost: Readonly<Record<string, unknown>> | null = run.cost ?? null;
  if (cost === null) {
    const pipeline = ctx.deps.catalog.has(run.pipeline) ? ctx.deps.catalog.get(run.pipeline) : undefined;
    cost = {
      ...runCostEstimate({ ...run, counts }, messages ?? executedMessages(run), pipeline),
      final: false,
    };
  }
  const phases = PHASES.flatMap((name) => {
    const phase = run.phases[name];
    if (phase === undefined) return [];
    return [
      {
        name,
        status: phase.status,
        startedAt: phase.startedAt,
        endedAt: phase.endedAt ?? null,
        durationMs: msBetween(phase.startedAt, phase.endedAt, now),
        detail: phase.detail ?? {},
      },
    ];
  });
  return {
    status: 200,
    body: {
      runId: run.runId,
      pipeline: run.pipeline,
      status: run.status,
      trigger: run.trigger,
      requestedBy: run.requestedBy ?? null,
      executionArn: run.executionArn ?? null,
      startedAt: run.startedAt,
      endedAt: run.endedAt ?? null,
      durationMs: msBetween(run.startedAt, run.endedAt, now),
      window: run.window ?? null,
      phases,
      counts,
      ties,
      tiesReread,
      pendingMessages,
      verify: run.verify ?? null,
      cost,
      failure: run.failure ?? null,
      reportKey: run.reportKey ?? null,
      schema: schemaView(run.schema, fieldsDiscarded),
    },
  };
}

/**
 * The source schema of a run and its drift (`usecases/schema-drift.ts`); null for a source
 * without a catalog, or a run from before ESync recorded schemas.
 */
function schemaView(schema: RunSchema | undefined, fieldsDiscarded: number) {
  if (schema === undefined) return null;
  return {
    policy: schema.policy,
    fields: schema.fields,
    drift: schema.drift ?? null,
    summary: schema.summary ?? null,
    action: schema.action ?? null,
    discarded: schema.discarded ?? [],
    targetChanges: schema.targetChanges ?? [],
    fieldsDiscarded,
  };
}

const startRunBody = z
  .strictObject({ reason: z.string().trim().min(1).max(1000).optional() })
  .optional()
  .transform((b) => b ?? {});

/**
 * `POST /pipelines/{name}/runs`: starts the pipeline's state machine with a new run id as the
 * execution name, creates the run record (so the run is visible before Discover starts), and
 * audits the request. 202 `{runId, executionArn}`.
 */
export async function startRun(ctx: RouteContext): Promise<ManagementResponse> {
  const body = parseInput(startRunBody, ctx.body, 'body');
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  const now = ctx.deps.now();
  const runId = newRunId(pipeline.name, now);
  const arn = stateMachineArn(ctx.deps.config, pipeline.name);
  let started: { executionArn?: string; startDate?: Date };
  try {
    started = await ctx.deps.clients.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: arn,
        name: runId,
        input: JSON.stringify({ trigger: 'api', requestedBy: ctx.principal }),
      }),
    );
  } catch (error) {
    const name = awsErrorName(error);
    if (name === 'StateMachineDoesNotExist')
      throw new NotFoundError(
        `state machine ${arn} of pipeline "${pipeline.name}" does not exist; is it deployed?`,
        {
          cause: error,
        },
      );
    if (name === 'ExecutionAlreadyExists')
      throw new ConflictError(`an execution named ${runId} already exists; try again`, { cause: error });
    throw error;
  }
  const executionArn = started.executionArn ?? '';
  const startedAt = (started.startDate ?? now).toISOString();
  await ctx.deps.state.runs.create(
    {
      runId,
      pipeline: pipeline.name,
      trigger: 'api',
      requestedBy: ctx.principal,
      executionArn,
      startedAt,
    },
    pipeline.retention.runDays,
  );
  await audit(ctx, pipeline.name, 'run.start', { runId, executionArn }, body.reason ?? 'manual run');
  return { status: 202, body: { runId, executionArn, pipeline: pipeline.name, startedAt } };
}

/** One event of a run's execution history, as the Step Functions console lists it. */
export interface HistoryEvent {
  readonly id: number;
  readonly timestamp: string;
  readonly type: string;
  /** The state entered or exited, when the event names one. */
  readonly state: string | null;
  readonly error: string | null;
  readonly cause: string | null;
  /** Input or output of the state or task, cut to 2,000 characters (payloads hold counts and references only). */
  readonly data: string | null;
}

type RawHistoryEvent = NonNullable<GetExecutionHistoryCommandOutput['events']>[number];

function summarizeEvent(event: RawHistoryEvent): HistoryEvent {
  const details = Object.entries(event).find(
    ([k, v]) => k.endsWith('EventDetails') && v && typeof v === 'object',
  )?.[1] as { name?: string; error?: string; cause?: string; input?: string; output?: string } | undefined;
  const data = details?.output ?? details?.input ?? null;
  return {
    id: event.id ?? 0,
    timestamp: (event.timestamp ?? new Date(0)).toISOString(),
    type: event.type ?? 'Unknown',
    state: details?.name ?? null,
    error: details?.error ?? null,
    cause: details?.cause ? details.cause.slice(0, 2000) : null,
    data: data === null ? null : data.slice(0, 2000),
  };
}

/** One page of an execution's history; a history Step Functions no longer keeps is a 404. */
async function readHistoryPage(
  deps: Deps,
  runId: string,
  executionArn: string,
  nextToken: string | undefined,
) {
  try {
    return await deps.clients.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
    );
  } catch (error) {
    if (awsErrorName(error) === 'ExecutionDoesNotExist')
      throw new NotFoundError(
        `the execution of run "${runId}" (${executionArn}) is no longer kept by Step Functions (histories are kept 90 days)`,
        { cause: error },
      );
    throw error;
  }
}

/**
 * `GET /runs/{id}/history`: the run's Step Functions execution history (states entered,
 * exited, failed, retried, with their inputs and outputs), read from Step Functions itself —
 * on AWS and on the local stack alike.
 */
export async function getRunHistory(ctx: RouteContext): Promise<ManagementResponse> {
  const run = await ctx.deps.state.runs.get(ctx.params.id ?? '');
  if (!run.executionArn) throw new NotFoundError(`run "${run.runId}" has no Step Functions execution`);
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await readHistoryPage(ctx.deps, run.runId, run.executionArn, nextToken);
    events.push(...(page.events ?? []).map(summarizeEvent));
    nextToken = page.nextToken;
  } while (nextToken && events.length < 10_000);
  return { status: 200, body: { runId: run.runId, executionArn: run.executionArn, events } };
}

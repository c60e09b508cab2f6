import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { ConnectorError, EsyncError } from '../errors.ts';
import { manifestKey } from '../naming.ts';
import { keys } from '../state/keys.ts';
import { accounted, runCountsOf } from '../state/ledger.ts';
import type { Phase } from '../state/runs.ts';
import type {
  awaitLoadOutputSchema,
  discoverInputSchema,
  discoverOutputSchema,
  planOutputSchema,
  RunRef,
} from './contracts.ts';
import type { Deps } from './deps.ts';
import { forgetPlan, planOrResume } from './resume.ts';

/** Verify found the target different from the source and the pipeline says fail. */
export class VerifyFailedError extends EsyncError {}
/** Load made no progress for too long: messages are stuck (a target down, a bug). */
export class LoadStalledError extends EsyncError {}

/** Runs `body` as one phase of a run, recording its start, end and detail on the run record. */
export async function inPhase<T extends object>(
  deps: Deps,
  runId: string,
  phase: Phase,
  body: () => Promise<T>,
): Promise<T> {
  const startedAt = deps.now().toISOString();
  await deps.state.runs.setPhase(runId, phase, { startedAt, status: 'running' });
  try {
    const result = await body();
    await deps.state.runs.setPhase(runId, phase, {
      startedAt,
      endedAt: deps.now().toISOString(),
      status: 'succeeded',
      detail: summarize(result),
    });
    return result;
  } catch (error) {
    await deps.state.runs.setPhase(runId, phase, {
      startedAt,
      endedAt: deps.now().toISOString(),
      status: 'failed',
      detail: { error: (error as Error).name, message: (error as Error).message },
    });
    throw error;
  }
}

/** Keeps only scalar fields of a phase result for the run record (no arrays of partitions). */
function summarize(result: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result).filter(([, v]) => v === null || typeof v !== 'object'));
}

/** Discover: create the run record, then check source and target and read the source's shape. */
export async function discover(
  deps: Deps,
  input: z.infer<typeof discoverInputSchema>,
): Promise<z.infer<typeof discoverOutputSchema>> {
  const pipeline = deps.catalog.get(input.pipeline);
  await deps.state.runs.create(
    {
      runId: input.runId,
      pipeline: pipeline.name,
      trigger: input.trigger,
      requestedBy: input.requestedBy,
      executionArn: input.executionArn,
      startedAt: deps.now().toISOString(),
    },
    pipeline.retention.runDays,
  );
  return inPhase(deps, input.runId, 'Discover', async () => {
    const source = deps.createSource(pipeline);
    try {
      const found = await source.discover();
      const target = await deps.createTarget(pipeline).discover();
      const missing = pipeline.source.key.filter(
        (k) => found.fields.length > 0 && !found.fields.some((f) => f.name === k),
      );
      if (missing.length > 0)
        throw new ConnectorError(
          pipeline.source.type,
          `key field(s) ${missing.join(', ')} not found in the source; it has ${found.fields.map((f) => f.name).join(', ')}`,
        );
      deps.log.info('discovered', {
        pipeline: pipeline.name,
        runId: input.runId,
        fields: found.fields.length,
        target: target.detail,
      });
      return {
        fields: found.fields.length,
        primaryKey: [...found.primaryKey],
        incremental: found.capabilities.incremental,
        ...(found.approximateRows === undefined ? {} : { approximateRows: found.approximateRows }),
      };
    } finally {
      await source.close();
    }
  });
}

/**
 * Plan: fix the window (checkpoint − lookback, high watermark] and split it into partitions,
 * or take over the unfinished plan of a stopped run (see resume.ts).
 */
export async function plan(deps: Deps, input: RunRef): Promise<z.infer<typeof planOutputSchema>> {
  const pipeline = deps.catalog.get(input.pipeline);
  return inPhase(deps, input.runId, 'Plan', async () => {
    const source = deps.createSource(pipeline);
    try {
      const { planId, window, partitions, resumed, earlierRuns } = await planOrResume(
        deps,
        pipeline,
        input.runId,
        source,
      );
      await deps.state.runs.update(input.runId, { window, planId, earlierRuns });
      if (resumed)
        deps.log.info('resuming an unfinished plan', {
          pipeline: pipeline.name,
          runId: input.runId,
          planId,
          partitionsLeft: partitions.length,
        });
      if (partitions.length <= pipeline.extract.manifestThreshold)
        return { partitionCount: partitions.length, partitions, window };
      const key = manifestKey(pipeline.name, input.runId);
      await deps.clients.s3.send(
        new PutObjectCommand({
          Bucket: deps.config.dataBucket,
          Key: key,
          Body: JSON.stringify(
            partitions.map((p) => ({ pipeline: pipeline.name, runId: input.runId, partition: p })),
          ),
          ContentType: 'application/json',
        }),
      );
      return {
        partitionCount: partitions.length,
        partitions: [],
        manifest: { bucket: deps.config.dataBucket, key },
        window,
      };
    } finally {
      await source.close();
    }
  });
}

export interface AwaitLoadOptions {
  /** Fail the run when nothing moved for this long. @default 15 minutes */
  readonly stallTimeoutMs?: number;
}

/**
 * AwaitLoad: sums the run's ledger. Execute is over when every registered message has an
 * outcome; the state machine waits and asks again until then.
 */
export async function awaitLoad(
  deps: Deps,
  input: RunRef,
  options: AwaitLoadOptions = {},
): Promise<z.infer<typeof awaitLoadOutputSchema>> {
  const totals = await deps.state.ledger.totals(keys.ledgerScopeOfRun(input.runId));
  const run = await deps.state.runs.get(input.runId);
  const now = deps.now();
  const counts = runCountsOf(totals);
  const done = totals.pendingMessages === 0 && (await pendingOfEarlierRuns(deps, run)) === 0;
  const progressed = accounted(counts) !== accounted(run.counts) || !run.phases.AwaitLoad;
  const since = progressed
    ? now.toISOString()
    : ((run.phases.AwaitLoad?.detail?.lastProgressAt as string) ?? now.toISOString());
  await deps.state.runs.update(input.runId, { counts, ties: totals.ties });
  // The Execute Map has no task of its own to record it. It ran from Plan's end to the first
  // AwaitLoad, which the state machine reaches only once every Extract has returned.
  if (!run.phases.AwaitLoad && !run.phases.Execute)
    await deps.state.runs.setPhase(input.runId, 'Execute', {
      startedAt: run.phases.Plan?.endedAt ?? now.toISOString(),
      endedAt: now.toISOString(),
      status: 'succeeded',
      detail: { extracted: totals.extracted, messages: totals.messages },
    });
  await deps.state.runs.setPhase(input.runId, 'AwaitLoad', {
    startedAt: run.phases.AwaitLoad?.startedAt ?? now.toISOString(),
    status: done ? 'succeeded' : 'running',
    ...(done ? { endedAt: now.toISOString() } : {}),
    detail: { ...counts, pendingMessages: totals.pendingMessages, lastProgressAt: since },
  });
  if (!done && now.getTime() - Date.parse(since) > (options.stallTimeoutMs ?? 15 * 60_000)) {
    // A message registered but never sent (an Extract cut between the two) stays pending for
    // good: the next run plans anew rather than wait for it again.
    if (run.planId) await forgetPlan(deps, input.pipeline, run.planId);
    throw new LoadStalledError(
      `${totals.pendingMessages} messages of run ${input.runId} made no progress since ${since}; see the load DLQ and the Load function's logs`,
    );
  }
  return {
    done,
    extracted: totals.extracted,
    accounted: accounted(counts),
    pendingMessages: totals.pendingMessages,
  };
}

/** Messages of the earlier runs of a resumed plan still on the queue: part of this run's window. */
async function pendingOfEarlierRuns(deps: Deps, run: { readonly earlierRuns?: readonly string[] }) {
  let pending = 0;
  for (const earlier of run.earlierRuns ?? [])
    pending += (await deps.state.ledger.totals(keys.ledgerScopeOfRun(earlier))).pendingMessages;
  return pending;
}

/** Emits a run event on the ESync bus. */
export async function emitRunEvent(
  deps: Deps,
  detailType: string,
  detail: Record<string, unknown>,
): Promise<void> {
  await deps.clients.eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: deps.config.eventBus,
          Source: 'esync',
          DetailType: detailType,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
}

/** RecordFailure: the run failed; record the cause, leave the checkpoint untouched, tell the bus. */
export async function recordFailure(
  deps: Deps,
  input: RunRef & { error: { Error?: string; Cause?: string } },
): Promise<{ recorded: boolean }> {
  const errorName = input.error.Error ?? 'UnknownError';
  let cause = input.error.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) cause = parsed.errorMessage;
  } catch {
    // Cause is plain text when the error did not come from a Lambda task.
  }
  const existing = await deps.state.runs.find(input.runId);
  if (!existing)
    await deps.state.runs.create(
      {
        runId: input.runId,
        pipeline: input.pipeline,
        trigger: 'unknown',
        executionArn: input.executionArn,
        startedAt: deps.now().toISOString(),
      },
      deps.catalog.retentionOf(input.pipeline).runDays,
    );
  await deps.state.runs.update(input.runId, {
    status: 'failed',
    endedAt: deps.now().toISOString(),
    failure: { error: errorName, cause: cause.slice(0, 2000) },
  });
  await emitRunEvent(deps, 'esync.run.failed', {
    pipeline: input.pipeline,
    runId: input.runId,
    error: errorName,
    cause: cause.slice(0, 500),
  });
  deps.log.error('run failed', { pipeline: input.pipeline, runId: input.runId, error: errorName });
  return { recorded: true };
}

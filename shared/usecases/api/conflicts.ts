import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { archiveAppliedChanges } from '../../connectors/targets/change-archive.ts';
import type { TargetConnector, TargetWrite } from '../../connectors/types.ts';
import { ConflictError, describeError, ValidationError } from '../../errors.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import type { RecordData } from '../../records/envelope.ts';
import { canonicalJson, contentHash, DELETED_HASH } from '../../records/hash.ts';
import type { ConflictRecord } from '../../state/conflicts.ts';
import { audit, decodeCursor, type ManagementResponse, parseInput, type RouteContext } from './common.ts';

const listConflictsQuery = z.strictObject({
  pipeline: z.string({ error: 'pipeline is required: conflicts are listed per pipeline' }).min(1),
  status: z.enum(['open', 'resolved']).default('open'),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  after: z.string().min(1).optional(),
});

function conflictSummary(c: ConflictRecord) {
  return {
    id: c.id,
    pipeline: c.pipeline,
    key: c.key,
    status: c.status,
    createdAt: c.createdAt,
    strategy: c.strategy,
    fields: c.fields,
    sourceVersion: c.source.version,
    targetVersion: c.target.version,
    resolution: c.resolution
      ? { choice: c.resolution.choice, by: c.resolution.by, at: c.resolution.at, reason: c.resolution.reason }
      : null,
  };
}

/** `GET /conflicts?pipeline=&status=open|resolved&limit=&after=`: a pipeline's conflicts, newest first. */
export async function listConflicts(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(listConflictsQuery, ctx.query, 'query');
  ctx.deps.catalog.get(query.pipeline);
  if (query.after !== undefined) decodeCursor(z.record(z.string(), z.unknown()), query.after);
  const page = await ctx.deps.state.conflicts.list(query);
  return { status: 200, body: { conflicts: page.conflicts.map(conflictSummary), next: page.next ?? null } };
}

/** Every field whose value differs between the two sides, with the base when field-merge kept one. */
export function conflictDifferences(c: ConflictRecord) {
  const source = c.source.data ?? {};
  const target = c.target.data ?? {};
  const base = c.base ?? undefined;
  const names = [...new Set([...Object.keys(source), ...Object.keys(target)])].sort();
  return names
    .filter((f) => canonicalJson(source[f]) !== canonicalJson(target[f]))
    .map((field) => ({
      field,
      source: source[field] ?? null,
      target: target[field] ?? null,
      ...(base ? { base: base[field] ?? null } : {}),
      inConflict: c.fields.length === 0 || c.fields.includes(field),
    }));
}

/** `GET /conflicts/{id}`: both versions, the base, and the fields that differ. */
export async function getConflict(ctx: RouteContext): Promise<ManagementResponse> {
  const conflict = await ctx.deps.state.conflicts.get(ctx.params.id ?? '');
  return { status: 200, body: { ...conflict, differences: conflictDifferences(conflict) } };
}

const resolveBody = z
  .strictObject({
    choice: z.enum(['source', 'target', 'merged']),
    data: z.record(z.string(), z.unknown()).optional(),
    reason: z
      .string({ error: 'reason is required: say why the conflict is resolved this way' })
      .trim()
      .min(1, {
        error: 'reason must not be empty',
      }),
  })
  .superRefine((b, ctx) => {
    if (b.choice === 'merged' && b.data === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['data'],
        message: 'choice merged needs data: the merged record',
      });
    if (b.choice !== 'merged' && b.data !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['data'],
        message: `data is only taken with choice merged, not ${b.choice}`,
      });
  });

/**
 * `POST /conflicts/{id}/resolve` `{choice, data?, reason}`: applies the choice to the target,
 * then marks the conflict resolved, audits it and emits `esync.conflict.resolved`.
 *
 * Every choice is written at the source version, so the target's version moves past the
 * conflicting change and ESync's shadow (version + hash) then matches what the target holds:
 * - `source`: the source's data (a delete when the source deleted the record);
 * - `target`: the target's current data, rewritten so ESync adopts it;
 * - `merged`: the data given.
 * When the target already holds that version or a newer one (a later change superseded the
 * conflict), nothing is written and the conflict is closed with `applied: false`.
 */
export async function resolveParkedConflict(ctx: RouteContext): Promise<ManagementResponse> {
  const body = parseInput(resolveBody, ctx.body, 'body');
  const { deps } = ctx;
  const conflict = await openConflict(ctx, ctx.params.id ?? '');
  const pipeline = deps.catalog.get(conflict.pipeline);
  const { data, applied } = await applyChoice(ctx, pipeline, conflict, body);
  const at = deps.now().toISOString();
  await deps.state.conflicts.resolve(conflict.id, {
    choice: body.choice,
    data,
    by: ctx.principal,
    at,
    reason: body.reason,
  });
  if (applied && data !== null && pipeline.conflict.strategy === 'field-merge')
    await deps.state.bases.putMany(pipeline.name, [{ key: conflict.key, data }]);
  const { id: conflictId, key } = conflict;
  const { version } = conflict.source;
  await audit(
    ctx,
    pipeline.name,
    'conflict.resolve',
    { conflictId, key, choice: body.choice, version, applied },
    body.reason,
  );
  const eventPublished = await publishResolved(ctx, {
    pipeline: pipeline.name,
    conflictId,
    key,
    choice: body.choice,
    applied,
    by: ctx.principal,
  });
  return {
    status: 200,
    body: {
      id: conflictId,
      pipeline: pipeline.name,
      key,
      status: 'resolved',
      choice: body.choice,
      applied,
      version,
      resolvedAt: at,
      eventPublished,
    },
  };
}

/** The conflict, refused (409) when it is already resolved. */
async function openConflict(ctx: RouteContext, id: string): Promise<ConflictRecord> {
  const conflict = await ctx.deps.state.conflicts.get(id);
  if (conflict.status !== 'open')
    throw new ConflictError(
      `conflict "${conflict.id}" is already resolved (${conflict.resolution?.choice ?? 'unknown'} by ${conflict.resolution?.by ?? 'unknown'} at ${conflict.resolution?.at ?? 'unknown'})`,
    );
  return conflict;
}

type ResolveBody = z.infer<typeof resolveBody>;

/** Writes the chosen data to the target at the source's version; `applied` is false where a newer version stands. */
async function applyChoice(
  ctx: RouteContext,
  pipeline: Pipeline,
  conflict: ConflictRecord,
  body: ResolveBody,
): Promise<{ data: RecordData | null; applied: boolean }> {
  const { deps } = ctx;
  const target = deps.createTarget(pipeline);
  try {
    const data = await chosenData(pipeline, target, conflict, body);
    const write: TargetWrite = {
      key: conflict.key,
      op: data === null ? 'delete' : 'upsert',
      version: conflict.source.version,
      hash: data === null ? DELETED_HASH : contentHash(data),
      data,
      messageKey: `resolve-${conflict.id}`,
      ts: deps.now().toISOString(),
    };
    const outcomes = await target.write([write]);
    const [outcome] = outcomes;
    if (outcome?.status === 'failed') throw outcome.error;
    await archiveAppliedChanges(deps.connectorContext(pipeline), pipeline, [write], outcomes);
    return { data, applied: outcome?.status === 'applied' };
  } finally {
    await target.close();
  }
}

/** The data of the choice: the source's, the given merge, or what the target holds now. */
async function chosenData(
  pipeline: Pipeline,
  target: TargetConnector,
  conflict: ConflictRecord,
  body: ResolveBody,
): Promise<RecordData | null> {
  if (body.choice === 'source') return conflict.source.data;
  if (body.choice === 'merged') return body.data ?? null;
  const current = (await target.readState([conflict.key], { withData: true })).get(conflict.key);
  if (current === undefined || current.deleted) return null;
  if (current.data !== undefined) return current.data;
  if (conflict.target.data !== null) return conflict.target.data;
  throw new ValidationError(
    `the ${pipeline.target.type} target of "${pipeline.name}" cannot read back record "${conflict.key}"; resolve with choice merged and its data`,
    [{ path: 'choice', message: 'target data unavailable' }],
  );
}

/**
 * Emits `esync.conflict.resolved`. The resolution is already committed, so a failure here is
 * logged and reported in the answer rather than failing a call that cannot be repeated.
 */
async function publishResolved(ctx: RouteContext, detail: Record<string, unknown>): Promise<boolean> {
  try {
    const out = await ctx.deps.clients.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: ctx.deps.config.eventBus,
            Source: 'esync',
            DetailType: 'esync.conflict.resolved',
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    if ((out.FailedEntryCount ?? 0) === 0) return true;
    ctx.deps.log.error('esync.conflict.resolved was not accepted by the bus', {
      conflictId: detail.conflictId,
      errorCode: out.Entries?.[0]?.ErrorCode,
    });
  } catch (error) {
    ctx.deps.log.error('could not emit esync.conflict.resolved', {
      conflictId: detail.conflictId,
      error: describeError(error),
    });
  }
  return false;
}

import type { z } from 'zod';
import { s3Commands } from '../../aws/s3-commands.ts';
import { keepsHistory } from '../../connectors/targets/change-archive.ts';
import type { Cursor } from '../../connectors/types.ts';
import { estimateRunCost } from '../../cost/estimate.ts';
import { advanceCursor } from '../../domain/cursor.ts';
import { manifestKey, verifyManifestKey } from '../../naming.ts';
import { DEFAULT_LOAD_BATCH_SIZE } from '../../pipeline/load-batching.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { keys } from '../../state/keys.ts';
import type { LedgerTotals } from '../../state/ledger.ts';
import type { RunRecord } from '../../state/runs.ts';
import type { cleanupOutputSchema, RunRef } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { forgetPlan } from '../resume.ts';
import { emitRunEvent } from '../run-events.ts';
import { recordRunEnd } from '../unchanged-messages.ts';
import { inPhase } from './in-phase.ts';

export type CleanupOutput = z.infer<typeof cleanupOutputSchema>;

/** Mean size of a record when nothing better is known, for cost estimates. */
const ASSUMED_RECORD_BYTES = 1024;

/** Memory of the phase functions in GB (infra/constructs/core-functions.ts). */
const PHASE_MEMORY_GB: Readonly<Partial<Record<keyof RunRecord['phases'], number>>> = {
  Discover: 0.5,
  Plan: 0.5,
  Verify: 1,
  Cleanup: 0.5,
};
/** Extract's memory in GB: it runs during Execute, once per partition side by side. */
const EXTRACT_MEMORY_GB = 1;

function phaseSeconds(run: RunRecord, phase: keyof RunRecord['phases']): number {
  const p = run.phases[phase];
  return p?.endedAt ? Math.max(0, Date.parse(p.endedAt) - Date.parse(p.startedAt)) / 1000 : 0;
}

/** A run's messages, for its cost: all it registered, and of those the ones left unsent. */
export interface RunMessages {
  readonly messages: number;
  /** Messages and records an earlier verified run loaded clean: registered done, never sent. */
  readonly unsent: { readonly messages: number; readonly records: number };
}

/** A run's messages from its ledger totals. */
export function runMessagesOf(
  totals: Pick<LedgerTotals, 'messages' | 'vouchedMessages' | 'vouchedRecords'>,
): RunMessages {
  return {
    messages: totals.messages,
    unsent: { messages: totals.vouchedMessages, records: totals.vouchedRecords },
  };
}

/**
 * The cost of a run, estimated from its counts and phase durations with the model and prices the
 * benchmark checks against measured requests (shared/cost/estimate.ts). A first full load that
 * skipped nothing read no target state; any other run read the state of every record it sent.
 * A message left unsent costs its ledger registration only.
 */
export function runCostEstimate(
  run: RunRecord,
  { messages, unsent }: RunMessages,
  pipeline: Pick<Pipeline, 'target' | 'retention' | 'load'> | undefined,
) {
  const records = run.counts.extracted;
  const partitions = Math.max(1, Number(run.phases.Plan?.detail?.partitionCount ?? 1));
  const compared = Number(run.verify?.compared ?? 0);
  const firstLoad = run.window?.from === null && run.counts.skipped === 0;
  let phaseGbSeconds = phaseSeconds(run, 'Execute') * partitions * EXTRACT_MEMORY_GB;
  for (const [phase, gb] of Object.entries(PHASE_MEMORY_GB))
    phaseGbSeconds += phaseSeconds(run, phase as keyof RunRecord['phases']) * (gb ?? 0);
  return estimateRunCost({
    records,
    messages,
    unsent,
    written: run.counts.loaded,
    stateReads: firstLoad ? 0 : Math.max(0, records - unsent.records),
    verified: Number.isFinite(compared) ? compared : 0,
    meanRecordBytes: ASSUMED_RECORD_BYTES,
    extractInvocations: partitions,
    awaitLoadPolls: Number(run.phases.AwaitLoad?.detail?.polls ?? 1),
    phaseGbSeconds,
    targetIsDynamoDb: pipeline?.target.type === 'dynamodb',
    loadBatchSize: pipeline?.load.batchSize ?? DEFAULT_LOAD_BATCH_SIZE,
    archivesChanges: pipeline !== undefined && keepsHistory(pipeline),
  });
}

function markdownReport(run: RunRecord, cost: { usd: number }): string {
  const c = run.counts;
  const lines = [
    `# Run ${run.runId}`,
    '',
    `Pipeline **${run.pipeline}**, trigger ${run.trigger}, started ${run.startedAt}.`,
    '',
    '| extracted | loaded | skipped | filtered | conflicts | quarantined | dead-lettered |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${c.extracted} | ${c.loaded} | ${c.skipped} | ${c.filtered ?? 0} | ${c.conflicts} | ${c.quarantined} | ${c.deadLettered} |`,
    '',
    `Verify: ${String(run.verify?.status ?? 'n/a')} (${String(run.verify?.compared ?? 0)} compared, ${String(run.verify?.mismatches ?? 0)} mismatches).`,
    '',
    ...(run.schema?.summary
      ? [`Schema drift (onDrift ${run.schema.policy}, ${run.schema.action}): ${run.schema.summary}.`, '']
      : []),
    `Estimated AWS cost: $${cost.usd.toFixed(6)}.`,
    '',
    '| phase | status | started | ended |',
    '|---|---|---|---|',
    ...Object.entries(run.phases).map(
      ([name, p]) => `| ${name} | ${p?.status} | ${p?.startedAt} | ${p?.endedAt ?? ''} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

async function deletePrefix(deps: Deps, prefix: string): Promise<number> {
  const { DeleteObjectsCommand, ListObjectsV2Command } = await s3Commands();
  let deleted = 0;
  let token: string | undefined;
  do {
    const page = await deps.clients.s3.send(
      new ListObjectsV2Command({ Bucket: deps.config.dataBucket, Prefix: prefix, ContinuationToken: token }),
    );
    const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (objects.length > 0) {
      await deps.clients.s3.send(
        new DeleteObjectsCommand({ Bucket: deps.config.dataBucket, Delete: { Objects: objects } }),
      );
      deleted += objects.length;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return deleted;
}

/**
 * Moves the pipeline's checkpoint to `to` unless it already stands there or beyond: two runs of
 * one pipeline may overlap (a schedule and a manual run), and the one ending last must not move
 * the checkpoint back to its older window end. Returns whether it moved.
 */
async function advanceCheckpoint(deps: Deps, pipeline: string, to: Cursor, runId: string): Promise<boolean> {
  const current = (await deps.state.checkpoints.get(pipeline))?.cursor ?? null;
  if (advanceCursor(current, to) !== to) return false;
  await deps.state.checkpoints.put({
    pipeline,
    cursor: to,
    setBy: runId,
    updatedAt: deps.now().toISOString(),
  });
  return true;
}

/**
 * Cleanup: advance the checkpoint to the window's end (only reached after Verify passed or was
 * allowed to warn), finish the run's plan so no later run resumes it, delete the run's temporary objects, write the run summary and report,
 * and announce the run on the bus.
 */
export async function cleanupRun(deps: Deps, input: RunRef): Promise<CleanupOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const result = await inPhase(deps, input.runId, 'Cleanup', async () => {
    const run = await deps.state.runs.get(input.runId);
    const to = (run.window?.to ?? null) as Cursor | null;
    const checkpointAdvanced = to !== null && (await advanceCheckpoint(deps, pipeline.name, to, input.runId));
    await recordRunEnd(deps, pipeline, run);
    if (run.planId) await forgetPlan(deps, pipeline.name, run.planId);
    const { DeleteObjectCommand, PutObjectCommand } = await s3Commands();
    for (const key of [
      manifestKey(pipeline.name, input.runId),
      verifyManifestKey(pipeline.name, input.runId),
    ])
      await deps.clients.s3.send(new DeleteObjectCommand({ Bucket: deps.config.dataBucket, Key: key }));
    await deletePrefix(
      deps,
      `claim-check/${pipeline.name}/${encodeURIComponent(keys.ledgerScopeOfRun(input.runId))}/`,
    );
    const totals = await deps.state.ledger.totals(keys.ledgerScopeOfRun(input.runId));
    const cost = runCostEstimate(run, runMessagesOf(totals), pipeline);
    const reportKey = `reports/${pipeline.name}/${input.runId}/summary`;
    await deps.state.runs.update(input.runId, { cost, reportKey: `${reportKey}.json` });
    const finalRun = { ...run, cost };
    await deps.clients.s3.send(
      new PutObjectCommand({
        Bucket: deps.config.dataBucket,
        Key: `${reportKey}.json`,
        Body: JSON.stringify(finalRun, null, 2),
        ContentType: 'application/json',
      }),
    );
    await deps.clients.s3.send(
      new PutObjectCommand({
        Bucket: deps.config.dataBucket,
        Key: `${reportKey}.md`,
        Body: markdownReport(finalRun, cost),
        ContentType: 'text/markdown',
      }),
    );
    return { checkpointAdvanced, reportKey: `${reportKey}.json` };
  });
  const run = await deps.state.runs.get(input.runId);
  await deps.state.runs.update(input.runId, { status: 'succeeded', endedAt: deps.now().toISOString() });
  await emitRunEvent(deps, 'esync.run.completed', {
    pipeline: pipeline.name,
    runId: input.runId,
    counts: run.counts,
    verify: run.verify?.status ?? 'n/a',
    ...(run.schema?.summary && {
      schemaDrift: {
        policy: run.schema.policy,
        action: run.schema.action,
        summary: run.schema.summary,
        fieldsDiscarded: run.fieldsDiscarded ?? 0,
      },
    }),
  });
  return result;
}

/**
 * Verify, partitioned: a plan step lists the run's partitions (those of its plan, every one of a
 * resumed plan), a Map verifies each (verify-partition.ts), and a summary step adds their
 * results up and decides the run's outcome. Keys whose target content differs on purpose
 * (quarantined, parked as conflicts, kept by target-wins) and keys the target holds at a newer
 * version are not mismatches. Mismatches go to an S3 report; the pipeline decides whether they
 * fail the run, only warn, or are repaired by sending the source records again.
 */
import type { z } from 'zod';
import { getJsonObject, putJsonObject } from '../../aws/s3-json.ts';
import type { ChangeWindow, Partition } from '../../connectors/types.ts';
import { EsyncError } from '../../errors.ts';
import { verifyManifestKey } from '../../naming.ts';
import { isPushOnlySource } from '../../pipeline/push-only-sources.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { keys } from '../../state/keys.ts';
import type { RunRecord } from '../../state/runs.ts';
import type { Mismatch, VerifyChunk } from '../../state/verify-results.ts';
import type { RunRef, verifyOutputSchema, verifyPlanOutputSchema } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { forgetPlan } from '../resume.ts';
import { deletesPartOf, excludedKeysObject, type VerifyItem } from './6-verify-partition.ts';
import { partitionsAreKeyRanges, planTargetRead } from './6-verify-target.ts';

export type { Mismatch } from '../../state/verify-results.ts';
export type VerifyOutput = z.infer<typeof verifyOutputSchema>;
export type VerifyPlanOutput = z.infer<typeof verifyPlanOutputSchema>;

/** Verify found the target different from the source and the pipeline says fail. */
export class VerifyFailedError extends EsyncError {}

const MAX_REPORTED = 1000;

/**
 * Whether a run of the pipeline can be verified: pushed changes have no window to re-read, and
 * an HTTP API that cannot be read back (readState: none) has nothing to compare against.
 */
function verifiable(pipeline: Pipeline): boolean {
  const unreadable = pipeline.target.type === 'http' && pipeline.target.readState === 'none';
  return pipeline.verify.mode !== 'off' && !isPushOnlySource(pipeline.source.type) && !unreadable;
}

/**
 * The items to verify: every partition of the run's plan (those an earlier run of a resumed plan
 * extracted too), or, for a run without a saved plan or when `parts` asks for a finer split, the
 * source's split of its window in `parts` (default `extract.partitions`). A pipeline finding hard
 * deletes by key range looks at every key, whatever the window: an incremental run's partitions
 * split the whole table's keys, so a run with few changes still reads the target range by range
 * rather than whole in one partition. (A first load's plan already splits every key.)
 */
async function itemsToVerify(
  deps: Deps,
  pipeline: Pipeline,
  run: RunRecord,
  parts?: number,
): Promise<VerifyItem[]> {
  const window = (run.window ?? { from: null, to: null }) as ChangeWindow;
  const everyKey =
    pipeline.source.deletes.mode === 'verify' && partitionsAreKeyRanges(pipeline) && window.from !== null;
  const saved = await deps.state.progress.getPlan(pipeline.name);
  let partitions: Partition[];
  if (parts === undefined && !everyKey && run.planId && saved?.planId === run.planId)
    partitions = await getJsonObject<Partition[]>(
      deps.clients.s3,
      deps.config.dataBucket,
      saved.partitionsKey,
    );
  else {
    const source = deps.createSource(pipeline);
    try {
      const planned = everyKey ? { from: null, to: null } : window;
      partitions = await source.planPartitions(planned, parts ?? pipeline.extract.partitions);
    } finally {
      await source.close();
    }
  }
  return partitions.map((partition, i) => ({ partition, findDeletes: deletesPartOf(pipeline, i) }));
}

/**
 * The keys the run (and the earlier runs of a resumed plan) left different on purpose, saved
 * once for every partition to read (an empty list too: without ListBucket a missing object
 * reads as AccessDenied, not NoSuchKey).
 */
async function saveExcludedKeys(deps: Deps, pipeline: string, run: RunRecord): Promise<void> {
  const excluded = new Set<string>();
  for (const scope of [run.runId, ...(run.earlierRuns ?? [])])
    for (const key of (await deps.state.ledger.totals(keys.ledgerScopeOfRun(scope))).excludedKeys)
      excluded.add(key);
  await putJsonObject(deps.clients.s3, deps.config.dataBucket, excludedKeysObject(pipeline, run.runId), [
    ...excluded,
  ]);
}

export interface PlanVerifyOptions {
  /** Segments of the target read, instead of the count sized from the target and the plan. */
  readonly targetSegments?: number;
  /** Whether partitions compare with one whole read of the target, instead of the choice by cost. */
  readonly targetReadWhole?: boolean;
  /** Records one partition's slice of a whole read holds at most. @default MAX_SLICE_RECORDS (6-verify-target.ts) */
  readonly sliceRecords?: number;
}

/**
 * The Verify plan: records the phase's start and lists the partitions to verify, and the
 * segments of the target read that slices it for them first (6-verify-target.ts), if any.
 */
export async function planVerify(
  deps: Deps,
  input: RunRef,
  options: PlanVerifyOptions = {},
): Promise<VerifyPlanOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const started = await deps.state.runs.setPhase(input.runId, 'Verify', {
    startedAt: deps.now().toISOString(),
    status: 'running',
  });
  if (!verifiable(pipeline)) return { partitionCount: 0, items: [], targetSegments: [] };
  const run = started ?? (await deps.state.runs.get(input.runId));
  await saveExcludedKeys(deps, pipeline.name, run);
  const planned = await itemsToVerify(deps, pipeline, run);
  const finer = (parts: number) => itemsToVerify(deps, pipeline, run, parts);
  const read = await planTargetRead(deps, pipeline, input.runId, planned, finer, {
    ...(options.targetSegments === undefined ? {} : { segments: options.targetSegments }),
    ...(options.targetReadWhole === undefined ? {} : { whole: options.targetReadWhole }),
    ...(options.sliceRecords === undefined ? {} : { sliceRecords: options.sliceRecords }),
  });
  const { items, segments: targetSegments } = read;
  if (items.length <= pipeline.extract.manifestThreshold)
    return { partitionCount: items.length, items, targetSegments };
  const key = verifyManifestKey(pipeline.name, input.runId);
  await putJsonObject(deps.clients.s3, deps.config.dataBucket, key, items);
  return {
    partitionCount: items.length,
    items: [],
    manifest: { bucket: deps.config.dataBucket, key },
    targetSegments,
  };
}

/**
 * The Verify summary: adds up the partitions' results, writes the report of a run that found
 * anything, records the outcome and fails the run when the pipeline says so. Deletes found for
 * `deletes.mode: verify` are the pipeline's chosen way of propagating hard deletes, not
 * mismatches: they never fail the run. The partitions already sent them, and the repairs.
 */
export async function summarizeVerify(deps: Deps, input: RunRef): Promise<VerifyOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const run = await deps.state.runs.get(input.runId);
  const startedAt = run.phases.Verify?.startedAt ?? deps.now().toISOString();
  const result = verifiable(pipeline)
    ? await outcomeOf(deps, pipeline, input.runId, await deps.state.verifyResults.list(input.runId))
    : { status: 'skipped' as const, compared: 0, mismatches: 0 };
  await deps.state.runs.update(input.runId, { verify: result });
  const failure =
    result.status === 'failed'
      ? new VerifyFailedError(
          `verify found ${result.mismatches} of ${result.compared} records different in the target; report s3://${deps.config.dataBucket}/${result.reportKey}`,
        )
      : undefined;
  await deps.state.runs.setPhase(input.runId, 'Verify', {
    startedAt,
    endedAt: deps.now().toISOString(),
    status: failure ? 'failed' : 'succeeded',
    detail: failure ? { error: failure.name, message: failure.message } : { ...result },
  });
  if (!failure) return result;
  // The next run reads the window again rather than skip every partition of this plan.
  if (run.planId) await forgetPlan(deps, pipeline.name, run.planId);
  throw failure;
}

/** What each partition compared, found and read of the target as a whole, for the report. */
export function perPartition(chunks: readonly VerifyChunk[]) {
  type Sums = Pick<VerifyChunk, 'partitionId' | 'compared' | 'mismatches' | 'deleted' | 'targetRead'>;
  const byId = new Map<string, Sums>();
  for (const c of chunks) {
    const p = byId.get(c.partitionId);
    byId.set(c.partitionId, {
      partitionId: c.partitionId,
      compared: (p?.compared ?? 0) + c.compared,
      mismatches: (p?.mismatches ?? 0) + c.mismatches,
      deleted: (p?.deleted ?? 0) + c.deleted,
      targetRead: (p?.targetRead ?? 0) + c.targetRead,
    });
  }
  return [...byId.values()];
}

async function outcomeOf(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  chunks: readonly VerifyChunk[],
): Promise<VerifyOutput> {
  const sum = (pick: (c: VerifyChunk) => number) => chunks.reduce((n, c) => n + pick(c), 0);
  const compared = sum((c) => c.compared);
  const mismatches = sum((c) => c.mismatches);
  const deleted = sum((c) => c.deleted);
  const counts = { compared, mismatches, ...(deleted > 0 ? { deleted } : {}) };
  if (mismatches === 0 && deleted === 0) return { status: 'passed', ...counts };
  const reportKey = `reports/${pipeline.name}/${runId}/verify.json`;
  const sample: Mismatch[] = chunks.flatMap((c) => c.sample).slice(0, MAX_REPORTED);
  await putJsonObject(deps.clients.s3, deps.config.dataBucket, reportKey, {
    pipeline: pipeline.name,
    runId,
    ...counts,
    partitions: perPartition(chunks),
    sample,
  });
  if (mismatches === 0) return { status: 'passed', ...counts, reportKey };
  const status = { repair: 'repaired', warn: 'warned', fail: 'failed' } as const;
  return { status: status[pipeline.verify.onMismatch], ...counts, reportKey };
}

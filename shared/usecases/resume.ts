import { s3Commands } from '../aws/s3-commands.ts';
/**
 * Resumable runs. Plan saves each plan (its window and partitions) until a run verifies it;
 * Extract records each partition's cursor as its records reach the load queue. A run that
 * failed, timed out or was stopped leaves both behind, and the next run that starts from the
 * same checkpoint with the same pipeline definition takes that plan over: finished partitions
 * are skipped, unfinished ones resume after their cursor. The window stays the saved one, so
 * the checkpoint still moves only when the whole window has been loaded and verified.
 */
import { getJsonObject, putJsonObject } from '../aws/s3-json.ts';
import type { ChangeWindow, Cursor, Partition, SourceConnector } from '../connectors/types.ts';
import { windowStart } from '../domain/cursor.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { contentHash } from '../records/hash.ts';
import type { Checkpoint } from '../state/checkpoints.ts';
import { keys } from '../state/keys.ts';
import type { PartitionProgress } from '../state/progress.ts';
import type { Deps } from './deps.ts';

export interface RunPlan {
  readonly planId: string;
  readonly window: ChangeWindow;
  /** The partitions left to extract (finished ones of a resumed plan are left out). */
  readonly partitions: Partition[];
  /** Whether an unfinished earlier plan was taken over. */
  readonly resumed: boolean;
  /**
   * The earlier runs that extracted partitions of a resumed plan: their messages may still be
   * on the queue, and the window is loaded only once those are accounted for too.
   */
  readonly earlierRuns: string[];
}

/** What a saved plan depends on: where the window starts, and what the rows become. */
function planBasis(pipeline: Pipeline, checkpoint: Checkpoint | undefined): string {
  const { source, extract, transform, validation } = pipeline;
  return contentHash({
    checkpoint: checkpoint ? { cursor: checkpoint.cursor, updatedAt: checkpoint.updatedAt } : null,
    definition: { source, extract, transform, validation } as Record<string, unknown>,
  });
}

const readPartitions = (deps: Deps, key: string) =>
  getJsonObject<Partition[]>(deps.clients.s3, deps.config.dataBucket, key);

/**
 * The run's plan: the pipeline's unfinished plan when its basis still holds, otherwise a new
 * one (window `(checkpoint − lookback, high watermark]`, split by the source), saved for resuming.
 */
export async function planOrResume(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  source: SourceConnector,
): Promise<RunPlan> {
  const checkpoint = await deps.state.checkpoints.get(pipeline.name);
  const basis = planBasis(pipeline, checkpoint);
  const saved = await deps.state.progress.getPlan(pipeline.name);
  if (saved && saved.basis === basis) {
    const all = await readPartitions(deps, saved.partitionsKey);
    const progress = await deps.state.progress.listPartitions(pipeline.name, saved.planId);
    const finished = new Set(progress.filter((p) => p.done).map((p) => p.partitionId));
    const earlierRuns = new Set([saved.planId, ...progress.map((p) => p.runId)]);
    earlierRuns.delete(runId);
    await abandonUnsent(deps, pipeline.name, [...earlierRuns], progress);
    return {
      planId: saved.planId,
      window: saved.window,
      partitions: all.filter((p) => !finished.has(p.id)),
      resumed: true,
      earlierRuns: [...earlierRuns],
    };
  }
  const from = checkpoint?.cursor ? windowStart(checkpoint.cursor, pipeline.source.lookbackSeconds) : null;
  const window: ChangeWindow = { from, to: await source.currentHighWatermark() };
  const partitions = await source.planPartitions(window, pipeline.extract.partitions);
  const partitionsKey = `plans/${pipeline.name}/${runId}.json`;
  await putJsonObject(deps.clients.s3, deps.config.dataBucket, partitionsKey, partitions);
  await deps.state.progress.putPlan({
    pipeline: pipeline.name,
    planId: runId,
    basis,
    window,
    partitionsKey,
    partitionCount: partitions.length,
    createdAt: deps.now().toISOString(),
  });
  return { planId: runId, window, partitions, resumed: false, earlierRuns: [] };
}

/**
 * A stopped or killed Extract may have registered messages it never sent. Their rows lie beyond
 * their partition's recorded progress, so this run reads them again; the registrations are
 * abandoned, so that neither this run nor a later one waits for them until the stall timeout.
 */
async function abandonUnsent(
  deps: Deps,
  pipeline: string,
  earlierRuns: readonly string[],
  progress: readonly PartitionProgress[],
): Promise<void> {
  const reached = new Map(progress.map((p) => [p.partitionId, p.extracted]));
  for (const earlier of earlierRuns) {
    const abandoned = await deps.state.ledger.abandonUnsent(
      keys.ledgerScopeOfRun(earlier),
      (origin) => origin.upTo > (reached.get(origin.partition) ?? 0),
    );
    if (abandoned > 0)
      deps.log.info('abandoned messages an earlier run registered but never sent', {
        pipeline,
        runId: earlier,
        abandoned,
      });
  }
}

/**
 * Forgets a plan so no later run resumes it: its run verified, or Verify found the target
 * different (then the next run reads the window again rather than skip every partition).
 */
export async function forgetPlan(deps: Deps, pipeline: string, planId: string): Promise<void> {
  await deps.state.progress.finishPlan(pipeline, planId);
  const { DeleteObjectCommand } = await s3Commands();
  await deps.clients.s3.send(
    new DeleteObjectCommand({ Bucket: deps.config.dataBucket, Key: `plans/${pipeline}/${planId}.json` }),
  );
}

/** Where an Extract of one partition starts, and how it records what it has sent. */
export interface PartitionTracker {
  /** The partition was finished by an earlier Extract: nothing to read. */
  readonly finished: boolean;
  /** Read after this cursor (a continuation, or the partition's recorded progress). */
  readonly resumeAfter: Cursor | undefined;
  /** The rows of this partition already on the queue before this Extract. */
  readonly before: number;
  /** Records that every row up to `cursor` is on the queue, `extracted` rows by this Extract. */
  sent(cursor: Cursor, extracted: number): Promise<void>;
  finish(extracted: number): Promise<void>;
}

/**
 * The progress tracker of one partition of the run's plan. A run without a plan (one started
 * before plans were saved) tracks nothing and reads from the continuation alone.
 */
export async function trackPartition(
  deps: Deps,
  pipeline: string,
  run: { readonly runId: string; readonly planId?: string },
  partitionId: string,
  continuation: Cursor | undefined,
): Promise<PartitionTracker> {
  const { planId, runId } = run;
  const recorded = planId ? await deps.state.progress.getPartition(pipeline, planId, partitionId) : undefined;
  const before = recorded?.extracted ?? 0;
  let cursor = continuation ?? recorded?.cursor ?? undefined;
  const record = async (progress: Omit<PartitionProgress, 'partitionId' | 'runId'>) => {
    if (planId)
      await deps.state.progress.recordPartition(pipeline, planId, { ...progress, partitionId, runId });
  };
  return {
    finished: recorded?.done === true,
    resumeAfter: cursor,
    before,
    async sent(last, extracted) {
      cursor = last;
      await record({ cursor: last, extracted: before + extracted, done: false });
    },
    async finish(extracted) {
      await record({ cursor: cursor ?? null, extracted: before + extracted, done: true });
    },
  };
}

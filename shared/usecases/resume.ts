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
import { quarantineKey } from '../naming.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { contentHash } from '../records/hash.ts';
import type { Checkpoint } from '../state/checkpoints.ts';
import { keys } from '../state/keys.ts';
import { assertOwner, type PartitionProgress } from '../state/progress.ts';
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
    const { finished, reached, owners } = await takeOver(deps, pipeline.name, saved.planId, runId, all);
    const earlierRuns = new Set([saved.planId, ...owners]);
    earlierRuns.delete(runId);
    await abandonReadAgain(deps, pipeline.name, [...earlierRuns], reached);
    await dropSupersededQuarantine(deps, pipeline.name, [...earlierRuns]);
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

/** What a resuming run took over of a saved plan. */
interface TakenOver {
  /** Partitions finished before the claim: nothing to read. */
  readonly finished: ReadonlySet<string>;
  /** Rows of each partition on the queue as the run claimed it (or finished): the earlier runs count those. */
  readonly reached: ReadonlyMap<string, number>;
  /** The runs that owned partitions before. */
  readonly owners: readonly string[];
}

/** Partitions claimed at once: UpdateItem calls in flight while a resumed plan is taken over. */
const CLAIMS_IN_FLIGHT = 25;

/**
 * Claims every unfinished partition of the plan for `runId` before anything of an earlier run is
 * abandoned: an earlier run's Extract still running (StopExecution does not stop a Lambda
 * invocation) can then neither send nor record progress for it (progress.ts), so each claimed
 * partition's progress is the line between what the earlier runs count and what this run reads
 * again. A partition finished before its claim stays finished.
 */
async function takeOver(
  deps: Deps,
  pipeline: string,
  planId: string,
  runId: string,
  partitions: readonly Partition[],
): Promise<TakenOver> {
  const { progress } = deps.state;
  const listed = await progress.listPartitions(pipeline, planId);
  const done = listed.filter((p) => p.done);
  const finished = new Set(done.map((p) => p.partitionId));
  const reached = new Map(done.map((p) => [p.partitionId, p.extracted]));
  const owners = new Set(listed.map((p) => p.runId));
  const open = partitions.filter((p) => !finished.has(p.id));
  for (let i = 0; i < open.length; i += CLAIMS_IN_FLIGHT)
    await Promise.all(
      open.slice(i, i + CLAIMS_IN_FLIGHT).map(async ({ id }) => {
        const claim = await progress.claimPartition(pipeline, planId, id, runId);
        const taken = claim.finished ? await progress.getPartition(pipeline, planId, id) : claim.taken;
        if (claim.finished) finished.add(id);
        reached.set(id, taken?.extracted ?? 0);
        if (taken) owners.add(taken.runId);
      }),
    );
  return { finished, reached, owners: [...owners] };
}

/**
 * An earlier run's messages beyond its partition's claimed progress: registered and never sent
 * (a killed Extract), or sent before the claim by an Extract that could not record its progress
 * after it. This run reads their rows again, so they are abandoned: they count in no earlier
 * run, and neither this run nor a later one waits for them until the stall timeout.
 */
async function abandonReadAgain(
  deps: Deps,
  pipeline: string,
  earlierRuns: readonly string[],
  reached: ReadonlyMap<string, number>,
): Promise<void> {
  for (const earlier of earlierRuns) {
    const abandoned = await deps.state.ledger.abandonReadAgain(
      keys.ledgerScopeOfRun(earlier),
      (origin) => origin.upTo > (reached.get(origin.partition) ?? 0),
    );
    if (abandoned > 0)
      deps.log.info('abandoned messages of an earlier run whose rows this run reads again', {
        pipeline,
        runId: earlier,
        abandoned,
      });
  }
}

/**
 * Deletes the quarantine objects of the earlier runs' abandoned messages: their rows count in the
 * run that reads them again, which quarantines the rejected ones in objects of its own, so the
 * quarantine holds each rejected row once, under the ledger that counts it. A message Load still
 * works on as it is abandoned may write its object after this (kept, counted in no ledger).
 */
async function dropSupersededQuarantine(
  deps: Deps,
  pipeline: string,
  earlierRuns: readonly string[],
): Promise<void> {
  const { DeleteObjectsCommand } = await s3Commands();
  for (const earlier of earlierRuns) {
    const scope = keys.ledgerScopeOfRun(earlier);
    const messageKeys = await deps.state.ledger.abandonedWithRejects(scope);
    // DeleteObjects takes up to 1,000 keys; a key with no object is no error.
    for (let i = 0; i < messageKeys.length; i += 1000) {
      const objects = messageKeys.slice(i, i + 1000).map((messageKey) => ({
        Key: quarantineKey(pipeline, { scope, messageKey }),
      }));
      await deps.clients.s3.send(
        new DeleteObjectsCommand({
          Bucket: deps.config.dataBucket,
          Delete: { Objects: objects, Quiet: true },
        }),
      );
    }
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
  /**
   * Records that every row up to `cursor` is on the queue, `extracted` rows by this Extract.
   * @throws PartitionTakenOverError, as {@link confirmOwner}.
   */
  sent(cursor: Cursor, extracted: number): Promise<void>;
  finish(extracted: number): Promise<void>;
  /**
   * Checks, between registering messages and sending them, that this run still owns the
   * partition; none when the run has no plan.
   * @throws PartitionTakenOverError when a resuming run claimed it: its messages must not be sent.
   */
  readonly confirmOwner: (() => Promise<void>) | undefined;
}

/**
 * The progress tracker of one partition of the run's plan. A run without a plan (one started
 * before plans were saved) tracks nothing and reads from the continuation alone.
 * @throws PartitionTakenOverError when another run owns the unfinished partition (an Extract of
 * a stopped run started after a resuming run claimed it).
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
  if (recorded?.done !== true) assertOwner(recorded, runId);
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
    confirmOwner: planId
      ? () => deps.state.progress.confirmOwner(pipeline, planId, partitionId, runId)
      : undefined,
  };
}

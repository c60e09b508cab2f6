/**
 * A rerun of unchanged data need not send what an earlier run already loaded. Extract gives
 * each message a content digest (`contentDigest`: its records' key, operation, version and
 * content hash, and the pipeline's fingerprint) and registers it in the ledger. The last run
 * whose full Verify passed, while no run of the pipeline has ended otherwise since, vouches:
 * a message of a later run whose records that run packed alike and loaded clean with the same
 * digest is registered done, its records counted skipped as Load would count them, and is not
 * sent. Nothing is trusted without a check: the later run's own full Verify still compares every
 * key of its window with the target, so a target changed behind ESync's back since then fails
 * the run (or is repaired, with `verify.onMismatch: repair`), and a failed run forgets the
 * vouching run, so the next run sends every message.
 */
import type { Pipeline } from '../pipeline/schema.ts';
import { contentHash } from '../records/hash.ts';
import { keys } from '../state/keys.ts';
import type { RunRecord } from '../state/runs.ts';
import type { Deps } from './deps.ts';

/** What Extract needs to leave unsent the messages an earlier verified run loaded clean. */
export interface VouchingChain {
  /** The pipeline's {@link loadFingerprint}, part of every message's content digest. */
  readonly fingerprint: string;
  /**
   * The ledger scope of the last verified run.
   * @default - none: every message is sent, each registered with its digest for the next run
   */
  readonly scope?: string;
}

/**
 * The parts of a pipeline's definition that decide what its records write: the same rows under
 * another source reading, transform, validation, target, conflict rule or batching are other
 * changes, never vouched for by a run under the old definition.
 */
export function loadFingerprint(pipeline: Pipeline): string {
  const { source, extract, transform, validation, target, conflict, batch, schema } = pipeline;
  return contentHash({ source, extract, transform, validation, target, conflict, batch, schema });
}

/**
 * Whether a run of the pipeline may leave messages unsent: only when its own Verify compares
 * every key and does not let a difference pass with a warning.
 */
function mayLeaveUnsent(pipeline: Pipeline): boolean {
  return pipeline.verify.mode === 'full' && pipeline.verify.onMismatch !== 'warn';
}

/** The chain of a run of `pipeline` about to send messages; `undefined` when it may not leave any unsent. */
export async function vouchingChain(deps: Deps, pipeline: Pipeline): Promise<VouchingChain | undefined> {
  if (!mayLeaveUnsent(pipeline)) return undefined;
  const runId = await deps.state.checkpoints.verifiedRun(pipeline.name);
  return {
    fingerprint: loadFingerprint(pipeline),
    ...(runId ? { scope: keys.ledgerScopeOfRun(runId) } : {}),
  };
}

/**
 * At a run's end: a run whose full Verify passed vouches from now on for what it loaded clean;
 * any other ending (a Verify that warned or repaired, none at all) forgets the vouching run.
 * RecordFailure forgets it too ({@link forgetVerifiedRun}).
 */
export async function recordRunEnd(
  deps: Deps,
  pipeline: Pipeline,
  run: Pick<RunRecord, 'runId' | 'verify'>,
): Promise<void> {
  if (pipeline.verify.mode === 'full' && run.verify?.status === 'passed')
    await deps.state.checkpoints.setVerifiedRun(pipeline.name, run.runId, deps.now().toISOString());
  else await forgetVerifiedRun(deps, pipeline.name);
}

/** Whatever failed, the target may differ from the source: the next run sends every message. */
export async function forgetVerifiedRun(deps: Deps, pipeline: string): Promise<void> {
  await deps.state.checkpoints.forgetVerifiedRun(pipeline);
}

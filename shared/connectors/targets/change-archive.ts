import type { Pipeline } from '../../pipeline/schema.ts';
import type { ConnectorContext, TargetWrite, WriteOutcome } from '../types.ts';
import { archiveObjectOf } from './s3/lake-layout.ts';
import { S3Objects } from './s3/s3-objects.ts';
import { mapWithConcurrency } from './support/batch.ts';

/** Whether the pipeline's changes are archived for `esync history`: always by an s3 lake, else on request. */
export function keepsHistory(pipeline: Pick<Pipeline, 'target' | 'retention'>): boolean {
  return pipeline.target.type === 's3' || pipeline.retention.keepHistory;
}

/**
 * Archives the changes a target holds after a write, so that `esync history` can rebuild any
 * record as it was (layout in s3/lake-layout.ts; kept `retention.historyDays`, rounded up to
 * its tier, by the data bucket's lifecycle rules). The S3 lake target archives its own changes as it writes them;
 * every other target keeps only the current version, so its changes are archived here when the
 * pipeline sets `retention.keepHistory`.
 *
 * A change counts when the target applied it, and also when it reports it stale: after a crash
 * between the write and its archive, the redelivered message finds the write already there, and
 * archiving it then is what keeps the history whole. Objects are named by key and version, so
 * archiving a change twice rewrites the same object.
 * @throws the S3 error (transient ones retried first): the message is then redelivered.
 */
export async function archiveAppliedChanges(
  context: Pick<ConnectorContext, 'clients' | 'dataBucket' | 'retry'>,
  pipeline: Pipeline,
  writes: readonly TargetWrite[],
  outcomes: readonly WriteOutcome[],
): Promise<void> {
  if (pipeline.target.type === 's3' || !pipeline.retention.keepHistory) return;
  const held = new Set(
    outcomes.filter((o) => o.status === 'applied' || o.status === 'stale').map((o) => o.key),
  );
  const changes = writes.filter((w) => held.has(w.key));
  if (changes.length === 0) return;
  const objects = new S3Objects(context.clients.s3, context.retry);
  await mapWithConcurrency(changes, pipeline.load.writeConcurrency, async (write) => {
    const { key, body, tagging } = archiveObjectOf(pipeline, write);
    await objects.put(context.dataBucket, key, body, 'application/json', tagging);
  });
}

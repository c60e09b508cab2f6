import { compareChanges } from '../../../records/version.ts';
import type { TargetWrite, WriteOutcome } from '../../types.ts';

/**
 * Runs `task` over `items` with at most `limit` in flight, keeping results in input order.
 * Targets use it to parallelise single-record requests without flooding the server.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

/**
 * Splits a batch into the newest write per key and the writes it supersedes. Two writes of one
 * key in a batch cannot both be applied in one statement (PostgreSQL refuses to touch a row
 * twice) or in a reliable order (parallel requests), and the older one would be refused as
 * stale by the version gate anyway, so it is reported stale without being sent. Two writes of
 * one version are a tie, decided by content hash (`compareChanges`).
 */
export function newestPerKey(writes: readonly TargetWrite[]): {
  readonly winners: TargetWrite[];
  readonly superseded: TargetWrite[];
} {
  const newest = new Map<string, TargetWrite>();
  for (const write of writes) {
    const held = newest.get(write.key);
    if (!held || compareChanges(held, write) < 0) newest.set(write.key, write);
  }
  const winners: TargetWrite[] = [];
  const superseded: TargetWrite[] = [];
  for (const write of writes) (newest.get(write.key) === write ? winners : superseded).push(write);
  return { winners, superseded };
}

/**
 * Orders outcomes like the writes they answer. Every write gets exactly one outcome, so the load
 * path can count records; a write the target forgot to answer is reported as failed.
 */
export function outcomesInOrder(
  writes: readonly TargetWrite[],
  byWrite: ReadonlyMap<TargetWrite, WriteOutcome>,
): WriteOutcome[] {
  return writes.map(
    (write) =>
      byWrite.get(write) ?? {
        key: write.key,
        status: 'failed',
        error: new Error(`no outcome was recorded for key "${write.key}"`),
      },
  );
}

/** Splits `items` into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

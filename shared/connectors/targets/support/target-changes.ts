/**
 * Changes a split read of a target finds (see `SegmentedTargetRead`), reduced to what the target
 * holds now: the newest change per key by version, then by tie, as `compareChanges` orders them.
 */
import { createHash } from 'node:crypto';
import { compareChanges } from '../../../records/version.ts';
import type { TargetChange, TargetSnapshotRecord } from '../../types.ts';

/** Orders two changes of one key as every target decides between them. */
export function compareTargetChanges(a: TargetChange, b: TargetChange): number {
  return compareChanges({ version: a.version, hash: a.tie }, { version: b.version, hash: b.tie });
}

/** Keeps in `newest` the newest change of each key among `changes` and those it holds. */
export function keepNewest(newest: Map<string, TargetChange>, changes: Iterable<TargetChange>): void {
  for (const change of changes) {
    const held = newest.get(change.key);
    if (!held || compareTargetChanges(held, change) < 0) newest.set(change.key, change);
  }
}

/** The live records of the newest changes: those that are not deletes. */
export function liveRecordsOf(newest: ReadonlyMap<string, TargetChange>): TargetSnapshotRecord[] {
  const live: TargetSnapshotRecord[] = [];
  for (const { key, version, hash } of newest.values()) if (hash !== null) live.push({ key, version, hash });
  return live;
}

/** The segment of `total` an object (or any name) falls in, by a hash of its name. */
export function segmentOfName(name: string, total: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % total;
}

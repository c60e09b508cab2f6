/**
 * Hard deletes, found by Verify (`deletes.mode: verify`): the target's live keys that the source
 * no longer has, per partition of the key space. The target is read first and the source second,
 * so a key inserted meanwhile is never taken for a deleted one. The source is read only while
 * candidates are left, and then only the partition's key range of it (an index range scan).
 * Either read may span invocations: the candidates and both positions are what a search saves
 * between them (phases/6-verify-deletes.ts).
 */

import { keepNewest } from '../connectors/targets/support/target-changes.ts';
import type { Cursor, Partition, SourceConnector, TargetChange } from '../connectors/types.ts';
import { keysOfPage, recordKeyOf } from '../domain/record-key.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import { type Version, versionAfter } from '../records/version.ts';

/** Source partitions the key read goes over when the whole source is read for its keys. */
export const KEY_READ_PARTITIONS = 8;

/** Where a read of the source's keys stands: partition `part` of the list, after `cursor`. */
export interface KeyReadPosition {
  readonly part: number;
  readonly cursor: Cursor | null;
}

export class VanishedKeys {
  /**
   * The target's newest change of each key read so far (deletes too, while the target is read:
   * a lake's history may hold a key's delete before its write); once the target is read, its
   * live keys not seen in the source yet, each with the version the target holds.
   */
  readonly #changes: Map<string, TargetChange>;

  constructor(changes: Iterable<TargetChange> = []) {
    this.#changes = new Map();
    keepNewest(this.#changes, changes);
  }

  /** Adds changes read of the target: the newest of each key stays. */
  addTarget(changes: Iterable<TargetChange>): void {
    keepNewest(this.#changes, changes);
  }

  /** The target is read: the keys whose newest change is a delete are no candidates. */
  targetRead(): void {
    for (const [key, change] of this.#changes) if (change.hash === null) this.#changes.delete(key);
  }

  /** The source has this key (live or soft-deleted: the forward comparison handles those). */
  seen(key: string): void {
    this.#changes.delete(key);
  }

  /** Candidates held (or, before {@link targetRead}, keys read). */
  get size(): number {
    return this.#changes.size;
  }

  /** Candidates (or, before {@link targetRead}, changes) held: what a saved search holds. */
  changes(): TargetChange[] {
    return [...this.#changes.values()];
  }

  /** The candidates left, with the target's version of each: after the source's read, the keys it lacks. */
  candidates(): Map<string, Version> {
    return new Map([...this.#changes].map(([key, change]) => [key, change.version]));
  }

  /**
   * Reads the source's keys over all time, partition by partition of `parts` from `at`, striking
   * each key it has; stops after a page when `timeIsShort`, and returns where the read goes on
   * (nothing when it is done). A row the key expression fails on may be any candidate's: then
   * none is taken for deleted, and the read ends there.
   */
  async readSource(
    source: SourceConnector,
    pipeline: Pipeline,
    parts: readonly Partition[],
    at: KeyReadPosition,
    timeIsShort: () => boolean,
  ): Promise<KeyReadPosition | undefined> {
    const everything = { from: null, to: null };
    const keyOf = recordKeyOf(pipeline.source);
    for (let part = at.part; part < parts.length && this.#changes.size > 0; part++) {
      const after = part === at.part ? (at.cursor ?? undefined) : undefined;
      for await (const page of source.read(everything, parts[part] as Partition, after)) {
        for (const { key, keyError } of await keysOfPage(keyOf, page)) {
          if (keyError) {
            this.#changes.clear();
            return undefined;
          }
          this.seen(key);
        }
        const last = page[page.length - 1];
        if (last && timeIsShort()) return { part, cursor: last.cursor };
      }
    }
    return undefined;
  }
}

/**
 * The delete of a key the source no longer has. Its version sorts right after the one the target
 * holds, so it wins over that write and loses to any later change of the key (a re-insert).
 */
export function hardDeleteEnvelope(
  key: string,
  held: Version,
  provenance: { readonly pipeline: string; readonly runId: string },
  now: Date,
): RecordEnvelope {
  return makeEnvelope({
    key,
    op: 'delete',
    version: versionAfter(held),
    ts: now.toISOString(),
    data: null,
    provenance: { ...provenance },
  });
}

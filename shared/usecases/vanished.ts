/**
 * Hard deletes, found by Verify (`deletes.mode: verify`): the target's live keys that the source
 * no longer has, per partition of the key space. The target is read first and the source second,
 * so a key inserted meanwhile is never taken for a deleted one. The source is read only when
 * candidates are left, and then only the partition's key range of it (an index range scan).
 */
import type { Partition, SourceConnector, TargetSnapshotRecord } from '../connectors/types.ts';
import { keysOfPage, recordKeyOf } from '../domain/record-key.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import { type Version, versionAfter } from '../records/version.ts';

/** Source partitions read at once when the whole source is read for its keys. */
const KEY_READ_PARTITIONS = 8;

export class VanishedKeys {
  /** Live target keys not seen in the source yet, with the version the target holds. */
  readonly #candidates: Map<string, Version>;

  private constructor(candidates: Map<string, Version>) {
    this.#candidates = candidates;
  }

  /**
   * Reads the target's live records of the partition's keys: every one is a candidate until the
   * source shows it.
   */
  static async start(
    records: AsyncIterable<readonly TargetSnapshotRecord[]> | Iterable<readonly TargetSnapshotRecord[]>,
  ): Promise<VanishedKeys> {
    const candidates = new Map<string, Version>();
    for await (const page of records) for (const r of page) candidates.set(r.key, r.version);
    return new VanishedKeys(candidates);
  }

  /** The source has this key (live or soft-deleted: the forward comparison handles those). */
  seen(key: string): void {
    this.#candidates.delete(key);
  }

  /**
   * The candidates the source does not have at any time, with the target's version of each: the
   * source is read over all time, in `partition` when given (a key range), else whole. None when
   * the key expression failed on a source row, whose key is then unknown.
   */
  async finish(
    source: SourceConnector,
    pipeline: Pipeline,
    partition?: Partition,
  ): Promise<Map<string, Version>> {
    if (this.#candidates.size === 0) return this.#candidates;
    const everything = { from: null, to: null };
    const partitions = partition ? [partition] : await source.planPartitions(everything, KEY_READ_PARTITIONS);
    const keyOf = recordKeyOf(pipeline.source);
    let unkeyed = false;
    for (const partition of partitions)
      for await (const page of source.read(everything, partition))
        for (const { key, keyError } of await keysOfPage(keyOf, page)) {
          if (keyError) unkeyed = true;
          else this.seen(key);
        }
    // A row the key expression fails on may be any candidate's: none is taken for deleted.
    return unkeyed ? new Map() : this.#candidates;
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

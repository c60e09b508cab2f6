/**
 * Hard deletes, found by Verify (`deletes.mode: verify`): the target's live keys that the source
 * no longer has. The target is read first and the source second, so a key inserted meanwhile is
 * never taken for a deleted one. Keys the window pass of Verify sees are struck off as it goes;
 * the whole source is read again only when candidates are left (an incremental window sees few
 * keys, a first load all of them).
 */
import type { SourceConnector, TargetConnector } from '../connectors/types.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { buildKey, makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import { type Version, versionAfter } from '../records/version.ts';

/** Source partitions read at once when the whole source is read for its keys. */
const KEY_READ_PARTITIONS = 8;

export class VanishedKeys {
  /** Live target keys not seen in the source yet, with the version the target holds. */
  readonly #candidates: Map<string, Version>;

  private constructor(candidates: Map<string, Version>) {
    this.#candidates = candidates;
  }

  /** Reads the target's live keys: every one is a candidate until the source shows it. */
  static async start(target: TargetConnector): Promise<VanishedKeys> {
    const candidates = new Map<string, Version>();
    for await (const page of target.snapshot()) for (const r of page) candidates.set(r.key, r.version);
    return new VanishedKeys(candidates);
  }

  /** The source has this key (live or soft-deleted: the forward comparison handles those). */
  seen(key: string): void {
    this.#candidates.delete(key);
  }

  /** The keys the whole source does not have, with the target's version of each. */
  async finish(source: SourceConnector, pipeline: Pipeline): Promise<Map<string, Version>> {
    if (this.#candidates.size === 0) return this.#candidates;
    const everything = { from: null, to: null };
    const partitions = await source.planPartitions(everything, KEY_READ_PARTITIONS);
    for (const partition of partitions)
      for await (const page of source.read(everything, partition))
        for (const row of page) this.seen(buildKey(row.data, pipeline.source.key));
    return this.#candidates;
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

import type { SourceRereader, SourceRow, TargetState } from '../connectors/types.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { maxVersion, type Version, versionAfter } from '../records/version.ts';
import type { Log } from './deps.ts';

/**
 * Ties decided at the source. GitHub stamps whole seconds, so two changes of one issue within
 * a second (`milestoned` then `demilestoned`, `opened` then `edited`) carry one stamp, whichever
 * channel brought them (two deliveries, or a poll and a delivery). The version alone cannot say
 * which is later: for a source whose API answers for one record, an incoming change stamped the
 * same millisecond as the change the target holds, with other content, is replaced by the
 * record as the API shows it now, and that is loaded:
 *
 * - the API's record stamped later than the tie carries its own (poll) version;
 * - stamped at the tie's instant, it gets a version right after both tied ones (`versionAfter`),
 *   so it wins over both in every target; equal to what the target holds, it keeps the held
 *   version and content, and changes nothing;
 * - when the API cannot answer (gone, unreachable, rate limited past the retries, stamped
 *   earlier than the tie: a lagging replica), or its record is invalid, the change goes on
 *   unchanged and the version rule decides (`records/version.ts`: channel rank, then content hash).
 *
 * Each re-read is one API request, made only for such a tie. Deletes are never re-read.
 */

/** One change as Load prepared it: validated, transformed and hashed. */
export interface PreparedChange {
  record: RecordEnvelope;
  data: RecordData | null;
  hash: string;
}

/** The ties met at the source and how many the API decided. */
export interface SourceTies {
  /** Keys of the changes that met a tie at the source's instant (re-read or not). */
  readonly keys: ReadonlySet<string>;
  /** Of those, the ties decided by what the API says now. */
  readonly reread: number;
}

export interface SettleOptions {
  readonly rereader: SourceRereader | undefined;
  /** What the target holds per key (its state, or the S3 lake's newest change). */
  readonly held: ReadonlyMap<string, TargetState>;
  /** Validates and transforms source data as Load does; `undefined` when the data is invalid. */
  readonly prepare: (data: RecordData) => { data: RecordData; hash: string } | undefined;
  readonly log: Log;
}

/** Changes re-read at once: one API request each. */
const REREAD_CONCURRENCY = 4;

/** The instant of a `t:` version (`t:<iso>`), or `undefined` for other forms. */
function instantOf(version: Version): string | undefined {
  if (!version.startsWith('t:')) return undefined;
  const end = version.indexOf('|');
  return end < 0 ? version : version.slice(0, end);
}

/** An upsert stamped at the instant of the live change the target holds, with other content. */
function isSourceTie(change: PreparedChange, held: TargetState | undefined): held is TargetState {
  if (held === undefined || held.deleted || change.record.op !== 'upsert' || change.data === null)
    return false;
  const instant = instantOf(change.record.version);
  return instant !== undefined && instant === instantOf(held.version) && change.hash !== held.hash;
}

/**
 * Replaces each change in `prepared` that meets a tie at the source's instant by the record as
 * the source holds it now (see the module comment). Mutates `prepared`.
 */
export async function settleTiesAtSource(
  prepared: PreparedChange[],
  options: SettleOptions,
): Promise<SourceTies> {
  const ties = prepared.filter((p) => isSourceTie(p, options.held.get(p.record.key)));
  const keys = new Set(ties.map((p) => p.record.key));
  const { rereader } = options;
  if (rereader === undefined || ties.length === 0) return { keys, reread: 0 };
  let reread = 0;
  for (let i = 0; i < ties.length; i += REREAD_CONCURRENCY) {
    const settled = await Promise.all(
      ties.slice(i, i + REREAD_CONCURRENCY).map((p) => settleOne(p, rereader, options)),
    );
    reread += settled.filter(Boolean).length;
  }
  return { keys, reread };
}

/** Re-reads one tied change and puts what the source says in its place; false when it cannot. */
async function settleOne(
  change: PreparedChange,
  rereader: SourceRereader,
  options: SettleOptions,
): Promise<boolean> {
  const held = options.held.get(change.record.key) as TargetState;
  let row: SourceRow;
  try {
    row = await rereader.reread(change.record.data as RecordData);
  } catch (error) {
    options.log.warn('a version tie was not read again at the source; the version rule decides it', {
      pipeline: change.record.provenance.pipeline,
      error: (error as Error).name,
    });
    return false;
  }
  const prepared = options.prepare(row.data);
  const version = rereadVersion(row.version, maxVersion(change.record.version, held.version));
  if (prepared === undefined || version === undefined) return false;
  const same = prepared.hash === held.hash;
  change.record = makeEnvelope({
    key: change.record.key,
    op: 'upsert',
    version: same ? held.version : version,
    ts: row.ts,
    data: row.data,
    provenance: change.record.provenance,
  });
  change.data = prepared.data;
  change.hash = prepared.hash;
  return true;
}

/** The version of the record read again: its own when stamped later than the tie, else right after the tie. */
function rereadVersion(read: Version, tied: Version): Version | undefined {
  const readAt = instantOf(read);
  const tiedAt = instantOf(tied) as string;
  if (readAt === undefined || readAt < tiedAt) return undefined;
  return readAt > tiedAt ? read : versionAfter(tied);
}

import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ValidationError } from '../../../errors.ts';
import { historyTierTagging } from '../../../pipeline/history-tiers.ts';
import type { Pipeline } from '../../../pipeline/schema.ts';
import { stringifyExactJson } from '../../../records/exact-json.ts';
import { toIsoMillis, type VersionedChange } from '../../../records/version.ts';
import type { TargetWrite } from '../../types.ts';
import { toJsonRecord } from '../support/json-value.ts';

/**
 * Where the S3 lake target puts things.
 *
 * Lake (what analytics read): `<prefix><pipeline>/dt=YYYY-MM-DD/<message>-<digest>.jsonl`, one
 * object per (day, queue message) of a batch, one JSON line per change. `dt` is the day of the
 * change's `ts` (UTC), the partition column engines such as Athena prune on. The name is a
 * function of the batch's content, so a retried message rewrites the same object and a partial
 * retry (a subset of a message) writes another object instead of truncating the first.
 *
 * Readers take the newest change per key: the highest version, and at an equal version (a tie)
 * the higher `hash` (`compareChanges` in `records/version.ts`), as every other target does.
 *
 * Change archive (what `esync history` reads):
 * `archive/<pipeline>/<kh:2>/<kh>/<version-hex>.<hash>.json` in the ESync data bucket, one object
 * per change, where `kh` is a hash of the record key. The lake target writes it beside its lake
 * objects; Load writes it for every other target whose pipeline keeps history (change-archive.ts).
 * One key's history is one prefix to list;
 * the two-character level spreads keys over many prefixes; hex of the version, then the hash,
 * keep listing order equal to change order. Each object carries the tag of its pipeline's
 * history tier (`retention.historyDays` rounded up, history-tiers.ts), by which the data bucket's
 * lifecycle expires it.
 */

/** One line of a lake object, and the body of one archive object. */
export const lakeLineSchema = z.object({
  key: z.string(),
  op: z.enum(['upsert', 'delete']),
  version: z.string(),
  ts: z.string(),
  hash: z.string(),
  data: z.record(z.string(), z.unknown()).nullable(),
});

export type LakeLine = z.infer<typeof lakeLineSchema>;

export const ARCHIVE_ROOT = 'archive/';

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** The folder holding every lake object of a pipeline. */
export function lakeRoot(prefix: string, pipeline: string): string {
  return `${prefix}${pipeline}/`;
}

/** The UTC day (`YYYY-MM-DD`) a change belongs to. */
export function partitionDay(write: Pick<TargetWrite, 'key' | 'ts'>): string {
  try {
    return toIsoMillis(write.ts).slice(0, 10);
  } catch {
    throw new ValidationError(
      `s3 lake: key "${write.key}" has ts ${JSON.stringify(write.ts)}, not a timestamp`,
      [{ path: 'ts', message: 'not a timestamp' }],
    );
  }
}

/**
 * The object key of one (day, message) group. Message keys are used as they are when they are
 * plain names, hashed otherwise (a `/` would invent folders).
 */
export function lakeObjectKey(
  prefix: string,
  pipeline: string,
  day: string,
  messageKey: string,
  group: readonly TargetWrite[],
): string {
  const name = /^[A-Za-z0-9._=-]{1,200}$/.test(messageKey) ? messageKey : sha256Hex(messageKey).slice(0, 32);
  const digest = sha256Hex(group.map((w) => `${w.key}\u0000${w.version}\u0000${w.op}`).join('\n')).slice(
    0,
    12,
  );
  return `${lakeRoot(prefix, pipeline)}dt=${day}/${name}-${digest}.jsonl`;
}

/** The folder holding every archived change of one record key. */
export function archiveKeyPrefix(pipeline: string, key: string): string {
  const keyHash = sha256Hex(key).slice(0, 32);
  return `${ARCHIVE_ROOT}${pipeline}/${keyHash.slice(0, 2)}/${keyHash}/`;
}

/**
 * The archive object of one change: `<version as hex>.<content hash>.json`. Names sort as the
 * changes do (`compareChanges`): the hex keeps the versions' byte order, the `.` sorts below
 * every hex digit, and two changes of one version (a tie) are both kept, ordered by hash.
 */
export function archiveObjectKey(pipeline: string, key: string, change: VersionedChange): string {
  const version = Buffer.from(change.version, 'utf8').toString('hex');
  return `${archiveKeyPrefix(pipeline, key)}${version}.${change.hash}.json`;
}

/** The change an archive object holds, read from its name (the inverse of {@link archiveObjectKey}). */
export function archivedChangeOf(objectKey: string): VersionedChange {
  const match = /\/([0-9a-f]*)\.([^/]+)\.json$/.exec(objectKey);
  if (!match) throw new RangeError(`not an archive object key: "${objectKey}"`);
  return { version: Buffer.from(match[1] as string, 'hex').toString('utf8'), hash: match[2] as string };
}

/** A change as a lake line (and the body of its archive object, with its message key). */
export function lakeLineOf(write: TargetWrite): LakeLine {
  return {
    key: write.key,
    op: write.op,
    version: write.version,
    ts: write.ts,
    hash: write.hash,
    data: write.op === 'delete' || write.data === null ? null : toJsonRecord(write.data),
  };
}

/** An object to put: its key, its body and its tags. */
export interface ArchiveObject {
  readonly key: string;
  readonly body: string;
  /** The pipeline's history tier (history-tiers.ts), which the data bucket's lifecycle expires it by. */
  readonly tagging: string;
}

/** The archive object of one change: its key in the data bucket, its JSON body and its tier tag. */
export function archiveObjectOf(
  pipeline: Pick<Pipeline, 'name' | 'retention'>,
  write: TargetWrite,
): ArchiveObject {
  return {
    key: archiveObjectKey(pipeline.name, write.key, write),
    body: stringifyExactJson({ ...lakeLineOf(write), messageKey: write.messageKey }),
    tagging: historyTierTagging(pipeline.retention.historyDays),
  };
}

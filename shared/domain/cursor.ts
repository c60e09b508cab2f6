/**
 * Incremental cursors: where a batch read stopped, and how a row's cursor becomes the
 * version that orders its changes.
 *
 * Why the cursor is composite (values, then key). Many rows share one `updated_at` (a bulk
 * update stamps thousands with the same instant). A read pages through them with a limit,
 * and a page may end in the middle of such a group. Resuming "after updated_at = T" would
 * skip the rest of the group; resuming "at or after T" would re-read all of it on every
 * page, and never end if the group is larger than a page. Ordering by (values, key) and
 * resuming strictly after the last (values, key) read visits each row exactly once.
 *
 * Why a lookback. A transaction stamps `updated_at` when it writes, but its rows become
 * visible only when it commits. A long transaction can therefore commit rows whose cursor
 * is older than a checkpoint another run already advanced past, and a strictly-after read
 * would never see them. {@link windowStart} moves the start of the next window back by the
 * pipeline's `lookbackSeconds` so such late commits are picked up. The rows re-read this
 * way are harmless: their version is the one the target already holds, so the load path
 * skips them as unchanged (see `decide.ts`). Choose a lookback longer than the longest
 * transaction that writes the source table.
 */

import { ValidationError } from '../errors.ts';
import type { Cursor } from '../records/cursor.ts';
import type { RecordData } from '../records/envelope.ts';
import { isExactNumber } from '../records/exact-json.ts';
import { type Channel, positionVersion, timestampVersion, type Version } from '../records/version.ts';
import { compileFieldPath } from './field-path.ts';
import {
  addSeconds,
  compareInstants,
  formatInstant,
  fractionDigitsOf,
  type Instant,
  instantFromDate,
  parseIsoInstant,
} from './instant.ts';
import { compareCodePoints } from './key-range.ts';

/** A cursor value: a JSON scalar, timestamps as ISO-8601 strings. */
export type CursorValue = Cursor['values'][number];

const INTEGER_TEXT = /^-?\d+$/;

function compareIntegers(a: CursorValue, b: CursorValue): number {
  // BigInt keeps 64-bit sequence numbers (carried as strings) exact.
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

type Classified =
  | { readonly rank: 0; readonly integral: boolean }
  | { readonly rank: 1; readonly instant: Instant }
  | { readonly rank: 2 };

function classify(value: CursorValue): Classified {
  if (typeof value === 'number') return { rank: 0, integral: Number.isInteger(value) };
  if (INTEGER_TEXT.test(value)) return { rank: 0, integral: true };
  const instant = parseIsoInstant(value);
  return instant === undefined ? { rank: 2 } : { rank: 1, instant };
}

/**
 * Orders two values of one cursor position: numbers numerically; integers (numbers or
 * digit strings, so `"10"` follows `"9"`) exactly, beyond 2^53 too; ISO-8601 timestamps as
 * instants (so `…00Z` equals `…00.000Z` and microseconds count); other strings by code
 * point, as `COLLATE "C"` does. Values of different kinds (which one cursor position
 * should not mix) order numbers before timestamps before other text, keeping the order total.
 */
export function compareCursorValues(a: CursorValue, b: CursorValue): number {
  if (a === b) return 0;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  const x = classify(a);
  const y = classify(b);
  if (x.rank !== y.rank) return x.rank - y.rank;
  if (x.rank === 0 && y.rank === 0) {
    if (x.integral && y.integral) return compareIntegers(a, b);
    const m = Number(a);
    const n = Number(b);
    return m < n ? -1 : m > n ? 1 : 0;
  }
  if (x.rank === 1 && y.rank === 1) return compareInstants(x.instant, y.instant);
  return compareCodePoints(String(a), String(b));
}

/** An integer as drivers print it: no leading zeros nor "-0", so "09" and "9" stay two text keys. */
const CANONICAL_INTEGER = /^(0|-?[1-9]\d*)$/;

/**
 * Orders two record keys part by part (composite parts are joined by `#`), canonical integer
 * parts as integers, others by code point: the order key ranges are cut and read in (integer
 * key columns, text by `COLLATE "C"` or UTF-8 bytes, enums by label; see `key-range.ts`), so a
 * cursor's key tie-break agrees with it. Two different keys never compare equal.
 */
export function compareCursorKeys(a: string, b: string): number {
  if (a === b) return 0;
  const x = a.split('#');
  const y = b.split('#');
  const common = Math.min(x.length, y.length);
  for (let i = 0; i < common; i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p === q) continue;
    const integers = CANONICAL_INTEGER.test(p) && CANONICAL_INTEGER.test(q);
    return integers ? compareIntegers(p, q) : compareCodePoints(p, q);
  }
  return x.length - y.length;
}

/**
 * Orders two composite cursors: by their values position by position, then by key. A
 * cursor with fewer values sorts first when the shared positions are equal.
 */
export function compareCursors(a: Cursor, b: Cursor): number {
  const common = Math.min(a.values.length, b.values.length);
  for (let i = 0; i < common; i++) {
    const order = compareCursorValues(a.values[i] as CursorValue, b.values[i] as CursorValue);
    if (order !== 0) return order;
  }
  if (a.values.length !== b.values.length) return a.values.length - b.values.length;
  return compareCursorKeys(a.key, b.key);
}

/**
 * The checkpoint after seeing `record`: the greater of the two, so rows read out of order
 * (parallel partitions, retried pages) never move a checkpoint backwards.
 */
export function advanceCursor(checkpoint: Cursor | null, record: Cursor): Cursor {
  if (checkpoint === null) return record;
  return compareCursors(record, checkpoint) > 0 ? record : checkpoint;
}

/**
 * Where the next window starts: the checkpoint with its first value moved back by
 * `lookbackSeconds` when that value is an ISO-8601 timestamp (keeping its sub-second
 * precision, in UTC), and its key emptied so every row at the moved-back instant falls
 * after it. Later values are kept. Numeric cursors (sequences, positions, LSNs) are not
 * moved: they have no unit of time, and position-ordered sources commit in position order.
 * @throws RangeError when `lookbackSeconds` is not a non-negative integer.
 */
export function windowStart(checkpoint: Cursor | null, lookbackSeconds: number): Cursor | null {
  if (!Number.isInteger(lookbackSeconds) || lookbackSeconds < 0)
    throw new RangeError(`lookbackSeconds must be a non-negative integer, got ${lookbackSeconds}`);
  if (checkpoint === null || lookbackSeconds === 0) return checkpoint;
  const [first, ...rest] = checkpoint.values;
  if (typeof first !== 'string') return checkpoint;
  const instant = parseIsoInstant(first);
  if (instant === undefined) return checkpoint;
  const moved = formatInstant(addSeconds(instant, -lookbackSeconds), fractionDigitsOf(first));
  return { values: [moved, ...rest], key: '' };
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`cursor field "${field}" ${message}`, [{ path: field, message }]);
}

function readCursorField(data: Readonly<RecordData>, field: string): unknown {
  const value = compileFieldPath(field)(data);
  if (value === undefined || value === null) throw invalid(field, 'is missing or null');
  return value;
}

/**
 * The cursor of a source row: its cursor field values as JSON scalars (a `Date` as ISO-8601,
 * a bigint as a number when exact, else as a digit string) and its key.
 * @throws ValidationError naming the field when a value is missing, null or not a scalar.
 */
export function cursorFromRow(
  data: Readonly<RecordData>,
  cursorFields: readonly string[],
  key: string,
): Cursor {
  const values = cursorFields.map((field): CursorValue => {
    const value = readCursorField(data, field);
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    // Integers beyond 2^53 travel as digit strings, which compareCursorValues orders exactly.
    if (isExactNumber(value)) return value.value;
    if (typeof value === 'bigint')
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    throw invalid(field, `holds a value that cannot be a cursor (${typeof value})`);
  });
  return { values, key };
}

function asInstant(value: unknown): Instant | undefined {
  if (value instanceof Date) return instantFromDate(value);
  return typeof value === 'string' ? parseIsoInstant(value) : undefined;
}

function asPosition(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'bigint' && value >= 0n) return value.toString();
  if (typeof value === 'string' && /^\d+$/.test(value)) return value;
  return undefined;
}

/** A later cursor value in a form whose text order is its value order, for a timestamp version's tie-break. */
function sortableTieBreak(value: unknown, field: string): string {
  const position = asPosition(value);
  if (position !== undefined) return position.padStart(20, '0');
  const instant = asInstant(value);
  if (instant !== undefined) return formatInstant(instant, 9);
  if (typeof value === 'string') return value;
  throw invalid(field, `holds a value that cannot order versions (${typeof value})`);
}

/**
 * The version of a source row (see `records/version.ts`), from its cursor:
 * - a timestamp first cursor field (a `Date` or ISO-8601 string) gives
 *   `timestampVersion(ts, key, channel)` (polling, or a webhook's entity timestamp); later cursor fields, if any, go before the key in the
 *   tie-break. Versions keep milliseconds: two changes of one key within one millisecond
 *   (or within one second, for second-precision columns) share a version, and the load
 *   path keeps the first it applies until the row changes again;
 * - a non-negative integer first cursor field (number, bigint, digit string: sequences,
 *   LSNs, binlog offsets) gives `positionVersion(value)`, with a second integer cursor
 *   field as the sub-position;
 * - no cursor fields: `fallback`, which the caller derives from what it has (e.g. the
 *   change time of a webhook delivery).
 * @throws ValidationError naming the field when a cursor value is missing or cannot order
 * versions, or when there is no cursor and no fallback.
 */
export function versionFromRow(
  data: Readonly<RecordData>,
  cursorFields: readonly string[],
  key: string,
  fallback?: Version,
  channel: Channel = 'poll',
): Version {
  const [firstField, ...restFields] = cursorFields;
  if (firstField === undefined) {
    if (fallback === undefined)
      throw new ValidationError('the source has no cursor fields and no fallback version was given', [
        { path: 'cursor', message: 'no cursor and no fallback version' },
      ]);
    return fallback;
  }
  const first = readCursorField(data, firstField);
  const instant = asInstant(first);
  if (instant !== undefined) {
    const millis = instant.epochSeconds * 1000 + Math.floor(instant.nanos / 1_000_000);
    const tieBreak = restFields.map((field) => sortableTieBreak(readCursorField(data, field), field));
    tieBreak.push(key);
    return timestampVersion(millis, tieBreak.join('|'), channel);
  }
  const position = asPosition(first);
  if (position === undefined)
    throw invalid(firstField, `is neither a timestamp nor a non-negative integer (${typeof first})`);
  const [subField, ...extra] = restFields;
  if (extra.length > 0)
    throw invalid(
      extra[0] as string,
      'is a third cursor field; a position version has at most a sub-position',
    );
  let sub: string | undefined;
  if (subField !== undefined) {
    sub = asPosition(readCursorField(data, subField));
    if (sub === undefined)
      throw invalid(subField, 'must be a non-negative integer to serve as a sub-position');
  }
  try {
    return positionVersion(position, sub);
  } catch (error) {
    throw invalid(firstField, (error as Error).message);
  }
}

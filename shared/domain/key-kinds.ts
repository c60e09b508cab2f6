/**
 * How a key column's values order when key ranges are cut on a decimal, floating point,
 * timestamp, date or bytes column. Such values arrive as text (or a number) whose text order is
 * not their order ("10.5" < "9", ".5Z" vs ".123456Z", "0044-03-15 BC", base64 "/w==" < "AA=="),
 * so they are compared as what they stand for, exactly as the database orders the column.
 */
import Big from 'big.js';
import { isCanonicalBase64 } from '../records/base64.ts';

/** Kinds of key column compared as the values they stand for, not as their text. */
export type TypedKeyKind = 'decimal' | 'float' | 'timestamp' | 'date' | 'bytes';

/** A value placed on its kind's line: `rank` orders the specials around the finite `value`s. */
interface Placed<T> {
  readonly rank: number;
  readonly value?: T;
}

/** PostgreSQL orders numeric `-Infinity` < numbers < `Infinity` < `NaN`. */
const DECIMAL_SPECIALS: Readonly<Record<string, number>> = { '-Infinity': 0, Infinity: 2, NaN: 3 };
/** PostgreSQL orders `-infinity` before every timestamp or date and `infinity` after. */
const TIME_SPECIALS: Readonly<Record<string, number>> = { '-infinity': 0, infinity: 2 };

function decimalOf(part: string | number): Placed<Big> | undefined {
  const text = String(part);
  const special = DECIMAL_SPECIALS[text];
  if (special !== undefined) return { rank: special };
  try {
    return { rank: 1, value: new Big(text) };
  } catch {
    return undefined;
  }
}

/** `YYYY-MM-DD`, more year digits past 9999, ` BC` before year 1 (PostgreSQL), zero parts (MySQL). */
const DATE_TEXT = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;

function dateOf(part: string | number): Placed<bigint> | undefined {
  const text = String(part);
  const special = TIME_SPECIALS[text];
  if (special !== undefined) return { rank: special };
  const m = DATE_TEXT.exec(text);
  if (!m) return undefined;
  // 1 BC is year 0, 2 BC year -1: the proleptic astronomical year, in order.
  const year = m[4] ? 1n - BigInt(m[1] as string) : BigInt(m[1] as string);
  return { rank: 1, value: year * 10_000n + BigInt(`${m[2]}${m[3]}`) };
}

/**
 * A timestamp as ESync reads it (ISO-8601 UTC, `2026-01-01T00:00:00.123456Z`) or as the
 * database prints what that cannot hold (PostgreSQL's `0044-03-15 12:00:00 BC`, years past
 * 9999; MySQL's zero `0000-00-00 00:00:00`), in UTC or without an offset.
 */
const TIMESTAMP_TEXT =
  /^(\d{4,}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]00(?::?00)?)?( BC)?$/;

/** A timestamp as (day, nanosecond of the day), which orders it: days as {@link dateOf} does. */
function timestampOf(part: string | number): Placed<readonly [bigint, bigint]> | undefined {
  const text = String(part);
  const special = TIME_SPECIALS[text];
  if (special !== undefined) return { rank: special };
  const m = TIMESTAMP_TEXT.exec(text);
  const day = m && dateOf(`${m[1]}${m[6] ?? ''}`);
  if (!m || day?.value === undefined) return undefined;
  const seconds = BigInt(Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]));
  return { rank: 1, value: [day.value, seconds * 1_000_000_000n + BigInt((m[5] ?? '').padEnd(9, '0'))] };
}

const bytesOf = (part: string | number): Buffer | undefined =>
  isCanonicalBase64(part) ? Buffer.from(part, 'base64') : undefined;

const compareBigInts = (m: bigint, n: bigint) => (m === n ? 0 : m < n ? -1 : 1);

function comparePlaced<T>(a: Placed<T>, b: Placed<T>, compare: (x: T, y: T) => number): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.value === undefined || b.value === undefined ? 0 : compare(a.value, b.value);
}

function compareDecimals(a: string | number, b: string | number): number | undefined {
  const [x, y] = [decimalOf(a), decimalOf(b)];
  return x && y ? comparePlaced(x, y, (m, n) => m.cmp(n)) : undefined;
}

const ORDERS: {
  readonly [K in TypedKeyKind]: (a: string | number, b: string | number) => number | undefined;
} = {
  decimal: compareDecimals,
  /**
   * Floating point keys are read as the shortest text that parses back to the stored value
   * (PostgreSQL's real and double precision, MySQL's DOUBLE), and the shortest texts of two
   * floats order as the floats do; NaN and the infinities order as PostgreSQL's do for numeric.
   */
  float: compareDecimals,
  timestamp: (a, b) => {
    const [x, y] = [timestampOf(a), timestampOf(b)];
    return x && y
      ? comparePlaced(x, y, (m, n) => compareBigInts(m[0], n[0]) || compareBigInts(m[1], n[1]))
      : undefined;
  },
  date: (a, b) => {
    const [x, y] = [dateOf(a), dateOf(b)];
    return x && y ? comparePlaced(x, y, compareBigInts) : undefined;
  },
  /** bytea and VARBINARY order byte by byte, a prefix first: as `Buffer.compare` does. */
  bytes: (a, b) => {
    const [x, y] = [bytesOf(a), bytesOf(b)];
    return x && y ? Buffer.compare(x, y) : undefined;
  },
};

/**
 * Orders two values of a typed key column as the database does; `undefined` when either is not
 * a value of that kind as ESync reads it (a timestamp printed with an offset other than UTC),
 * which ranges on that column then cannot place.
 */
export function compareTyped(kind: TypedKeyKind, a: string | number, b: string | number): number | undefined {
  return ORDERS[kind](a, b);
}

/** Whether a value read from a typed key column can be placed in key ranges on it. */
export const isPlaceable = (kind: TypedKeyKind, part: string | number): boolean =>
  compareTyped(kind, part, part) !== undefined;

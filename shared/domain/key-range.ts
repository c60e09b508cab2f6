/**
 * Key-range partitions. A plan picks boundary keys from the source in key order (the key of
 * every n-th row, or of every n-th object) and cuts the key space at them:
 * `(-∞, b1], (b1, b2], …, (bk, +∞)`. The ranges meet at the boundaries, so together they hold
 * every key, including keys written after planning, and each key lies in exactly one of them.
 * Each range is read by an index range scan on the key, so a partition costs its own rows only.
 */
import { ConnectorError } from '../errors.ts';
import { compareTyped, type TypedKeyKind } from './key-kinds.ts';

/** One key column's value in a boundary: a JSON scalar, as the source returns it. */
export type KeyPart = string | number;
/** The values of the key columns of one row, in key column order. */
export type KeyTuple = readonly KeyPart[];

/**
 * How a key column's values compare: `integer` exactly (beyond 2^53 too), `text` by code point,
 * and the typed kinds as the values they stand for (see `key-kinds.ts`).
 */
export type KeyKind = 'integer' | 'text' | TypedKeyKind;
const KEY_KINDS: ReadonlySet<string> = new Set<KeyKind>([
  'integer',
  'text',
  'decimal',
  'float',
  'timestamp',
  'date',
  'bytes',
]);

/** The keys `after < key <= upTo`; `null` leaves that side open. */
export interface KeyRange {
  readonly after: KeyTuple | null;
  readonly upTo: KeyTuple | null;
  /**
   * How each key column compares (the SQL sources give it). Absent (the S3 source's object
   * names): numbers, and integer text beyond 2^53, as integers; other text by code point.
   */
  readonly kinds?: readonly KeyKind[];
}

/** An integer written as text: canonical (no leading zeros), as drivers give 64-bit keys. */
const INTEGER_TEXT = /^-?(0|[1-9]\d*)$/;

/**
 * Integer key columns beyond 2^53 arrive as canonical integer text; any other text is a text
 * key and orders by code point, so "09" and "9" stay two keys. A text column of long canonical
 * digit strings would be read as integers, which only matters for keys beyond 2^53 on both sides.
 */
function asBigInt(part: KeyPart, other: KeyPart): bigint | undefined {
  if (typeof part === 'number') return Number.isInteger(part) ? BigInt(part) : undefined;
  if (!INTEGER_TEXT.test(part)) return undefined;
  const n = BigInt(part);
  const beyondSafe = n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER);
  return beyondSafe || typeof other === 'number' ? n : undefined;
}

const isSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;

/**
 * Orders text by code point, as PostgreSQL's "C" collation and MySQL's `utf8mb4_bin` do (UTF-8
 * byte order). JavaScript's `<` compares UTF-16 code units, where a character beyond U+FFFF
 * (a surrogate pair) sorts below U+E000–U+FFFF (fullwidth forms, private use).
 */
export function compareCodePoints(x: string, y: string): number {
  const common = Math.min(x.length, y.length);
  for (let i = 0; i < common; i++) {
    const a = x.charCodeAt(i);
    const b = y.charCodeAt(i);
    if (a === b) continue;
    if (isSurrogate(a) !== isSurrogate(b)) return isSurrogate(a) ? 1 : -1;
    return a < b ? -1 : 1;
  }
  return x.length - y.length;
}

function compareByKind(kind: KeyKind, a: KeyPart, b: KeyPart): number | undefined {
  if (kind === 'integer') {
    if (!INTEGER_TEXT.test(String(a)) || !INTEGER_TEXT.test(String(b))) return undefined;
    const [m, n] = [BigInt(a), BigInt(b)];
    return m === n ? 0 : m < n ? -1 : 1;
  }
  if (kind === 'text') return compareCodePoints(String(a), String(b));
  return compareTyped(kind, a, b);
}

function comparePart(a: KeyPart, b: KeyPart, kind?: KeyKind): number {
  if (a === b) return 0;
  const typed = kind === undefined ? undefined : compareByKind(kind, a, b);
  if (typed !== undefined) return typed;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : 1;
  const m = asBigInt(a, b);
  const n = m === undefined ? undefined : asBigInt(b, a);
  if (m !== undefined && n !== undefined) return m === n ? 0 : m < n ? -1 : 1;
  return compareCodePoints(String(a), String(b));
}

/**
 * Orders key tuples column by column, as the SQL sources order key ranges: each column by its
 * kind when `kinds` are given; else integers exactly (beyond 2^53 too) and other values by code
 * point (`COLLATE "C"`, `utf8mb4_bin`). A value its kind cannot read compares by code point.
 */
export function compareKeyTuples(a: KeyTuple, b: KeyTuple, kinds?: readonly KeyKind[]): number {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) {
    const order = comparePart(a[i] as KeyPart, b[i] as KeyPart, kinds?.[i]);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

/**
 * The 1-based positions, in key order, of the last row of every part but the last when
 * `total` rows are cut into `parts` parts of nearly equal size (sizes differ by at most one).
 */
export function boundaryPositions(total: number, parts: number): number[] {
  const count = Math.min(Math.max(1, Math.trunc(parts)), Math.max(1, Math.trunc(total)));
  return Array.from({ length: count - 1 }, (_, i) => Math.ceil(((i + 1) * total) / count));
}

/**
 * The ranges cut at `boundaries` (ascending, as read in key order; repeats, such as equal
 * values printed alike or not, `1.5` and `1.50`, are dropped), compared by `kinds` when given.
 */
export function rangesFromBoundaries(
  boundaries: readonly KeyTuple[],
  kinds?: readonly KeyKind[],
): KeyRange[] {
  const cuts: KeyTuple[] = [];
  for (const boundary of boundaries) {
    const last = cuts[cuts.length - 1];
    if (last && compareKeyTuples(last, boundary, kinds) >= 0) continue;
    cuts.push(boundary);
  }
  return [...cuts, null].map((upTo, i) => ({
    after: i === 0 ? null : (cuts[i - 1] as KeyTuple),
    upTo,
    ...(kinds && { kinds }),
  }));
}

/** Whether `key` lies in `range`, by {@link compareKeyTuples} under the range's kinds. */
export function inKeyRange(key: KeyTuple, range: KeyRange): boolean {
  if (range.after && compareKeyTuples(key, range.after, range.kinds) <= 0) return false;
  return !range.upTo || compareKeyTuples(key, range.upTo, range.kinds) <= 0;
}

/** A key range as a partition spec (`{range: {after, upTo}}`), with an id naming its place in the plan. */
export function keyRangePartitions(ranges: readonly KeyRange[]): {
  id: string;
  spec: { range: KeyRange };
}[] {
  return ranges.map((range, i) => ({ id: `range-${i + 1}-of-${ranges.length}`, spec: { range } }));
}

function isTuple(value: unknown, width: number): value is KeyTuple {
  return (
    Array.isArray(value) &&
    value.length === width &&
    value.every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))
  );
}

function areKinds(value: unknown, width: number): value is KeyKind[] {
  return Array.isArray(value) && value.length === width && value.every((k) => KEY_KINDS.has(k));
}

/**
 * The key range of a partition spec, `undefined` for the whole window (`{}`).
 * @throws ConnectorError naming the partition when the spec is not a range of `width` key columns.
 */
export function parseKeyRange(
  partition: { readonly id: string; readonly spec: Readonly<Record<string, unknown>> },
  width: number,
  connector: string,
): KeyRange | undefined {
  if (Object.keys(partition.spec).length === 0) return undefined;
  const range = partition.spec.range as { after?: unknown; upTo?: unknown; kinds?: unknown } | undefined;
  if (
    range &&
    typeof range === 'object' &&
    (range.after === null || isTuple(range.after, width)) &&
    (range.upTo === null || isTuple(range.upTo, width)) &&
    (range.kinds === undefined || areKinds(range.kinds, width))
  )
    return { after: range.after, upTo: range.upTo, ...(range.kinds !== undefined && { kinds: range.kinds }) };
  throw new ConnectorError(
    connector,
    `partition "${partition.id}" has a spec this source does not plan (a key range of ${width} column(s) is expected): ${JSON.stringify(partition.spec)}`,
  );
}

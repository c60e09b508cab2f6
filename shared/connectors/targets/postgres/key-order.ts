/**
 * How the PostgreSQL target pages through its keys and, for Verify, reads one key range of them
 * (`WHERE key > after AND key <= upTo`) in the order `domain/key-range.ts` compares keys in:
 * integers as integers, text by code point (`COLLATE "C"`, the order the SQL sources cut their
 * ranges in), a numeric, real / double precision, timestamp or date key column by value, its
 * bounds cast to its own type, as the sources compare them, and a bytea key column byte by byte,
 * its bounds decoded from base64, so the key's index serves the range.
 * A jsonb table's text key is compared by value through guarded casts (see `JSONB_KEY_READS`).
 * A range it cannot express exactly in SQL (a bound its column's type would not accept, a key
 * column of another type than the range's kind, a composite or bytes range over a jsonb table)
 * is not applied: the whole table is read and the caller keeps the keys of the range, so a range
 * read never leaves a key out.
 */
import { compareTyped, type TypedKeyKind } from '../../../domain/key-kinds.ts';
import type { KeyKind, KeyPart, KeyRange, KeyTuple } from '../../../domain/key-range.ts';
import { quoteIdent } from './connection.ts';

/** A key column as the catalog describes it: name and `format_type()`. */
export interface KeyColumn {
  readonly name: string;
  readonly type: string;
}

/** The ORDER BY expressions of the key and, when the range could be written, its predicate. */
export interface KeyOrder {
  /** SQL expressions ordering the key, one per key column. */
  readonly order: readonly string[];
  /** The parameter cast of each key column, for a page bound. */
  readonly casts: readonly string[];
  /** `after < key <= upTo` over {@link order}, its parameters starting at `$first`; absent: no range. */
  readonly range?: (first: number) => { readonly sql: string; readonly params: readonly KeyPart[] };
}

const INTEGER_TYPE = /^(smallint|integer|bigint)$/;
/** Text types that compare by their collation alone (character(n) pads, so it is left out). */
const TEXT_TYPE = /^(text|character varying(\(\d+\))?)$/;
const INTEGER_TEXT = /^-?(0|[1-9]\d*)$/;

/** A bound part `compareKeyTuples` compares as an integer: a number, or digits beyond 2^53. */
function integral(part: KeyPart): boolean {
  if (typeof part === 'number') return Number.isInteger(part);
  if (!INTEGER_TEXT.test(part)) return false;
  const n = BigInt(part);
  return n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER);
}

const boundParts = (range: KeyRange, i: number): KeyPart[] =>
  [range.after, range.upTo].flatMap((tuple) => (tuple ? [tuple[i] as KeyPart] : []));

/** Whether the range compares its `i`-th column as `kind` (a range without kinds: as its values read). */
const comparesAs = (range: KeyRange, i: number, kind: KeyKind) => (range.kinds?.[i] ?? kind) === kind;

/**
 * Column types compared by value as the typed kinds compare, each with the type its bounds are
 * cast to: the column's own, without a precision that would round a bound (numeric(20, 4)).
 */
const TYPED_COLUMNS: readonly {
  readonly kind: TypedKeyKind;
  readonly type: RegExp;
  readonly cast: (type: string) => string;
}[] = [
  { kind: 'decimal', type: /^numeric(\(\d+(,\d+)?\))?$/, cast: () => 'numeric' },
  { kind: 'float', type: /^(real|double precision)$/, cast: (type) => type },
  {
    kind: 'timestamp',
    type: /^timestamp(\(\d\))? with(out)? time zone$/,
    cast: (type) => (type.endsWith('with time zone') ? 'timestamptz' : 'timestamp'),
  },
  { kind: 'date', type: /^date$/, cast: () => 'date' },
  { kind: 'bytes', type: /^bytea$/, cast: () => 'bytea' },
];

/** A date PostgreSQL accepts: year 1 or later (BC or AD), a real day of its month. */
function realDate(year: string, month: string, day: string): boolean {
  const [y, m, d] = [Number(year), Number(month), Number(day)];
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] ?? 0;
  return y >= 1 && d >= 1 && d <= days;
}

const DATE_BOUND = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;
/** As the sources read timestamps: UTC, to the microsecond at most (PostgreSQL rounds beyond). */
const TIMESTAMP_BOUND = /^(\d{4,})-(\d{2})-(\d{2})[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]00(:?00)?)?( BC)?$/;
const NON_FINITE_FLOAT: ReadonlySet<string> = new Set(['NaN', 'Infinity', '-Infinity']);

/**
 * Whether a bound of a typed range casts to its column's type without an error and keeps its
 * value: a MySQL source's zero date, numeric's infinities (PostgreSQL 14 and later only) and
 * nanoseconds are left to the whole read.
 */
function castable(kind: TypedKeyKind, part: KeyPart): boolean {
  if (compareTyped(kind, part, part) === undefined) return false;
  if (kind === 'bytes') return true;
  const text = String(part);
  if (kind === 'decimal') return !/Infinity/.test(text);
  if (kind === 'float') return NON_FINITE_FLOAT.has(text) || Number.isFinite(Number(text));
  if (/^-?infinity$/.test(text)) return true;
  const m = (kind === 'date' ? DATE_BOUND : TIMESTAMP_BOUND).exec(text);
  return m !== null && realDate(m[1] as string, m[2] as string, m[3] as string);
}

/** A key column as a range compares it: its ordering expression and the cast of its bounds. */
interface RangeColumn {
  readonly expression: string;
  readonly cast: string;
}

function rangeColumn(column: KeyColumn, range: KeyRange, i: number): RangeColumn | undefined {
  const expression = quoteIdent(column.name);
  const parts = boundParts(range, i);
  if (INTEGER_TYPE.test(column.type) && comparesAs(range, i, 'integer'))
    return parts.every((p) => INTEGER_TEXT.test(String(p))) ? { expression, cast: column.type } : undefined;
  if (TEXT_TYPE.test(column.type) && comparesAs(range, i, 'text'))
    return parts.some(integral) && !range.kinds
      ? undefined
      : { expression: `${expression} COLLATE "C"`, cast: column.type };
  const typed = TYPED_COLUMNS.find((t) => range.kinds?.[i] === t.kind && t.type.test(column.type));
  if (!typed || !parts.every((p) => castable(typed.kind, p))) return undefined;
  return { expression, cast: typed.cast(column.type) };
}

/** The columns as `range` compares them, if SQL can compare each as compareKeyTuples does. */
function rangeColumns(columns: readonly KeyColumn[], range: KeyRange): RangeColumn[] | undefined {
  const compared = columns.map((c, i) => rangeColumn(c, range, i));
  return compared.every((c) => c !== undefined) ? compared : undefined;
}

/** A jsonb table's joined key (one text column) read as a value of a kind: the texts it takes, and its type. */
interface JsonbKeyRead {
  /** The keys this reads (a POSIX regular expression), so that no cast fails. */
  readonly pattern: string;
  readonly cast: string;
  /** Whether a bound of a range is a value of the cast. */
  readonly bound: (part: KeyPart) => boolean;
}

const INTEGER_KEY = '^-?[0-9]+$';
/**
 * Decimal text, as decimal and float keys are read (floats as their shortest text, so numeric
 * orders them as the doubles they stand for), exponents within what numeric holds.
 */
const NUMBER_KEY = '^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]{1,4})?$';
/** ISO-8601 UTC as the sources write timestamps; timestamp (without zone) reads it as UTC. */
const TIMESTAMP_KEY =
  '^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?Z$';
/** Four-digit-year dates order as their text (an invalid one too, as `key-kinds.ts` compares it). */
const DATE_KEY = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';
const numberBound = (part: KeyPart) => new RegExp(NUMBER_KEY).test(String(part)) || part === 'NaN';

/**
 * How a jsonb table's key is compared for a range of each kind other than text: keys its pattern
 * takes by value (`"key"::numeric`, `::timestamp`; dates as text), any other key kept for the
 * caller to judge (NaN, infinities, BC, five-digit years). No index serves the cast: the server
 * filters the table, and only the range's rows come back.
 */
const JSONB_KEY_READS: Readonly<Partial<Record<KeyKind, JsonbKeyRead>>> = {
  integer: { pattern: INTEGER_KEY, cast: 'numeric', bound: (part) => INTEGER_TEXT.test(String(part)) },
  decimal: { pattern: NUMBER_KEY, cast: 'numeric', bound: numberBound },
  float: { pattern: NUMBER_KEY, cast: 'numeric', bound: numberBound },
  timestamp: { pattern: TIMESTAMP_KEY, cast: 'timestamp', bound: (part) => castable('timestamp', part) },
  date: { pattern: DATE_KEY, cast: 'text', bound: (part) => new RegExp(DATE_KEY).test(String(part)) },
};

/** The range over a jsonb table's key read as `kind`, or none when a bound is not of its cast. */
function jsonbRange(kind: KeyKind, range: KeyRange): KeyOrder['range'] {
  const read = JSONB_KEY_READS[kind];
  if (!read || !boundParts(range, 0).every(read.bound)) return undefined;
  const cast = read.cast === 'text' ? '"key"' : `"key"::${read.cast}`;
  const value = `(CASE WHEN "key" ~ '${read.pattern}' THEN ${cast} END)`;
  const order = read.cast === 'text' ? `${value} COLLATE "C"` : value;
  return rangeOver([order], [read.cast], range, `${value} IS NULL`);
}

/**
 * The `index`-th parameter as a value of type `cast`: a bytea key travels as its base64, as the
 * sources read it and as record keys hold it, so it is decoded rather than cast.
 */
const parameterAs = (cast: string | undefined, index: number) =>
  cast === 'bytea' ? `decode($${index}, 'base64')` : `$${index}::${cast}`;

/** `order op tuple`, its parameters from `$first`. */
export function comparison(
  expressions: readonly string[],
  casts: readonly string[],
  op: '>' | '<=',
  tuple: KeyTuple,
  first: number,
) {
  const params = expressions.map((_, i) => parameterAs(casts[i], first + i));
  const left = expressions.length === 1 ? expressions[0] : `(${expressions.join(', ')})`;
  const right = params.length === 1 ? params[0] : `(${params.join(', ')})`;
  return { sql: `${left} ${op} ${right}`, params: tuple.map((p) => String(p)) };
}

function rangeOver(expressions: readonly string[], casts: readonly string[], range: KeyRange, guard = '') {
  return (first: number) => {
    const sql: string[] = [];
    const params: KeyPart[] = [];
    for (const [tuple, op] of [
      [range.after, '>'],
      [range.upTo, '<='],
    ] as const) {
      if (!tuple) continue;
      const part = comparison(expressions, casts, op, tuple, first + params.length);
      sql.push(part.sql);
      params.push(...part.params);
    }
    const predicate = sql.length === 0 ? 'TRUE' : sql.join(' AND ');
    return { sql: guard ? `(${guard} OR (${predicate}))` : `(${predicate})`, params };
  };
}

/**
 * The key order of a target table and, given a range of the pipeline's `width` key columns,
 * its predicate. `jsonb` tables keep the joined key in one text column: a one-column key's
 * range is read there (text by code point, other kinds through guarded casts); a composite one
 * is not.
 */
export function keyOrderOf(
  columns: readonly KeyColumn[],
  options: { readonly jsonb: boolean; readonly width: number; readonly range?: KeyRange },
): KeyOrder {
  const casts = columns.map((c) => c.type);
  const native: KeyOrder = { order: columns.map((c) => quoteIdent(c.name)), casts };
  const { range } = options;
  if (!range) return native;
  if (options.jsonb) {
    if (options.width !== 1) return native;
    const kind = range.kinds?.[0] ?? (boundParts(range, 0).some(integral) ? 'integer' : 'text');
    if (kind !== 'text') {
      const typed = jsonbRange(kind, range);
      return typed ? { ...native, range: typed } : native;
    }
    const order = ['"key" COLLATE "C"'];
    return { order, casts, range: rangeOver(order, casts, range) };
  }
  const compared = rangeColumns(columns, range);
  if (!compared) return native;
  const order = compared.map((c) => c.expression);
  return {
    order,
    casts,
    range: rangeOver(
      order,
      compared.map((c) => c.cast),
      range,
    ),
  };
}

/**
 * How the PostgreSQL target pages through its keys and, for Verify, reads one key range of them
 * (`WHERE key > after AND key <= upTo`) in the order `domain/key-range.ts` compares keys in:
 * integers as integers, text by code point (`COLLATE "C"`, the order the SQL sources cut their
 * ranges in). A range it cannot express exactly in SQL (decimals, timestamps and dates, which
 * ranges compare by value, or a key column of another type than the range's kind) is not
 * applied: the whole table is read and the caller keeps the keys of the range, so a range read
 * never leaves a key out.
 */
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

/** The columns' ordering expressions under which `range` compares as compareKeyTuples does, if any. */
function rangeExpressions(columns: readonly KeyColumn[], range: KeyRange): string[] | undefined {
  const expressions = columns.map((c, i) => {
    const quoted = quoteIdent(c.name);
    const parts = boundParts(range, i);
    if (INTEGER_TYPE.test(c.type) && comparesAs(range, i, 'integer'))
      return parts.every((p) => INTEGER_TEXT.test(String(p))) ? quoted : undefined;
    if (TEXT_TYPE.test(c.type) && comparesAs(range, i, 'text'))
      return parts.some(integral) && !range.kinds ? undefined : `${quoted} COLLATE "C"`;
    return undefined;
  });
  return expressions.every((e) => e !== undefined) ? expressions : undefined;
}

/**
 * The joined key of a jsonb table (one text column) holding the integers of a one-column integer
 * key: compared as numbers, with any key that is not integer text kept for the caller to judge.
 * No index serves the cast: the server filters the table, and only the range's rows come back.
 */
const JSONB_INTEGER_KEY = `(CASE WHEN "key" ~ '^-?[0-9]+$' THEN "key"::numeric END)`;

/** `order op tuple`, its parameters from `$first`. */
export function comparison(
  expressions: readonly string[],
  casts: readonly string[],
  op: '>' | '<=',
  tuple: KeyTuple,
  first: number,
) {
  const params = expressions.map((_, i) => `$${first + i}::${casts[i]}`);
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
 * range is read there (text by code point, integers through a cast); a composite one is not.
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
    if (options.width !== 1 || !(comparesAs(range, 0, 'integer') || comparesAs(range, 0, 'text')))
      return native;
    const numeric = range.kinds ? range.kinds[0] === 'integer' : boundParts(range, 0).some(integral);
    if (numeric)
      return {
        ...native,
        range: rangeOver([JSONB_INTEGER_KEY], ['numeric'], range, `${JSONB_INTEGER_KEY} IS NULL`),
      };
    const order = ['"key" COLLATE "C"'];
    return { order, casts, range: rangeOver(order, casts, range) };
  }
  const expressions = rangeExpressions(columns, range);
  if (!expressions) return native;
  return { order: expressions, casts, range: rangeOver(expressions, casts, range) };
}

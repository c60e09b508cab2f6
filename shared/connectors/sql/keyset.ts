/**
 * Keyset ("seek") pagination over a table ordered by its composite cursor: the pipeline's
 * cursor columns, then the key columns as the tie-break. A page starts strictly after the
 * last row of the previous one, so rows sharing a cursor value across a page boundary are
 * neither skipped nor read twice, and every page costs one index range scan however deep
 * the read goes (unlike OFFSET).
 */
import type { KeyRange, KeyTuple } from '../../domain/key-range.ts';
import type { Cursor } from '../types.ts';

/** What a column holds, as far as binding and comparing cursor values needs to know. */
export type ColumnKind =
  | 'timestamp'
  | 'date'
  | 'integer'
  | 'decimal'
  | 'float'
  /** A single-precision float (MySQL's FLOAT), compared in the database as the double it widens to. */
  | 'single'
  | 'boolean'
  | 'text'
  | 'bytes'
  | 'other';

export interface KeysetColumn {
  readonly name: string;
  readonly kind: ColumnKind;
  /**
   * The SQL expression that orders this column by code point, where the column's own
   * collation orders text otherwise (linguistic or case-insensitive): key ranges are cut and
   * read in that order, the one `domain/key-range.ts` compares keys in.
   * @default - the quoted column, whose own order is code point order
   */
  readonly byCodePoint?: string;
  /**
   * The SQL expression that reads the column's stored value exactly, where the column itself
   * reads otherwise (MariaDB prints a FLOAT to six digits: `CAST(k AS DOUBLE)` reads it whole).
   * @default - the quoted column
   */
  readonly readAs?: string;
}

/** A column as selected: through {@link KeysetColumn.readAs} when it has one, under its own name. */
export const selectColumn = (dialect: SqlDialect, column: KeysetColumn) => {
  const quoted = dialect.quote(column.name);
  return column.readAs ? `${column.readAs} AS ${quoted}` : quoted;
};

/** A key column as key ranges compare and order it: by code point. */
const keyOrderOf = (dialect: SqlDialect, column: KeysetColumn) =>
  column.byCodePoint ?? dialect.quote(column.name);

/** What differs between SQL databases in the queries this module writes. */
export interface SqlDialect {
  quote(identifier: string): string;
  /** The placeholder of the `index`-th parameter (1-based): `$1` or `?`. */
  placeholder(index: number): string;
  /**
   * Whether row-value comparisons `(a, b) > ($1, $2)` are planned as an index range.
   * PostgreSQL does; MySQL plans the expanded `a > ? OR (a = ? AND b > ?)` form better.
   */
  readonly rowValues: boolean;
  /** The parameter value for a cursor value compared with a column of this kind. */
  bindValue(kind: ColumnKind, value: string | number): unknown;
}

export interface KeysetQuery {
  /** Quoted, qualified table name. */
  readonly table: string;
  /** Quoted column list, or every column. */
  readonly select: readonly string[] | '*';
  readonly cursor: readonly KeysetColumn[];
  readonly key: readonly KeysetColumn[];
  /** Exclusive lower bounds, all applied (window start, resume point). */
  readonly after: readonly Cursor[];
  /** Inclusive upper bound (window end). */
  readonly upTo: Cursor | null;
  /** Only the keys of this range (a partition), read by a range scan of the key's index. */
  readonly range?: KeyRange;
  readonly limit?: number;
  /** @default 'asc'; 'none' leaves the order to the database (counting). */
  readonly direction?: 'asc' | 'desc' | 'none';
  /**
   * @default 'cursor': by (cursor columns, key columns). 'key': by the key columns alone, the
   * order of a key-range partition, which pages through its range of the key's index.
   */
  readonly orderBy?: 'cursor' | 'key';
}

export interface Statement {
  readonly text: string;
  readonly params: unknown[];
}

/** A cursor's key split back into the values of the key columns. */
export function splitKey(key: string, parts: number): string[] {
  if (parts === 1) return [key];
  const split = key.split('#');
  if (split.length < parts)
    throw new RangeError(`cursor key "${key}" has fewer than ${parts} parts separated by #`);
  // Only the last key column may itself contain '#': the earlier parts are the first fields.
  return [...split.slice(0, parts - 1), split.slice(parts - 1).join('#')];
}

class Params {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: SqlDialect) {}
  add(value: unknown): string {
    this.values.push(value);
    return this.dialect.placeholder(this.values.length);
  }
}

type Op = '>' | '>=' | '<' | '<=';

/** `columns op values` in lexicographic order; `expression` writes a column (by default quoted). */
function compareTuple(
  dialect: SqlDialect,
  params: Params,
  columns: readonly KeysetColumn[],
  values: readonly (string | number)[],
  op: Op,
  expression: (column: KeysetColumn) => string = (c) => dialect.quote(c.name),
): string {
  if (columns.length === 0) return op === '>=' || op === '<=' ? '1 = 1' : '1 = 0';
  const bound = columns.map((c, i) => ({
    column: expression(c),
    value: dialect.bindValue(c.kind, values[i] as string | number),
  }));
  if (dialect.rowValues || bound.length === 1) {
    const left = bound.map((b) => b.column).join(', ');
    const right = bound.map((b) => params.add(b.value)).join(', ');
    return bound.length === 1 ? `${left} ${op} ${right}` : `(${left}) ${op} (${right})`;
  }
  const strict = op === '>=' ? '>' : op === '<=' ? '<' : op;
  const build = (i: number): string => {
    const b = bound[i] as { column: string; value: unknown };
    if (i === bound.length - 1) return `${b.column} ${op} ${params.add(b.value)}`;
    return `(${b.column} ${strict} ${params.add(b.value)} OR (${b.column} = ${params.add(b.value)} AND ${build(i + 1)}))`;
  };
  return build(0);
}

/**
 * The predicate "row cursor > bound" (or <= for an upper bound). An empty key in a bound
 * stands below every real key (window starts moved back by the lookback have one), so it
 * compares on the cursor columns alone: `>=` for a lower bound, `<` for an upper one.
 */
function boundPredicate(
  dialect: SqlDialect,
  params: Params,
  query: Pick<KeysetQuery, 'cursor' | 'key'>,
  bound: Cursor,
  side: 'lower' | 'upper',
): string {
  if (bound.values.length !== query.cursor.length)
    throw new RangeError(
      `a cursor with ${bound.values.length} value(s) cannot bound a read by ${query.cursor.length} cursor column(s) (${query.cursor.map((c) => c.name).join(', ') || 'none'}); was the pipeline's cursor changed? Reset its checkpoint.`,
    );
  if (bound.key === '')
    return compareTuple(dialect, params, query.cursor, bound.values, side === 'lower' ? '>=' : '<');
  const values = [...bound.values, ...splitKey(bound.key, query.key.length)];
  return compareTuple(
    dialect,
    params,
    [...query.cursor, ...query.key],
    values,
    side === 'lower' ? '>' : '<=',
  );
}

function wherePredicates(dialect: SqlDialect, params: Params, query: KeysetQuery): string[] {
  const where = query.cursor.map((c) => `${dialect.quote(c.name)} IS NOT NULL`);
  for (const bound of query.after) where.push(boundPredicate(dialect, params, query, bound, 'lower'));
  if (query.upTo) where.push(boundPredicate(dialect, params, query, query.upTo, 'upper'));
  const keyBound = (tuple: KeyTuple, op: Op) => {
    if (tuple.length !== query.key.length)
      throw new RangeError(
        `a key range bound with ${tuple.length} value(s) cannot bound ${query.key.length} key column(s) (${query.key.map((k) => k.name).join(', ')})`,
      );
    where.push(compareTuple(dialect, params, query.key, tuple, op, (c) => keyOrderOf(dialect, c)));
  };
  if (query.range?.after) keyBound(query.range.after, '>');
  if (query.range?.upTo) keyBound(query.range.upTo, '<=');
  return where;
}

/** One keyset page: the rows of the window after the bounds, in composite cursor order. */
export function keysetSelect(dialect: SqlDialect, query: KeysetQuery): Statement {
  const params = new Params(dialect);
  const where = wherePredicates(dialect, params, query);
  const direction = query.direction === 'desc' ? ' DESC' : '';
  const ordered =
    query.orderBy === 'key'
      ? query.key.map((c) => keyOrderOf(dialect, c))
      : [...query.cursor, ...query.key].map((c) => dialect.quote(c.name));
  const order = query.direction === 'none' ? '' : ordered.map((c) => `${c}${direction}`).join(', ');
  const select = query.select === '*' ? '*' : query.select.join(', ');
  const text = [
    `SELECT ${select} FROM ${query.table}`,
    where.length > 0 ? `WHERE ${where.join(' AND ')}` : '',
    order ? `ORDER BY ${order}` : '',
    query.limit === undefined ? '' : `LIMIT ${Math.trunc(query.limit)}`,
  ]
    .filter(Boolean)
    .join(' ');
  return { text, params: params.values };
}

type WindowQuery = Omit<KeysetQuery, 'limit' | 'select' | 'direction' | 'orderBy'>;

/**
 * Counts the rows of a window, stopping at `cap` when given so a huge window costs no more
 * than `cap` rows.
 */
export function keysetCount(dialect: SqlDialect, query: WindowQuery, cap?: number): Statement {
  const inner = keysetSelect(dialect, {
    ...query,
    select: ['1 AS one'],
    direction: 'none',
    ...(cap === undefined ? {} : { limit: cap }),
  });
  return { text: `SELECT COUNT(*) AS n FROM (${inner.text}) AS windowed`, params: inner.params };
}

/**
 * The key columns of the window's rows at the given 1-based positions in key order: the
 * boundaries of key-range partitions, numbered by one pass over the key's index.
 */
export function keysetKeysAt(
  dialect: SqlDialect,
  query: WindowQuery,
  positions: readonly number[],
): Statement {
  const keys = query.key.map((k) => dialect.quote(k.name)).join(', ');
  const order = query.key.map((k) => keyOrderOf(dialect, k)).join(', ');
  const numbered = keysetSelect(dialect, {
    ...query,
    select: [
      ...query.key.map((k) => selectColumn(dialect, k)),
      `ROW_NUMBER() OVER (ORDER BY ${order}) AS esync_position`,
    ],
    direction: 'none',
  });
  const wanted = positions.map((p) => {
    if (!Number.isSafeInteger(p) || p < 1) throw new RangeError(`not a row position: ${p}`);
    return String(p);
  });
  return {
    text: `SELECT ${keys} FROM (${numbered.text}) AS numbered WHERE esync_position IN (${wanted.join(', ')}) ORDER BY esync_position`,
    params: numbered.params,
  };
}

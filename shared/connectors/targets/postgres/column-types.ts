/**
 * Column types for schema evolution (`schema.onDrift: evolve`): the PostgreSQL column a new
 * source column gets, and whether a column of one type stores every value of another, following
 * the type mapping (`records/type-mapping.ts`, docs/type-mapping.md).
 */

/** PostgreSQL types a PostgreSQL source column keeps in the target as they are (`format_type` text). */
const POSTGRES_BUILT_IN =
  /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?|real|double precision|boolean|text|character varying(\(\d+\))?|character(\(\d+\))?|uuid|jsonb?|bytea|date|time(\(\d\))? with(out)? time zone|timestamp(\(\d\))? with(out)? time zone)(\[\])*$/;

/** MySQL / MariaDB `COLUMN_TYPE` text to the PostgreSQL type that stores its canonical value. */
const MYSQL_TYPES: readonly (readonly [RegExp, (m: RegExpMatchArray) => string])[] = [
  // TINYINT(1), MySQL's BOOLEAN, reads as 0 / 1: a boolean column would hold another value than the source's.
  [/^tinyint/, () => 'smallint'],
  [/^smallint.*unsigned/, () => 'integer'],
  [/^smallint/, () => 'smallint'],
  [/^mediumint/, () => 'integer'],
  [/^int.*unsigned/, () => 'bigint'],
  [/^int/, () => 'integer'],
  [/^bigint.*unsigned/, () => 'numeric(20,0)'],
  [/^bigint/, () => 'bigint'],
  [/^bit/, () => 'numeric(20,0)'],
  [/^decimal\((\d+),(\d+)\)/, (m) => `numeric(${m[1]},${m[2]})`],
  [/^float/, () => 'real'],
  [/^double/, () => 'double precision'],
  [/^varchar\((\d+)\)/, (m) => `character varying(${m[1]})`],
  [/^(char|enum|set|tinytext|text|mediumtext|longtext)/, () => 'text'],
  [/^(binary|varbinary|tinyblob|blob|mediumblob|longblob)/, () => 'bytea'],
  [/^json/, () => 'jsonb'],
  [/^date$/, () => 'date'],
  [/^time(\((\d)\))?$/, (m) => `time(${m[2] ?? 0}) without time zone`],
  [/^datetime(\((\d)\))?$/, (m) => `timestamp(${m[2] ?? 0}) without time zone`],
  [/^timestamp(\((\d)\))?$/, (m) => `timestamp(${m[2] ?? 0}) with time zone`],
  [/^year/, () => 'smallint'],
];

/**
 * The PostgreSQL column type for a new source column of `type` from a `source` connector: a
 * PostgreSQL built-in stays itself, another PostgreSQL type (an enum, a domain, citext) becomes
 * text (its canonical value is its text), a MySQL type maps as docs/type-mapping.md says.
 * Anything else is `jsonb`, which holds every canonical value.
 */
export function postgresColumnFor(source: string, type: string): string {
  const t = type.toLowerCase().trim();
  if (source === 'postgres') return POSTGRES_BUILT_IN.test(t) ? t : t.endsWith('[]') ? 'jsonb' : 'text';
  if (source === 'mysql')
    for (const [pattern, map] of MYSQL_TYPES) {
      const match = t.match(pattern);
      if (match) return map(match);
    }
  return 'jsonb';
}

const INTEGER_DIGITS: Readonly<Record<string, number>> = { smallint: 5, integer: 10, bigint: 19 };
const TEXT_LIKE = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|uuid)$/;

interface Numeric {
  readonly integerDigits: number;
  readonly scale: number;
}

/** Digits before and after the point a type holds; `Infinity` for unconstrained numeric. */
function numericOf(type: string): Numeric | undefined {
  const digits = INTEGER_DIGITS[type];
  if (digits !== undefined) return { integerDigits: digits, scale: 0 };
  if (type === 'numeric') return { integerDigits: Number.POSITIVE_INFINITY, scale: Number.POSITIVE_INFINITY };
  const m = type.match(/^numeric\((\d+)(?:,(\d+))?\)$/);
  if (!m) return undefined;
  const scale = Number(m[2] ?? 0);
  return { integerDigits: Number(m[1]) - scale, scale };
}

/** Characters a text type holds; `Infinity` when unbounded. */
function textLength(type: string): number {
  const m = type.match(/\((\d+)\)$/);
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

function timestampOf(type: string): { zone: boolean; precision: number } | undefined {
  const m = type.match(/^timestamp(?:\((\d)\))? with(out)? time zone$/);
  return m ? { zone: m[2] === undefined, precision: Number(m[1] ?? 6) } : undefined;
}

/**
 * Whether a PostgreSQL column of type `column` stores every value of a column of type `type`
 * exactly (both as `format_type` prints them): the same type, a wider one of the same kind
 * (integers and numerics by their digits, text by its length, timestamps by their precision,
 * real in double precision), text for uuid, or json/jsonb for anything.
 */
export function columnHolds(column: string, type: string): boolean {
  if (column === type || /^jsonb?$/.test(column)) return true;
  if (TEXT_LIKE.test(column) && TEXT_LIKE.test(type)) {
    if (column.startsWith('uuid')) return false;
    return type.startsWith('uuid') ? textLength(column) >= 36 : textLength(column) >= textLength(type);
  }
  const [wide, narrow] = [numericOf(column), numericOf(type)];
  if (wide && narrow) return wide.integerDigits >= narrow.integerDigits && wide.scale >= narrow.scale;
  if (column === 'double precision') return type === 'real' || type === 'smallint' || type === 'integer';
  if (column === 'real') return type === 'smallint';
  const [outer, inner] = [timestampOf(column), timestampOf(type)];
  return (
    outer !== undefined &&
    inner !== undefined &&
    outer.zone === inner.zone &&
    outer.precision >= inner.precision
  );
}

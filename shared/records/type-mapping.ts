/**
 * The type mapping: how each source type becomes a canonical record value, and how each target
 * stores that value. The source side is implemented by `connectors/sql/pg-values.ts`,
 * `connectors/sql/mysql-values.ts` and `exact-json.ts`, the target side by
 * `targets/support/json-value.ts`, `targets/dynamodb/marshal.ts` and
 * `targets/postgres/column-values.ts`. docs/type-mapping.md is rendered from this table, and the
 * type-fidelity matrix test checks every row against the real sources and targets.
 */

/** The JSON kind of a canonical value; it decides the DynamoDB attribute type and the lake's JSON type. */
export type CanonicalKind = 'number' | 'string' | 'boolean' | 'array' | 'object' | 'json';

export interface TypeMappingRow {
  /** Stable id the matrix test refers to. */
  readonly id: string;
  readonly source: 'PostgreSQL' | 'MySQL / MariaDB' | 'JSON' | 'Debezium CDC';
  readonly types: string;
  readonly kind: CanonicalKind;
  /** The canonical value in the record, in words. */
  readonly canonical: string;
  /** A PostgreSQL target column that stores it exactly. */
  readonly postgresColumn: string;
}

/** DynamoDB attribute type and S3 lake JSON type by canonical kind. */
export const KIND_STORAGE: Readonly<Record<CanonicalKind, { dynamodb: string; lake: string }>> = {
  number: { dynamodb: 'N', lake: 'number' },
  string: { dynamodb: 'S', lake: 'string' },
  boolean: { dynamodb: 'BOOL', lake: 'boolean' },
  array: { dynamodb: 'L', lake: 'array' },
  object: { dynamodb: 'M', lake: 'object' },
  json: { dynamodb: 'by JSON type (N, S, BOOL, L, M, NULL)', lake: 'as is' },
};

export const TYPE_MAPPING: readonly TypeMappingRow[] = [
  {
    id: 'pg-integer',
    source: 'PostgreSQL',
    types: 'smallint, integer',
    kind: 'number',
    canonical: 'number',
    postgresColumn: 'smallint, integer, bigint, numeric',
  },
  {
    id: 'pg-bigint',
    source: 'PostgreSQL',
    types: 'bigint',
    kind: 'number',
    canonical: 'exact number (beyond 2^53 kept as its literal)',
    postgresColumn: 'bigint, numeric',
  },
  {
    id: 'pg-numeric',
    source: 'PostgreSQL',
    types: 'numeric, numeric(p,s)',
    kind: 'number',
    canonical: 'exact number, every digit (trailing zeros of the scale are not significant)',
    postgresColumn: 'numeric',
  },
  {
    id: 'pg-float',
    source: 'PostgreSQL',
    types: 'real, double precision',
    kind: 'number',
    canonical: 'number as PostgreSQL prints it (shortest exact text)',
    postgresColumn: 'real, double precision (the same type)',
  },
  {
    id: 'pg-non-finite',
    source: 'PostgreSQL',
    types: 'real, double precision, numeric: NaN, Infinity, -Infinity',
    kind: 'string',
    canonical: 'the string "NaN", "Infinity" or "-Infinity"',
    postgresColumn: 'real, double precision, numeric',
  },
  {
    id: 'pg-boolean',
    source: 'PostgreSQL',
    types: 'boolean',
    kind: 'boolean',
    canonical: 'true / false',
    postgresColumn: 'boolean',
  },
  {
    id: 'pg-text',
    source: 'PostgreSQL',
    types: 'text, varchar, char',
    kind: 'string',
    canonical: 'string, every code point as stored (PostgreSQL text cannot hold NUL)',
    postgresColumn: 'text, varchar',
  },
  {
    id: 'pg-uuid',
    source: 'PostgreSQL',
    types: 'uuid',
    kind: 'string',
    canonical: 'string, lower-case hyphenated',
    postgresColumn: 'uuid, text',
  },
  {
    id: 'pg-enum',
    source: 'PostgreSQL',
    types: 'enum',
    kind: 'string',
    canonical: 'the label',
    postgresColumn: 'the same enum, text',
  },
  {
    id: 'pg-json',
    source: 'PostgreSQL',
    types: 'json, jsonb',
    kind: 'json',
    canonical: 'the JSON value, nested numbers exact',
    postgresColumn: 'json, jsonb',
  },
  {
    id: 'pg-bytea',
    source: 'PostgreSQL',
    types: 'bytea',
    kind: 'string',
    canonical: 'base64 of the bytes',
    postgresColumn: 'bytea (decoded from base64)',
  },
  {
    id: 'pg-array',
    source: 'PostgreSQL',
    types: 'arrays (integer[], bigint[], numeric[], text[], ...)',
    kind: 'array',
    canonical: 'array of the elements, each mapped as its type',
    postgresColumn: 'an array of the element type',
  },
  {
    id: 'pg-date',
    source: 'PostgreSQL',
    types: 'date',
    kind: 'string',
    canonical: '"YYYY-MM-DD"; "infinity" / "-infinity"',
    postgresColumn: 'date',
  },
  {
    id: 'pg-time',
    source: 'PostgreSQL',
    types: 'time, time with time zone',
    kind: 'string',
    canonical: 'as PostgreSQL prints it: "HH:MM:SS[.ffffff][+zone]"',
    postgresColumn: 'time, timetz',
  },
  {
    id: 'pg-timestamp',
    source: 'PostgreSQL',
    types: 'timestamp, timestamptz',
    kind: 'string',
    canonical:
      'ISO-8601 UTC, "…T…Z" with milliseconds, or microseconds when it has them (timestamp taken as UTC); "infinity" / "-infinity"',
    postgresColumn: 'timestamp, timestamptz',
  },
  {
    id: 'mysql-integer',
    source: 'MySQL / MariaDB',
    types: 'TINYINT, SMALLINT, MEDIUMINT, INT (BOOLEAN is TINYINT(1): 0 / 1)',
    kind: 'number',
    canonical: 'number',
    postgresColumn: 'smallint, integer, bigint, numeric',
  },
  {
    id: 'mysql-bigint',
    source: 'MySQL / MariaDB',
    types: 'BIGINT, BIGINT UNSIGNED',
    kind: 'number',
    canonical: 'exact number (beyond 2^53 kept as its literal)',
    postgresColumn: 'bigint; numeric(20) for UNSIGNED',
  },
  {
    id: 'mysql-decimal',
    source: 'MySQL / MariaDB',
    types: 'DECIMAL(p,s) up to DECIMAL(65,30)',
    kind: 'number',
    canonical: 'exact number, every digit',
    postgresColumn: 'numeric',
  },
  {
    id: 'mysql-float',
    source: 'MySQL / MariaDB',
    types: 'FLOAT, DOUBLE',
    kind: 'number',
    canonical:
      'number: a DOUBLE as the server prints it, a FLOAT as the shortest number that reads back as the stored single (MariaDB prints six digits only, so it is read as a DOUBLE); MySQL has no NaN or infinities',
    postgresColumn: 'real, double precision',
  },
  {
    id: 'mysql-bit',
    source: 'MySQL / MariaDB',
    types: 'BIT(n)',
    kind: 'number',
    canonical: 'the unsigned integer of its bits',
    postgresColumn: 'bigint, numeric',
  },
  {
    id: 'mysql-text',
    source: 'MySQL / MariaDB',
    types: 'CHAR, VARCHAR, TEXT (utf8mb4), ENUM, SET',
    kind: 'string',
    canonical: 'string, every code point as stored, NUL included',
    postgresColumn: 'text (PostgreSQL refuses NUL: such a record is quarantined)',
  },
  {
    id: 'mysql-binary',
    source: 'MySQL / MariaDB',
    types: 'BINARY, VARBINARY, BLOB',
    kind: 'string',
    canonical: 'base64 of the bytes',
    postgresColumn: 'bytea (decoded from base64)',
  },
  {
    id: 'mysql-json',
    source: 'MySQL / MariaDB',
    types: 'JSON (MariaDB: the JSON alias of LONGTEXT)',
    kind: 'json',
    canonical: 'the JSON value, nested numbers exact',
    postgresColumn: 'json, jsonb',
  },
  {
    id: 'mysql-date',
    source: 'MySQL / MariaDB',
    types: 'DATE, TIME',
    kind: 'string',
    canonical: '"YYYY-MM-DD"; TIME as the server prints it',
    postgresColumn: 'date, time, interval',
  },
  {
    id: 'mysql-datetime',
    source: 'MySQL / MariaDB',
    types: 'DATETIME(fsp), TIMESTAMP(fsp)',
    kind: 'string',
    canonical: 'ISO-8601 UTC with milliseconds, or microseconds when it has them',
    postgresColumn: 'timestamp, timestamptz',
  },
  {
    id: 'json-number',
    source: 'JSON',
    types: 'number (webhook bodies, S3 JSON lines, CDC payload fields)',
    kind: 'number',
    canonical: 'exact number: a JavaScript number when a double holds it, else its literal',
    postgresColumn: 'numeric, bigint, integer, real, double precision',
  },
  {
    id: 'json-other',
    source: 'JSON',
    types: 'string, boolean, array, object',
    kind: 'json',
    canonical: 'as is, nested numbers exact',
    postgresColumn: 'text, boolean, arrays, json, jsonb',
  },
  {
    id: 'debezium-integer',
    source: 'Debezium CDC',
    types: 'int8, int16, int32, int64',
    kind: 'number',
    canonical: 'exact number (int64 beyond 2^53 kept as its literal)',
    postgresColumn: 'smallint, integer, bigint, numeric',
  },
  {
    id: 'debezium-decimal',
    source: 'Debezium CDC',
    types:
      'Decimal, VariableScaleDecimal (decimal.handling.mode=precise); decimal text (string) of a field named in source.debezium.fields',
    kind: 'number',
    canonical: 'exact number decoded from the bytes and scale, or from the text',
    postgresColumn: 'numeric',
  },
  {
    id: 'debezium-float',
    source: 'Debezium CDC',
    types: 'float32, float64',
    kind: 'number',
    canonical: 'the number as sent',
    postgresColumn: 'real, double precision',
  },
  {
    id: 'debezium-non-finite',
    source: 'Debezium CDC',
    types: 'float32, float64: NaN, Infinity, -Infinity (the JSON converter writes them as strings)',
    kind: 'string',
    canonical: 'the string "NaN", "Infinity" or "-Infinity"',
    postgresColumn: 'real, double precision',
  },
  {
    id: 'debezium-time',
    source: 'Debezium CDC',
    types: 'io.debezium.time.* and Connect Date/Time/Timestamp (by schema, or by time.precision.mode)',
    kind: 'string',
    canonical: 'ISO-8601 UTC with the encoding’s precision; dates "YYYY-MM-DD"; "infinity" / "-infinity"',
    postgresColumn: 'date, time, timestamp, timestamptz',
  },
  {
    id: 'debezium-bytes',
    source: 'Debezium CDC',
    types: 'bytes (binary.handling.mode bytes or base64; hex and base64-url-safe converted)',
    kind: 'string',
    canonical: 'base64 of the bytes',
    postgresColumn: 'bytea (decoded from base64)',
  },
  {
    id: 'debezium-json',
    source: 'Debezium CDC',
    types: 'io.debezium.data.Json (json, jsonb, MySQL JSON: the JSON as text)',
    kind: 'json',
    canonical: 'the JSON value, nested numbers exact (as polling reads the column)',
    postgresColumn: 'json, jsonb',
  },
  {
    id: 'debezium-array',
    source: 'Debezium CDC',
    types: 'array',
    kind: 'array',
    canonical: 'array of the elements, each decoded by the item schema',
    postgresColumn: 'an array of the element type',
  },
  {
    id: 'debezium-other',
    source: 'Debezium CDC',
    types: 'string (io.debezium.data.Uuid, Enum and text; NUL included), boolean',
    kind: 'json',
    canonical: 'as sent',
    postgresColumn:
      'text, uuid, the same enum, boolean (PostgreSQL refuses NUL: such a record is quarantined)',
  },
];

const DYNAMODB_LIMITS =
  'Numbers are N through the SDK’s NumberValue, every digit kept; a number of more than 38 significant digits or a magnitude outside 1E-130 … 1E+126 cannot be stored: the record is quarantined with a reason naming the field and the type.';

/** docs/type-mapping.md. */
export function renderTypeMapping(): string {
  const rows = TYPE_MAPPING.map((r) => {
    const storage = KIND_STORAGE[r.kind];
    return `| ${r.source} | ${r.types} | ${r.canonical} | ${storage.dynamodb} | ${r.postgresColumn} | ${storage.lake} |`;
  });
  return `<!-- Generated by \`npm run docs\` from shared/records/type-mapping.ts; do not edit. -->
# Type mapping

Every source value becomes one canonical record value, and every target stores that value. The
type-fidelity matrix test (test/integration/type-fidelity) reads each type from the real sources
(PostgreSQL on the Debian server and PGlite, MariaDB, a generic JSON webhook, Debezium
change events with and without the JSON converter's schema), loads it through the
load path into DynamoDB, a PostgreSQL target and the S3 lake, and checks that it arrives equal to
the source value by this table, or is quarantined with a reason naming the field and the type.
Verify compares source and target under the same mapping, so an altered value is a mismatch.

| Source | Type | Canonical record value | DynamoDB | PostgreSQL target column | S3 lake (JSON) |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

## Targets

- **DynamoDB.** ${DYNAMODB_LIMITS} Strings, booleans, arrays and objects are S, BOOL, L and M; SQL NULL is NULL.
- **PostgreSQL target.** Numbers are sent as their decimal text, so numeric and bigint columns hold every
  digit; "NaN" and "±Infinity" go into real, double precision and numeric columns; base64 text is decoded
  for bytea columns (a value that is not base64 is quarantined); json and jsonb columns get the JSON
  written losslessly. A value the column refuses (NUL in text, an out-of-range number) quarantines the
  record with PostgreSQL's reason. In jsonb mode the whole record is one jsonb value.
- **S3 lake.** Lines are JSON written losslessly: numbers beyond a double's precision appear as bare
  number literals with every digit (read them with a lossless JSON parser).
- **HTTP target.** Bodies are the canonical record as lossless JSON.

## Exact numbers in transit

Webhook bodies, S3 JSON lines, load-queue messages, claim-check objects, lake lines and archived
versions are parsed without rounding: a number a double holds exactly stays a number, any other
(integers beyond 2^53, more than 15 significant digits, exponents out of range) is kept as its
literal and written back as the same bare literal. Content hashes read such a number as its
shortest decimal text, the text of the equal double when there is one, so \`1.50\`, \`1.5\` and \`15e-1\`
hash alike and \`9007199254740993\` differs from \`9007199254740992\`.
`;
}

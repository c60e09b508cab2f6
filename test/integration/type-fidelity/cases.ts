import { exactNumber, parseExactJson } from '../../../shared/records/exact-json.ts';

/** A target that may refuse a value: the record is then quarantined with a reason naming the field. */
export type TargetName = 'dynamodb' | 'postgres' | 's3';

/**
 * One value of the matrix: a column (or JSON field) named `field` holding `literal`, which must
 * arrive in every target as `expected`, the canonical value by the type-mapping row `mapping`,
 * except in the targets listed in `quarantinedBy`, whose reason must match the pattern.
 */
export interface FidelityCase {
  readonly field: string;
  readonly mapping: string;
  /** Column type in the source (SQL sources). */
  readonly type: string;
  /** SQL literal (SQL sources) or JSON text (the webhook). */
  readonly literal: string;
  /** Column type in the PostgreSQL target. @default - `type` */
  readonly targetType?: string;
  readonly expected: unknown;
  readonly quarantinedBy?: Partial<Record<TargetName, RegExp>>;
}

const DYNAMODB_DIGITS = /with \d+ significant digits, DynamoDB numbers \(N\) hold at most 38/;
const DYNAMODB_MAGNITUDE = /with magnitude 1E-?\d+, DynamoDB numbers \(N\) range/;
const POSTGRES_NUL = /text cannot hold NUL/;

const UNICODE = 'emoji 😀🇫🇷, combining e\u0301 a\u0308, RTL שָׁלוֹם مرحبا';

export const POSTGRES_CASES: readonly FidelityCase[] = [
  { field: 'int2_min', mapping: 'pg-integer', type: 'smallint', literal: '-32768', expected: -32768 },
  { field: 'int2_max', mapping: 'pg-integer', type: 'smallint', literal: '32767', expected: 32767 },
  {
    field: 'int4_min',
    mapping: 'pg-integer',
    type: 'integer',
    literal: '-2147483648',
    expected: -2147483648,
  },
  { field: 'int4_max', mapping: 'pg-integer', type: 'integer', literal: '2147483647', expected: 2147483647 },
  {
    field: 'int8_min',
    mapping: 'pg-bigint',
    type: 'bigint',
    literal: '-9223372036854775808',
    expected: exactNumber('-9223372036854775808'),
  },
  {
    field: 'int8_max',
    mapping: 'pg-bigint',
    type: 'bigint',
    literal: '9223372036854775807',
    expected: exactNumber('9223372036854775807'),
  },
  {
    field: 'num38',
    mapping: 'pg-numeric',
    type: 'numeric(38,10)',
    literal: '1234567890123456789012345678.0123456789',
    expected: exactNumber('1234567890123456789012345678.0123456789'),
  },
  {
    field: 'num38_tiny',
    mapping: 'pg-numeric',
    type: 'numeric(38,10)',
    literal: '-0.0000000001',
    expected: -1e-10,
  },
  {
    field: 'num_free',
    mapping: 'pg-numeric',
    type: 'numeric',
    literal: '123456789012345678901234567890.123456789012345',
    expected: exactNumber('123456789012345678901234567890.123456789012345'),
    quarantinedBy: { dynamodb: DYNAMODB_DIGITS },
  },
  { field: 'num_nan', mapping: 'pg-non-finite', type: 'numeric', literal: "'NaN'", expected: 'NaN' },
  { field: 'real_max', mapping: 'pg-float', type: 'real', literal: '3.4028235e+38', expected: 3.4028235e38 },
  { field: 'real_nan', mapping: 'pg-non-finite', type: 'real', literal: "'NaN'", expected: 'NaN' },
  {
    field: 'double_max',
    mapping: 'pg-float',
    type: 'double precision',
    literal: '1.7976931348623157e308',
    expected: 1.7976931348623157e308,
    quarantinedBy: { dynamodb: DYNAMODB_MAGNITUDE },
  },
  {
    field: 'double_pi',
    mapping: 'pg-float',
    type: 'double precision',
    literal: '3.141592653589793',
    expected: Math.PI,
  },
  {
    field: 'double_inf',
    mapping: 'pg-non-finite',
    type: 'double precision',
    literal: "'Infinity'",
    expected: 'Infinity',
  },
  {
    field: 'double_ninf',
    mapping: 'pg-non-finite',
    type: 'double precision',
    literal: "'-Infinity'",
    expected: '-Infinity',
  },
  { field: 'bool_t', mapping: 'pg-boolean', type: 'boolean', literal: 'true', expected: true },
  { field: 'bool_f', mapping: 'pg-boolean', type: 'boolean', literal: 'false', expected: false },
  { field: 'txt', mapping: 'pg-text', type: 'text', literal: `'${UNICODE}'`, expected: UNICODE },
  {
    field: 'id_uuid',
    mapping: 'pg-uuid',
    type: 'uuid',
    literal: "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  {
    field: 'doc_jsonb',
    mapping: 'pg-json',
    type: 'jsonb',
    literal: `'{"big": 12345678901234567890, "d": [123456.78901234567890123456789, 0.1], "s": "x"}'`,
    expected: parseExactJson('{"big":12345678901234567890,"d":[123456.78901234567890123456789,0.1],"s":"x"}'),
  },
  {
    field: 'doc_json',
    mapping: 'pg-json',
    type: 'json',
    literal: `'[9007199254740993, {"n": 1e-7}]'`,
    expected: parseExactJson('[9007199254740993,{"n":1e-7}]'),
  },
  { field: 'bin', mapping: 'pg-bytea', type: 'bytea', literal: "'\\x00ff10'", expected: 'AP8Q' },
  { field: 'ints', mapping: 'pg-array', type: 'integer[]', literal: "'{1,-2,3}'", expected: [1, -2, 3] },
  {
    field: 'bigs',
    mapping: 'pg-array',
    type: 'bigint[]',
    literal: "'{9223372036854775807,NULL}'",
    expected: [exactNumber('9223372036854775807'), null],
  },
  { field: 'texts', mapping: 'pg-array', type: 'text[]', literal: `'{"a b","ü,"}'`, expected: ['a b', 'ü,'] },
  { field: 'day', mapping: 'pg-date', type: 'date', literal: "'2024-02-29'", expected: '2024-02-29' },
  { field: 'day_inf', mapping: 'pg-date', type: 'date', literal: "'infinity'", expected: 'infinity' },
  {
    field: 'clock',
    mapping: 'pg-time',
    type: 'time(6)',
    literal: "'13:14:15.123456'",
    expected: '13:14:15.123456',
  },
  {
    field: 'ts',
    mapping: 'pg-timestamp',
    type: 'timestamp(6)',
    literal: "'2024-01-02 03:04:05.123456'",
    expected: '2024-01-02T03:04:05.123456Z',
  },
  {
    field: 'tstz',
    mapping: 'pg-timestamp',
    type: 'timestamptz(6)',
    literal: "'2024-01-02 03:04:05.123456+02'",
    expected: '2024-01-02T01:04:05.123456Z',
  },
  {
    field: 'ts_inf',
    mapping: 'pg-timestamp',
    type: 'timestamp',
    literal: "'infinity'",
    expected: 'infinity',
  },
  {
    field: 'tstz_ninf',
    mapping: 'pg-timestamp',
    type: 'timestamptz',
    literal: "'-infinity'",
    expected: '-infinity',
  },
  { field: 'feeling', mapping: 'pg-enum', type: 'mood', literal: "'happy'", expected: 'happy' },
];

export const MYSQL_CASES: readonly FidelityCase[] = [
  {
    field: 'tiny_min',
    mapping: 'mysql-integer',
    type: 'TINYINT',
    literal: '-128',
    targetType: 'smallint',
    expected: -128,
  },
  {
    field: 'int_max',
    mapping: 'mysql-integer',
    type: 'INT',
    literal: '2147483647',
    targetType: 'integer',
    expected: 2147483647,
  },
  {
    field: 'flag',
    mapping: 'mysql-integer',
    type: 'BOOLEAN',
    literal: 'TRUE',
    targetType: 'smallint',
    expected: 1,
  },
  {
    field: 'big_min',
    mapping: 'mysql-bigint',
    type: 'BIGINT',
    literal: '-9223372036854775808',
    targetType: 'bigint',
    expected: exactNumber('-9223372036854775808'),
  },
  {
    field: 'ubig_max',
    mapping: 'mysql-bigint',
    type: 'BIGINT UNSIGNED',
    literal: '18446744073709551615',
    targetType: 'numeric(20)',
    expected: exactNumber('18446744073709551615'),
  },
  {
    field: 'dec38',
    mapping: 'mysql-decimal',
    type: 'DECIMAL(38,10)',
    literal: '1234567890123456789012345678.0123456789',
    targetType: 'numeric(38,10)',
    expected: exactNumber('1234567890123456789012345678.0123456789'),
  },
  {
    field: 'dec65',
    mapping: 'mysql-decimal',
    type: 'DECIMAL(65,30)',
    literal: '12345678901234567890123456789012345.123456789012345678901234567891',
    targetType: 'numeric(65,30)',
    expected: exactNumber('12345678901234567890123456789012345.123456789012345678901234567891'),
    quarantinedBy: { dynamodb: DYNAMODB_DIGITS },
  },
  {
    field: 'flt',
    mapping: 'mysql-float',
    type: 'FLOAT',
    literal: '1.5',
    targetType: 'real',
    expected: 1.5,
  },
  {
    field: 'dbl_max',
    mapping: 'mysql-float',
    type: 'DOUBLE',
    literal: '1.7976931348623157e308',
    targetType: 'double precision',
    expected: 1.7976931348623157e308,
    quarantinedBy: { dynamodb: DYNAMODB_MAGNITUDE },
  },
  {
    field: 'bits',
    mapping: 'mysql-bit',
    type: 'BIT(10)',
    literal: "b'1010101010'",
    targetType: 'integer',
    expected: 682,
  },
  {
    field: 'txt',
    mapping: 'mysql-text',
    type: 'VARCHAR(200)',
    literal: `'${UNICODE}'`,
    targetType: 'text',
    expected: UNICODE,
  },
  {
    field: 'txt_nul',
    mapping: 'mysql-text',
    type: 'VARCHAR(20)',
    literal: "'a\\0b'",
    targetType: 'text',
    expected: 'a\u0000b',
    quarantinedBy: { postgres: POSTGRES_NUL },
  },
  {
    field: 'feeling',
    mapping: 'mysql-text',
    type: "ENUM('happy','sad')",
    literal: "'sad'",
    targetType: 'text',
    expected: 'sad',
  },
  {
    field: 'blob_bytes',
    mapping: 'mysql-binary',
    type: 'BLOB',
    literal: "x'00FF10'",
    targetType: 'bytea',
    expected: 'AP8Q',
  },
  {
    field: 'doc',
    mapping: 'mysql-json',
    type: 'JSON',
    literal: `'{"big": 12345678901234567890, "list": [0.1, 1.23456789012345678901]}'`,
    targetType: 'jsonb',
    expected: parseExactJson('{"big":12345678901234567890,"list":[0.1,1.23456789012345678901]}'),
  },
  {
    field: 'day',
    mapping: 'mysql-date',
    type: 'DATE',
    literal: "'2024-02-29'",
    targetType: 'date',
    expected: '2024-02-29',
  },
  {
    field: 'clock',
    mapping: 'mysql-date',
    type: 'TIME(6)',
    literal: "'13:14:15.123456'",
    targetType: 'time(6)',
    expected: '13:14:15.123456',
  },
  {
    field: 'dt',
    mapping: 'mysql-datetime',
    type: 'DATETIME(6)',
    literal: "'2024-01-02 03:04:05.123456'",
    targetType: 'timestamp(6)',
    expected: '2024-01-02T03:04:05.123456Z',
  },
];

export const JSON_CASES: readonly FidelityCase[] = [
  {
    field: 'big',
    mapping: 'json-number',
    type: 'number',
    literal: '9223372036854775807',
    targetType: 'bigint',
    expected: exactNumber('9223372036854775807'),
  },
  {
    field: 'beyond',
    mapping: 'json-number',
    type: 'number',
    literal: '9007199254740993',
    targetType: 'numeric',
    expected: exactNumber('9007199254740993'),
  },
  {
    field: 'dec',
    mapping: 'json-number',
    type: 'number',
    literal: '1234567890123456789012345678.0123456789',
    targetType: 'numeric(38,10)',
    expected: exactNumber('1234567890123456789012345678.0123456789'),
  },
  {
    field: 'long',
    mapping: 'json-number',
    type: 'number',
    literal: '123456789012345678901234567890123456789012',
    targetType: 'numeric',
    expected: exactNumber('123456789012345678901234567890123456789012'),
    quarantinedBy: { dynamodb: DYNAMODB_DIGITS },
  },
  {
    field: 'huge',
    mapping: 'json-number',
    type: 'number',
    literal: '1e400',
    targetType: 'numeric',
    expected: exactNumber('1e400'),
    quarantinedBy: { dynamodb: DYNAMODB_MAGNITUDE },
  },
  {
    field: 'tenth',
    mapping: 'json-number',
    type: 'number',
    literal: '0.1',
    targetType: 'double precision',
    expected: 0.1,
  },
  {
    field: 'txt',
    mapping: 'json-other',
    type: 'string',
    literal: JSON.stringify(UNICODE),
    targetType: 'text',
    expected: UNICODE,
  },
  {
    field: 'txt_nul',
    mapping: 'json-other',
    type: 'string',
    literal: '"a\\u0000b"',
    targetType: 'text',
    expected: 'a\u0000b',
    quarantinedBy: { postgres: POSTGRES_NUL },
  },
  {
    field: 'yes',
    mapping: 'json-other',
    type: 'boolean',
    literal: 'true',
    targetType: 'boolean',
    expected: true,
  },
  {
    field: 'nested',
    mapping: 'json-other',
    type: 'object',
    literal: '{"n":12345678901234567890,"list":[1e-7,"x"]}',
    targetType: 'jsonb',
    expected: parseExactJson('{"n":12345678901234567890,"list":[1e-7,"x"]}'),
  },
  {
    field: 'nums',
    mapping: 'json-other',
    type: 'array',
    literal: '[1,9007199254740993]',
    targetType: 'numeric[]',
    expected: [1, exactNumber('9007199254740993')],
  },
];

/**
 * A Debezium field: its Connect schema (sent with the JSON converter's schemas.enable=true) and
 * its value on the wire; without the schema, it is decoded by `type` in `source.debezium.fields`.
 */
export interface DebeziumCase extends FidelityCase {
  readonly schema: Readonly<Record<string, unknown>>;
  /** Set for fields decoded by their column type when the event has no schema. */
  readonly columnType?: string;
}

const decimal = (scale: string) => ({
  type: 'bytes',
  name: 'org.apache.kafka.connect.data.Decimal',
  parameters: { scale },
});

export const DEBEZIUM_CASES: readonly DebeziumCase[] = [
  {
    field: 'big',
    mapping: 'debezium-integer',
    type: 'int64',
    schema: { type: 'int64' },
    literal: '9223372036854775807',
    targetType: 'bigint',
    expected: exactNumber('9223372036854775807'),
  },
  {
    field: 'price',
    mapping: 'debezium-decimal',
    type: 'Decimal',
    schema: decimal('10'),
    columnType: 'numeric(36,10)',
    literal: '"F8bjv9cP3ursQXFy3LrA"',
    targetType: 'numeric(36,10)',
    expected: exactNumber('12345678901234567890123456.7890123456'),
  },
  {
    field: 'wide',
    mapping: 'debezium-decimal',
    type: 'Decimal',
    schema: decimal('5'),
    columnType: 'numeric(40,5)',
    literal: '"A6DJIHXA2/O4rLxfls4/CtM="',
    targetType: 'numeric(40,5)',
    expected: exactNumber('12345678901234567890123456789012345.67891'),
    quarantinedBy: { dynamodb: DYNAMODB_DIGITS },
  },
  {
    field: 'ts',
    mapping: 'debezium-time',
    type: 'MicroTimestamp',
    schema: { type: 'int64', name: 'io.debezium.time.MicroTimestamp' },
    columnType: 'timestamp(6)',
    literal: '1704164645123456',
    targetType: 'timestamp(6)',
    expected: '2024-01-02T03:04:05.123456Z',
  },
  {
    field: 'day',
    mapping: 'debezium-time',
    type: 'Date',
    schema: { type: 'int32', name: 'io.debezium.time.Date' },
    columnType: 'date',
    literal: '19782',
    targetType: 'date',
    expected: '2024-02-29',
  },
  {
    field: 'tstz',
    mapping: 'debezium-time',
    type: 'ZonedTimestamp',
    schema: { type: 'string', name: 'io.debezium.time.ZonedTimestamp' },
    columnType: 'timestamptz',
    literal: '"2024-01-02T01:04:05.123456Z"',
    targetType: 'timestamptz(6)',
    expected: '2024-01-02T01:04:05.123456Z',
  },
  {
    field: 'bin',
    mapping: 'debezium-bytes',
    type: 'bytes',
    schema: { type: 'bytes' },
    columnType: 'bytea',
    literal: '"AP8Q"',
    targetType: 'bytea',
    expected: 'AP8Q',
  },
  {
    field: 'txt',
    mapping: 'debezium-other',
    type: 'string',
    schema: { type: 'string' },
    literal: JSON.stringify(UNICODE),
    targetType: 'text',
    expected: UNICODE,
  },
  {
    field: 'flag',
    mapping: 'debezium-other',
    type: 'boolean',
    schema: { type: 'boolean' },
    literal: 'true',
    targetType: 'boolean',
    expected: true,
  },
];

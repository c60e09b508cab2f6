import type { DebeziumSettings } from '../connectors/sources/cdc/config.ts';
import { canonicalIso, parseIsoInstant } from '../domain/instant.ts';
import { ValidationError } from '../errors.ts';
import { exactNumber, isExactNumber, parseExactJson } from '../records/exact-json.ts';

/**
 * Values as Debezium's JSON converter writes them, decoded to ESync's canonical forms: exact
 * numbers for decimals, the JSON value of json columns (numbers exact, as polling reads them),
 * ISO-8601 for dates, times and timestamps (UTC, with the precision of the encoding: 3 digits for
 * milliseconds, 6 for microseconds, 9 for nanoseconds), `infinity` / `-infinity` for
 * PostgreSQL's infinite dates and timestamps, base64 for bytes.
 *
 * A field is decoded by its Connect schema (`{type, name, parameters}`) when the event carries
 * one, otherwise by the column type the pipeline names for it (`source.debezium.fields`) read
 * with the connector's modes; a field with neither is kept as it arrived.
 */

/** The part of a Kafka Connect field schema decoding needs. */
export interface ConnectFieldSchema {
  readonly type: string;
  readonly name?: string | undefined;
  readonly parameters?: Readonly<Record<string, string>> | undefined;
  readonly field?: string | undefined;
  readonly fields?: readonly ConnectFieldSchema[] | undefined;
}

export const LOGICAL = {
  decimal: 'org.apache.kafka.connect.data.Decimal',
  variableScaleDecimal: 'io.debezium.data.VariableScaleDecimal',
  connectDate: 'org.apache.kafka.connect.data.Date',
  connectTime: 'org.apache.kafka.connect.data.Time',
  connectTimestamp: 'org.apache.kafka.connect.data.Timestamp',
  date: 'io.debezium.time.Date',
  time: 'io.debezium.time.Time',
  microTime: 'io.debezium.time.MicroTime',
  nanoTime: 'io.debezium.time.NanoTime',
  timestamp: 'io.debezium.time.Timestamp',
  microTimestamp: 'io.debezium.time.MicroTimestamp',
  nanoTimestamp: 'io.debezium.time.NanoTimestamp',
  zonedTimestamp: 'io.debezium.time.ZonedTimestamp',
  zonedTime: 'io.debezium.time.ZonedTime',
  json: 'io.debezium.data.Json',
  /** ESync's own: a binary column named in `source.debezium.fields`, encoded per binary.handling.mode. */
  binary: 'esync.binary',
} as const;

/** Sub-second digits per unit of an epoch number. */
const UNIT_DIGITS = { millis: 3, micros: 6, nanos: 9 } as const;
type Unit = keyof typeof UNIT_DIGITS;
const PER_SECOND: Record<Unit, bigint> = { millis: 1_000n, micros: 1_000_000n, nanos: 1_000_000_000n };

const TIMESTAMP_UNITS: Readonly<Record<string, Unit>> = {
  [LOGICAL.connectTimestamp]: 'millis',
  [LOGICAL.timestamp]: 'millis',
  [LOGICAL.microTimestamp]: 'micros',
  [LOGICAL.nanoTimestamp]: 'nanos',
};
const TIME_UNITS: Readonly<Record<string, Unit>> = {
  [LOGICAL.connectTime]: 'millis',
  [LOGICAL.time]: 'millis',
  [LOGICAL.microTime]: 'micros',
  [LOGICAL.nanoTime]: 'nanos',
};

/**
 * PostgreSQL's `infinity` / `-infinity` as Debezium sends them for dates and timestamps: the
 * JDBC driver's sentinels (9223372036825200000 / -9223372036832400000 milliseconds) or the
 * extremes of the integer type. Anything at or beyond them is infinite.
 */
const POSITIVE_INFINITY_AT = 9_223_372_036_825_200_000n;
const NEGATIVE_INFINITY_AT = -9_223_372_036_832_400_000n;
const INT32_MAX = 2_147_483_647n;
const INT32_MIN = -2_147_483_648n;

class DecodeProblem extends Error {}

/** An integer from a JSON number, an exact number or integer text; `undefined` when it is none. */
function integerOf(value: unknown): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  const text = isExactNumber(value) ? value.value : typeof value === 'string' ? value : undefined;
  return text !== undefined && /^-?\d+$/.test(text) ? BigInt(text) : undefined;
}

function infinityOf(n: bigint, int32: boolean): string | undefined {
  if (n >= POSITIVE_INFINITY_AT || (int32 && n >= INT32_MAX)) return 'infinity';
  if (n <= NEGATIVE_INFINITY_AT || (int32 && n <= INT32_MIN)) return '-infinity';
  return undefined;
}

function requireInteger(value: unknown, what: string): bigint {
  const n = integerOf(value);
  if (n === undefined) throw new DecodeProblem(`${what} must be an integer, got ${JSON.stringify(value)}`);
  return n;
}

function floorDiv(a: bigint, b: bigint): [bigint, bigint] {
  const q = a / b - (a % b !== 0n && a < 0n !== b < 0n ? 1n : 0n);
  return [q, a - q * b];
}

/** An ISO-8601 UTC timestamp (`canonicalIso`, as polling prints it) from an epoch number in `unit`. */
export function timestampFromEpoch(value: unknown, unit: Unit): string {
  const n = requireInteger(value, `a timestamp in ${unit}`);
  const infinite = infinityOf(n, false);
  if (infinite) return infinite;
  const [seconds, fraction] = floorDiv(n, PER_SECOND[unit]);
  const nanos = Number(fraction * (1_000_000_000n / PER_SECOND[unit]));
  if (seconds > 8_640_000_000_000n || seconds < -8_640_000_000_000n)
    throw new DecodeProblem(`timestamp ${n} ${unit} is out of range`);
  return canonicalIso({ epochSeconds: Number(seconds), nanos });
}

/** `YYYY-MM-DD` from days since the epoch. */
export function dateFromEpochDays(value: unknown): string {
  const n = requireInteger(value, 'a date in days');
  const infinite = infinityOf(n, true);
  if (infinite) return infinite;
  const iso = new Date(Number(n) * 86_400_000).toISOString();
  if (iso.startsWith('+') || iso.startsWith('-')) throw new DecodeProblem(`date ${n} days is out of range`);
  return iso.slice(0, 10);
}

/** `HH:MM:SS.fff` (3, 6 or 9 digits) from the time since midnight in `unit`. */
export function timeFromMidnight(value: unknown, unit: Unit): string {
  const n = requireInteger(value, `a time of day in ${unit}`);
  const [seconds, fraction] = floorDiv(n, PER_SECOND[unit]);
  // 24:00:00 is a valid PostgreSQL time; nothing beyond it is.
  if (n < 0n || seconds > 86_400n || (seconds === 86_400n && fraction > 0n))
    throw new DecodeProblem(`time of day ${n} ${unit} is out of range`);
  const s = Number(seconds);
  const pad = (x: number) => String(x).padStart(2, '0');
  const digits = String(fraction).padStart(UNIT_DIGITS[unit], '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}.${digits}`;
}

/**
 * A ZonedTimestamp's text (`2023-11-14T22:13:20.1234Z`: UTC, trailing zeros dropped) in the
 * form polling prints the same value, so a polled row and its change event hash alike; text
 * that is no timestamp (`infinity`) is kept.
 */
function zonedTimestampOf(value: unknown): unknown {
  if (typeof value !== 'string')
    throw new DecodeProblem(`a ZonedTimestamp must be text, got ${JSON.stringify(value)}`);
  const instant = parseIsoInstant(value);
  return instant === undefined ? value : canonicalIso(instant);
}

/** Bytes from the JSON converter's base64, as base64 (unchanged when it already is). */
function bytesOf(value: unknown, mode: DebeziumSettings['binaryHandlingMode']): string {
  if (typeof value !== 'string') throw new DecodeProblem(`bytes must be text, got ${typeof value}`);
  if (mode === 'hex') {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new DecodeProblem('bytes are not hex');
    return Buffer.from(value, 'hex').toString('base64');
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new DecodeProblem('bytes are not base64');
  return Buffer.from(value, 'base64').toString('base64');
}

/** The decimal text of `unscaled × 10^-scale`. */
function scaledDecimal(unscaled: bigint, scale: number): string {
  if (scale <= 0) return (unscaled * 10n ** BigInt(-scale)).toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const text = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** A big-endian two's-complement integer (Connect's Decimal) from base64. */
function unscaledOf(base64: unknown): bigint {
  if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64))
    throw new DecodeProblem(`a decimal must be base64 bytes, got ${JSON.stringify(base64)}`);
  return twosComplementOf(Buffer.from(base64, 'base64'));
}

/** A big-endian two's-complement integer. */
function twosComplementOf(bytes: Buffer): bigint {
  if (bytes.length === 0) return 0n;
  let n = BigInt(`0x${bytes.toString('hex')}`);
  if ((bytes[0] as number) & 0x80) n -= 1n << BigInt(bytes.length * 8);
  return n;
}

/** The exact number of a decimal's unscaled big-endian two's-complement bytes (Connect's and Avro's decimal). */
export function decimalFromBytes(bytes: Buffer, scale: number): number | ReturnType<typeof exactNumber> {
  return exactNumber(scaledDecimal(twosComplementOf(bytes), scale));
}

function decimalOf(value: unknown, scale: number): number | ReturnType<typeof exactNumber> {
  return exactNumber(scaledDecimal(unscaledOf(value), scale));
}

/** Decimal text or a number (decimal.handling.mode string or double) as an exact number. */
function decimalFromText(value: unknown): unknown {
  if (typeof value === 'number' || isExactNumber(value)) return value;
  if (typeof value === 'string') {
    if (/^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(value)) return exactNumber(value);
    if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  }
  throw new DecodeProblem(`a decimal must be a number or decimal text, got ${JSON.stringify(value)}`);
}

/** A json or jsonb column's text (`io.debezium.data.Json`) as the JSON value it holds, numbers exact. */
function jsonOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return parseExactJson(value);
  } catch {
    throw new DecodeProblem('the text is not JSON');
  }
}

function variableScaleDecimalOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return decimalFromText(value);
  const { scale, value: bytes } = value as { scale?: unknown; value?: unknown };
  const s = integerOf(scale);
  if (s === undefined) throw new DecodeProblem('a VariableScaleDecimal needs an integer scale');
  return decimalOf(bytes, Number(s));
}

/** Decodes one value by its Connect field schema; values of plain types are kept as they are. */
function decodeBySchema(value: unknown, schema: ConnectFieldSchema, settings: DebeziumSettings): unknown {
  if (value === null || value === undefined) return value;
  const name = schema.name;
  if (name === LOGICAL.decimal) {
    if (schema.type !== 'bytes') return decimalFromText(value);
    const scale = Number(schema.parameters?.scale ?? '0');
    if (!Number.isInteger(scale))
      throw new DecodeProblem('a Decimal schema needs an integer scale parameter');
    return decimalOf(value, scale);
  }
  if (name === LOGICAL.variableScaleDecimal) return variableScaleDecimalOf(value);
  if (name === LOGICAL.json) return jsonOf(value);
  if (name === LOGICAL.date || name === LOGICAL.connectDate) return dateFromEpochDays(value);
  const timestampUnit = name === undefined ? undefined : TIMESTAMP_UNITS[name];
  if (timestampUnit) return timestampFromEpoch(value, timestampUnit);
  if (name === LOGICAL.zonedTimestamp) return zonedTimestampOf(value);
  const timeUnit = name === undefined ? undefined : TIME_UNITS[name];
  if (timeUnit) return timeFromMidnight(value, timeUnit);
  // A float column holds a double: a literal the exact parser kept (1e300) is that double.
  if ((schema.type === 'float64' || schema.type === 'float32') && isExactNumber(value))
    return Number(value.value);
  if (name === LOGICAL.binary) return bytesOf(value, settings.binaryHandlingMode);
  // Connect's bytes are base64 in the JSON converter whatever the mode (hex sends a string schema).
  if (schema.type === 'bytes') return bytesOf(value, 'base64');
  if (schema.type === 'array' && Array.isArray(value)) {
    const items = (schema as { items?: ConnectFieldSchema }).items;
    return items ? value.map((v) => decodeBySchema(v, items, settings)) : value;
  }
  return value;
}

/**
 * The Connect schema Debezium would have sent for a column of `columnType` under the
 * connector's modes (see `source.debezium.fields`).
 */
export function schemaOfColumn(columnType: string, settings: DebeziumSettings): ConnectFieldSchema {
  const m = /^([a-z]+)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(columnType);
  const base = m?.[1] ?? columnType;
  const precision = m?.[2] === undefined ? undefined : Number(m[2]);
  const connect = settings.timePrecisionMode === 'connect';
  switch (base) {
    case 'numeric':
    case 'decimal':
      if (settings.decimalHandlingMode !== 'precise') return { type: 'string', name: LOGICAL.decimal };
      return m?.[3] === undefined && precision === undefined
        ? { type: 'struct', name: LOGICAL.variableScaleDecimal }
        : { type: 'bytes', name: LOGICAL.decimal, parameters: { scale: m?.[3] ?? '0' } };
    case 'date':
      return { type: 'int32', name: connect ? LOGICAL.connectDate : LOGICAL.date };
    case 'time':
      if (connect) return { type: 'int32', name: LOGICAL.connectTime };
      if (settings.timePrecisionMode === 'adaptive_time_microseconds')
        return { type: 'int64', name: LOGICAL.microTime };
      return (precision ?? 6) <= 3
        ? { type: 'int32', name: LOGICAL.time }
        : { type: 'int64', name: LOGICAL.microTime };
    case 'timestamp':
      if (connect) return { type: 'int64', name: LOGICAL.connectTimestamp };
      return (precision ?? 6) <= 3
        ? { type: 'int64', name: LOGICAL.timestamp }
        : { type: 'int64', name: LOGICAL.microTimestamp };
    case 'timestamptz':
      return { type: 'string', name: LOGICAL.zonedTimestamp };
    case 'timetz':
      return { type: 'string', name: LOGICAL.zonedTime };
    case 'json':
    case 'jsonb':
      return { type: 'string', name: LOGICAL.json };
    default:
      return { type: 'string', name: LOGICAL.binary };
  }
}

export interface RowDecoding {
  readonly fieldSchemas?: ReadonlyMap<string, ConnectFieldSchema> | undefined;
  readonly settings: DebeziumSettings;
}

const formsByPlaceholder = new Map<string, ReadonlySet<string>>();

/** The placeholder as Debezium sends it in a text, a base64 bytes or a hex bytes column. */
export function placeholderForms(placeholder: string): ReadonlySet<string> {
  let forms = formsByPlaceholder.get(placeholder);
  if (!forms) {
    const bytes = Buffer.from(placeholder, 'utf8');
    forms = new Set([
      placeholder,
      bytes.toString('base64'),
      bytes.toString('base64url'),
      bytes.toString('hex'),
    ]);
    formsByPlaceholder.set(placeholder, forms);
  }
  return forms;
}

/** True for a field value that is the unavailable-value placeholder in any of its forms (alone in an array too). */
export function isUnavailable(value: unknown, forms: ReadonlySet<string>): boolean {
  if (typeof value === 'string') return forms.has(value);
  return Array.isArray(value) && value.length === 1 && typeof value[0] === 'string' && forms.has(value[0]);
}

/**
 * Decodes every field of a row: by its schema, else by its configured column type, else kept.
 * A field carrying the unavailable-value placeholder becomes the placeholder text, whatever
 * its column type, so the load path recognizes it.
 * @throws ValidationError naming the field and its type when a value does not fit its type.
 */
export function decodeRow(
  row: Readonly<Record<string, unknown>>,
  decoding: RowDecoding,
  side: string,
): Record<string, unknown> {
  const { settings } = decoding;
  const forms = placeholderForms(settings.unavailableValuePlaceholder);
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(row)) {
    if (isUnavailable(value, forms)) {
      out[field] = settings.unavailableValuePlaceholder;
      continue;
    }
    const declared = decoding.fieldSchemas?.get(field);
    const columnType = settings.fields[field];
    const schema =
      declared?.name !== undefined || columnType === undefined
        ? declared
        : schemaOfColumn(columnType, settings);
    try {
      out[field] = schema === undefined ? value : decodeBySchema(value, schema, settings);
    } catch (error) {
      if (!(error instanceof DecodeProblem)) throw error;
      const type = schema?.name ?? schema?.type ?? 'unknown';
      throw new ValidationError(`debezium event ${side}.${field} (${type}): ${error.message}`, [
        { path: `${side}.${field}`, message: `${type}: ${error.message}` },
      ]);
    }
  }
  return out;
}

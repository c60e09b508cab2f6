import { isExactNumber } from '../records/exact-json.ts';

/**
 * Exact instants for comparing timestamps. `Date` keeps milliseconds only, but PostgreSQL
 * timestamps carry microseconds and other sources nanoseconds; two updates within one
 * millisecond must still compare in order, so ISO-8601 strings are parsed into whole
 * seconds plus nanoseconds rather than through `Date.parse`.
 */
export interface Instant {
  /** Whole seconds since 1970-01-01T00:00:00Z (negative before). */
  readonly epochSeconds: number;
  /** Nanoseconds within the second, 0 to 999 999 999. */
  readonly nanos: number;
}

/**
 * ISO-8601 / RFC 3339 date or date-time. A space may replace the `T` (PostgreSQL's text
 * output); `,` may replace the decimal point; the offset may omit its colon.
 */
const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

const SECONDS_PER_DAY = 86_400;
/** 400 Gregorian years have exactly this many days, which lets years 0–99 dodge Date.UTC's 1900 mapping. */
const DAYS_PER_400_YEARS = 146_097;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function epochDays(year: number, month: number, day: number): number {
  if (year >= 100) return Date.UTC(year, month - 1, day) / 1000 / SECONDS_PER_DAY;
  return Date.UTC(year + 400, month - 1, day) / 1000 / SECONDS_PER_DAY - DAYS_PER_400_YEARS;
}

/**
 * Parses an ISO-8601 date or date-time into an exact {@link Instant}; `undefined` when the
 * text is not one, or names an impossible date (February 30th, hour 25). A date-time
 * without an offset, and a bare date, are read as UTC, never as the machine's local time.
 */
export function parseIsoInstant(text: string): Instant | undefined {
  const m = ISO_PATTERN.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetSeconds = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = m[11] === undefined ? 0 : Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offsetSeconds = (m[9] === '-' ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  const fraction = m[7];
  const nanos = fraction === undefined ? 0 : Number(fraction.padEnd(9, '0'));
  const epochSeconds =
    epochDays(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offsetSeconds;
  return { epochSeconds, nanos };
}

/** Whether `text` is a calendar date `YYYY-MM-DD` (a UTC day, as the stream ledger names its days). */
export function isUtcDay(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
}

/** True when `text` is an ISO-8601 date or date-time naming a real instant. */
export function isIsoTimestamp(text: string): boolean {
  return parseIsoInstant(text) !== undefined;
}

/** The instant of a valid `Date`; `undefined` for an invalid one. */
export function instantFromDate(date: Date): Instant | undefined {
  const ms = date.getTime();
  if (Number.isNaN(ms)) return undefined;
  const epochSeconds = Math.floor(ms / 1000);
  return { epochSeconds, nanos: (ms - epochSeconds * 1000) * 1_000_000 };
}

/**
 * Epoch numbers below this many milliseconds (year 5138) are milliseconds, below this many
 * microseconds microseconds, larger ones nanoseconds. Sources pick the unit by type (Debezium's
 * Timestamp, MicroTimestamp, NanoTimestamp; JavaScript's Date.now()), and no date of interest
 * to a sync is ambiguous between them: a microsecond count below the bound is before 1973.
 */
const MILLIS_BELOW = 100_000_000_000_000n;
const MICROS_BELOW = 100_000_000_000_000_000n;

/**
 * The instant of a number of milliseconds, microseconds or nanoseconds since the epoch, its
 * unit told by its magnitude (see {@link MILLIS_BELOW}): a JavaScript number, a `bigint`, or an
 * exact number kept as its literal (nanoseconds exceed 2^53). `undefined` for anything else.
 */
export function instantFromEpochNumber(value: unknown): Instant | undefined {
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    if (!Number.isInteger(value)) return instantFromDate(new Date(value));
    n = BigInt(value);
  } else if (typeof value === 'bigint') n = value;
  else if (isExactNumber(value) && /^-?\d+$/.test(value.value)) n = BigInt(value.value);
  else return undefined;
  const magnitude = n < 0n ? -n : n;
  const perSecond =
    magnitude < MILLIS_BELOW ? 1_000n : magnitude < MICROS_BELOW ? 1_000_000n : 1_000_000_000n;
  let seconds = n / perSecond;
  let rest = n % perSecond;
  if (rest < 0n) {
    seconds -= 1n;
    rest += perSecond;
  }
  return { epochSeconds: Number(seconds), nanos: Number(rest * (1_000_000_000n / perSecond)) };
}

/**
 * The instant a field value stands for: a `Date`, an ISO-8601 string (without an offset: UTC),
 * or (when `numbersAreEpoch`) a number of milliseconds, microseconds or nanoseconds since the
 * epoch (see {@link instantFromEpochNumber}), so every encoding compares in one unit.
 */
export function toInstant(value: unknown, numbersAreEpoch = false): Instant | undefined {
  if (typeof value === 'string') return parseIsoInstant(value);
  if (value instanceof Date) return instantFromDate(value);
  if (numbersAreEpoch) return instantFromEpochNumber(value);
  return undefined;
}

/** Orders two instants: negative when `a` is earlier than `b`. */
export function compareInstants(a: Instant, b: Instant): number {
  if (a.epochSeconds !== b.epochSeconds) return a.epochSeconds < b.epochSeconds ? -1 : 1;
  return a.nanos === b.nanos ? 0 : a.nanos < b.nanos ? -1 : 1;
}

/** The instant moved by a whole number of seconds (negative: earlier). */
export function addSeconds(instant: Instant, seconds: number): Instant {
  return { epochSeconds: instant.epochSeconds + seconds, nanos: instant.nanos };
}

/**
 * Formats an instant as ISO-8601 UTC with `fractionDigits` (3 to 9) digits after the
 * decimal point, so a microsecond timestamp keeps its precision when moved.
 */
export function formatInstant(instant: Instant, fractionDigits = 3): string {
  const digits = Math.min(9, Math.max(3, Math.trunc(fractionDigits)));
  const whole = new Date(instant.epochSeconds * 1000).toISOString().slice(0, 19);
  const fraction = String(instant.nanos).padStart(9, '0').slice(0, digits);
  return `${whole}.${fraction}Z`;
}

/**
 * The one text of a timestamp in record data, whichever channel read it (a poll of the
 * database, a Debezium event): ISO-8601 UTC with 3 fraction digits when the instant falls on a
 * whole millisecond, 6 on a whole microsecond, else 9. Two channels reading the same value write
 * the same text, so their records hash alike.
 */
export function canonicalIso(instant: Instant): string {
  return formatInstant(instant, instant.nanos % 1_000_000 === 0 ? 3 : instant.nanos % 1_000 === 0 ? 6 : 9);
}

/** Digits after the decimal point in an ISO-8601 string (0 when none). */
export function fractionDigitsOf(text: string): number {
  const m = ISO_PATTERN.exec(text);
  return m?.[7]?.length ?? 0;
}

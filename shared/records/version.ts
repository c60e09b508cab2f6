/**
 * Versions are strings whose plain byte order is their order in time, so that DynamoDB
 * condition expressions (`#v < :v`), PostgreSQL (`COLLATE "C"`) and JavaScript all compare
 * them the same way without knowing where they came from.
 *
 * - source positions (LSN, binlog position, sequence numbers): `p:` + 20-digit zero-padded
 *   decimal, optionally `.` + a 20-digit sub-position (e.g. Debezium's event serial);
 * - timestamps with a key tie-break: `t:` + ISO-8601 UTC with milliseconds + `|` + a
 *   sequence, so rows sharing an `updated_at` still order deterministically.
 */
export type Version = string;

const POSITION_WIDTH = 20;

function padPosition(n: bigint | number | string): string {
  const s = typeof n === 'string' ? n : n.toString();
  if (!/^\d+$/.test(s)) throw new RangeError(`a source position must be a non-negative integer, got "${s}"`);
  if (s.length > POSITION_WIDTH)
    throw new RangeError(`a source position may have at most ${POSITION_WIDTH} digits, got "${s}"`);
  return s.padStart(POSITION_WIDTH, '0');
}

/** Version from a source position (PostgreSQL LSN as a number, MySQL binlog offset, sequence). */
export function positionVersion(position: bigint | number | string, sub?: bigint | number | string): Version {
  return sub === undefined ? `p:${padPosition(position)}` : `p:${padPosition(position)}.${padPosition(sub)}`;
}

/** Parses a PostgreSQL LSN such as `16/B374D848` into its 64-bit integer value. */
export function lsnToBigInt(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!match) throw new RangeError(`not a PostgreSQL LSN: "${lsn}"`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** Normalizes a timestamp (Date, epoch millis, ISO string) to ISO-8601 UTC with milliseconds. */
export function toIsoMillis(value: Date | number | string): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a timestamp: "${String(value)}"`);
  return date.toISOString();
}

/**
 * Version from a timestamp and a tie-break (the row's key, or a sequence). The tie-break
 * keeps two changes with the same timestamp in one deterministic order.
 */
export function timestampVersion(ts: Date | number | string, tieBreak = ''): Version {
  return `t:${toIsoMillis(ts)}|${tieBreak}`;
}

/** Orders two versions: negative when `a` is older than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The newer of two versions (the first when equal). */
export function maxVersion(a: Version, b: Version): Version {
  return compareVersions(a, b) >= 0 ? a : b;
}

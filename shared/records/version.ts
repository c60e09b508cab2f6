/**
 * Versions are strings whose plain byte order is their order in time, so that DynamoDB
 * condition expressions (`#v < :v`), PostgreSQL (`COLLATE "C"`) and JavaScript all compare
 * them the same way without knowing where they came from.
 *
 * One order for every channel. A record may reach one target by polling, by a change stream
 * (Debezium, `esync.change`, MSK) and by webhooks; every channel stamps a change with the
 * source's own change time, so the newer change wins whichever way it came:
 *
 *     t:<ISO-8601 UTC, milliseconds>|<channel rank>|<channel tie-break>
 *
 * - the time is the major part: Debezium `source.ts_ms` (the commit time), the polled row's
 *   cursor timestamp (`updated_at`), a webhook payload's entity timestamp (`updated_at`);
 * - at an equal millisecond the channel rank decides: `1` webhook delivery < `2` read of
 *   the current state (polling) < `3` change stream. A poll reads the state at or after its
 *   stamp, so it wins over a delivery stamped the same second (GitHub stamps whole seconds);
 *   a change stream's stamp is the commit time, never earlier than the row's own
 *   `updated_at` for the same change, and the stream carries every change, so a wrong win at
 *   an equal millisecond is undone by the row's next event;
 * - the channel tie-break compares only within one channel: the log position for a stream
 *   (LSN, binlog offset; 20-digit zero-padded), the cursor's later fields and the key for a
 *   poll, the key (or the delivery id) for a webhook.
 *
 * What is guaranteed when clocks and positions disagree: changes of one row are ordered by
 * their stamps; two changes of one row within one millisecond on one stream are ordered by
 * log position; a change whose stamp is earlier than a stored one is skipped as stale even if
 * it committed later (a transaction that began before and committed after a later-stamped one
 * on another channel) — the change stream's own event for the later commit restores order,
 * because its stamp is its commit time. A MySQL failover or `RESET MASTER` restarts binlog
 * positions, which only matter within one millisecond, so a reset never makes later changes
 * look stale; clocks of a new primary that run behind the old one by more than the gap
 * between two changes of a row do (keep primaries NTP-synchronised).
 *
 * Other forms, which sort below every `t:` version:
 * - `p:` + 20-digit position (optionally `.` + 20-digit sub-position): a source whose only
 *   cursor is a sequence (no time), and versions stored before this order existed. A stored
 *   `p:` version is older than any timestamped change, so after an upgrade the first change
 *   of a CDC-fed record replaces it; a pipeline that combines channels needs a timestamp
 *   cursor;
 * - `s:<ISO-8601>|<position>`: a Debezium snapshot read (`op: r`). A snapshot read is stamped
 *   when it was read, which can be after a change it does not contain (a transaction that
 *   began before the snapshot and committed after it); snapshot reads therefore load only
 *   where no timestamped change is stored, and every streamed change wins over them.
 * Polled versions stored before the channel rank existed (`t:<iso>|<key>`) compare by time
 * with the current ones; only at an equal millisecond is their order with a new version
 * arbitrary (but fixed).
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

/** The channels a change can come by, in the order they win at an equal millisecond. */
export type Channel = 'webhook' | 'poll' | 'stream';

const CHANNEL_RANK: Readonly<Record<Channel, string>> = { webhook: '1', poll: '2', stream: '3' };

/**
 * Version from a timestamp, the channel it came by and a tie-break within that channel (the
 * row's key, a sequence, a log position). See the module comment for the order.
 */
export function timestampVersion(
  ts: Date | number | string,
  tieBreak = '',
  channel: Channel = 'poll',
): Version {
  return `t:${toIsoMillis(ts)}|${CHANNEL_RANK[channel]}|${tieBreak}`;
}

/** Version of a change-stream event: its commit time, then its log position within the stream. */
export function streamVersion(
  tsMs: number,
  position: bigint | number | string,
  sub: bigint | number | string = 0,
): Version {
  return timestampVersion(tsMs, `${padPosition(position)}.${padPosition(sub)}`, 'stream');
}

/** Version of a snapshot read: below every timestamped change (see the module comment). */
export function snapshotVersion(tsMs: number, position: bigint | number | string): Version {
  return `s:${toIsoMillis(tsMs)}|${padPosition(position)}`;
}

/** Orders two versions: negative when `a` is older than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What orders two changes of one record: the version, then (a tie) the content hash. */
export interface VersionedChange {
  readonly version: Version;
  /** Content hash of the data as written (`records/hash.ts`); `deleted` for a delete. */
  readonly hash: string;
}

/**
 * Orders two changes of one record: by version, and at an equal version by content hash (byte
 * order). Two different changes with one version are a tie: a source that stamps whole seconds
 * (GitHub: `opened` then `edited` within one second), two channels reporting one instant. Ties
 * are decided by content, never by arrival order: every target applies this same rule in its own
 * conditional write (DynamoDB `#v < :v OR (#v = :v AND #h < :h)`, PostgreSQL the same on `_v`,
 * `_h`, the S3 lake's readers by version then hash), so all end on the same change whichever
 * arrived first. The rule is deterministic, not "the later change": a source with no finer
 * order gives nothing better to go by; the next change of the record settles it.
 */
export function compareChanges(a: VersionedChange, b: VersionedChange): number {
  return compareVersions(a.version, b.version) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
}

/** The newer of two versions (the first when equal). */
export function maxVersion(a: Version, b: Version): Version {
  return compareVersions(a, b) >= 0 ? a : b;
}

/**
 * A version that sorts right after `version` and before any version a later change gets: `~`
 * follows every character a version holds, so `v~` is greater than `v` and than `v` followed by
 * a tie-break or sub-position, and less than any version greater than `v` at an earlier character.
 * It orders a change ESync derives from what the target holds (a hard delete found by Verify).
 */
export function versionAfter(version: Version): Version {
  return `${version}~`;
}

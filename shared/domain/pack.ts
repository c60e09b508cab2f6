import { createHash } from 'node:crypto';
import { ConfigError, ValidationError } from '../errors.ts';
import { stringifyExactJson } from '../records/exact-json.ts';

export interface PackOptions {
  /** Records per message at most. */
  readonly maxRecords: number;
  /** Bytes per message body at most, overhead included (SQS counts UTF-8 bytes). */
  readonly maxBytes: number;
  /**
   * Bytes of the message body around the records array (`recordsMessageBody` with no records).
   * The array's brackets and commas are counted by {@link packRecords} itself.
   * @default 0
   */
  readonly overheadBytes?: number;
  /**
   * Bytes per message body at most once escaped as a JSON string, overhead included: how a
   * Lambda event carries the body, which a batch of messages must fit (see
   * {@link escapedJsonBytes}).
   * @default - no limit besides maxBytes
   */
  readonly maxEventBytes?: number;
  /**
   * {@link PackOptions.overheadBytes} escaped as a JSON string, the array's brackets and commas
   * left out as there.
   * @default - overheadBytes
   */
  readonly eventOverheadBytes?: number;
  /**
   * A record whose JSON exceeds this many bytes goes by claim check even if it would fit
   * in a message alone, to keep messages small. It cannot exceed what fits in one message.
   * @default - the largest record that fits in one message: maxBytes - overheadBytes - 2
   */
  readonly claimCheckThreshold?: number;
}

/** Records that travel inline in one message. */
export interface RecordGroup<T> {
  readonly records: T[];
  /** Bytes of the whole message body: overhead plus {@link RecordGroup.json}. */
  readonly bytes: number;
  /** {@link RecordGroup.bytes} once the body is escaped as a JSON string. */
  readonly eventBytes: number;
  /** The records as a JSON array, ready to place in the body without serializing again. */
  readonly json: string;
}

/** One record too large for a message: the caller stores it (in S3) and sends a reference. */
export interface ClaimCheck<T> {
  readonly claimCheck: T;
  /** Bytes of the record's JSON. */
  readonly bytes: number;
  readonly json: string;
}

export type PackedMessage<T> = RecordGroup<T> | ClaimCheck<T>;

/** True for a {@link ClaimCheck}. */
export function isClaimCheck<T>(packed: PackedMessage<T>): packed is ClaimCheck<T> {
  return 'claimCheck' in packed;
}

/** The length of every {@link messageKey}: 128 bits in base64url. */
export const MESSAGE_KEY_CHARS = 22;

/**
 * Bytes `text` takes at most inside a JSON string, whoever escapes it: a quote or backslash
 * takes two, a control character six (`\u001f`), and so does each UTF-16 unit outside ASCII
 * (an escaper may write `\u00e9` where UTF-8 needs two bytes). An upper bound, so that a body
 * counted by it fits however the event that carries it is written.
 */
export function escapedJsonBytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) bytes += 1;
    else if (c < 0x20 || c > 0x7e) bytes += 5;
  }
  return bytes;
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(`pack: ${name} must be an integer of at least ${min}, got ${value}`);
}

/** Bytes, and escaped bytes, of a message's body so far or of a record's JSON. */
interface Size {
  bytes: number;
  event: number;
}

/** The options' limits, checked, with the room one record has in a message. */
function packLimits(options: PackOptions) {
  const overhead = options.overheadBytes ?? 0;
  const eventOverhead = options.eventOverheadBytes ?? overhead;
  const maxEvent = options.maxEventBytes ?? Number.POSITIVE_INFINITY;
  requireInteger('maxRecords', options.maxRecords, 1);
  requireInteger('overheadBytes', overhead, 0);
  requireInteger('eventOverheadBytes', eventOverhead, overhead);
  requireInteger('maxBytes', options.maxBytes, overhead + 3);
  if (options.maxEventBytes !== undefined) requireInteger('maxEventBytes', maxEvent, eventOverhead + 3);
  const roomForOne = options.maxBytes - overhead - 2;
  const threshold = options.claimCheckThreshold ?? roomForOne;
  requireInteger('claimCheckThreshold', threshold, 1);
  if (threshold > roomForOne)
    throw new ConfigError(
      `pack: claimCheckThreshold ${threshold} exceeds the ${roomForOne} bytes one record can have in a ${options.maxBytes}-byte message`,
    );
  const empty: Size = { bytes: overhead + 2, event: eventOverhead + 2 };
  const fits = (size: Size) => size.bytes <= options.maxBytes && size.event <= maxEvent;
  const inline = (record: Size) => record.bytes <= threshold && record.event <= maxEvent - eventOverhead - 2;
  return { empty, fits, inline };
}

/**
 * Packs records into as few message bodies as the limits allow, greedily and in order, so
 * the same records always give the same groups (and so the same {@link messageKey}s when an
 * extract is retried). Each group's body, `overheadBytes` + `[r1,r2,…]`, is at most
 * `maxBytes` in UTF-8, at most `maxEventBytes` escaped as a JSON string, and holds at most
 * `maxRecords` records. A record above the claim check threshold, or too large escaped for a
 * message of its own, is returned alone as a {@link ClaimCheck}, in its place in the sequence,
 * and the group being filled stays open.
 * @throws ConfigError when the limits leave no room for any record.
 * @throws ValidationError when a record cannot be serialized to JSON.
 */
export function packRecords<T>(records: readonly T[], options: PackOptions): PackedMessage<T>[] {
  const { empty, fits, inline } = packLimits(options);
  const out: PackedMessage<T>[] = [];
  let group: T[] = [];
  let parts: string[] = [];
  let size = { ...empty };
  const flush = () => {
    if (group.length === 0) return;
    out.push({ records: group, bytes: size.bytes, eventBytes: size.event, json: `[${parts.join(',')}]` });
    group = [];
    parts = [];
    size = { ...empty };
  };

  records.forEach((record, index) => {
    const json = recordJson(record, index);
    const own = { bytes: Buffer.byteLength(json, 'utf8'), event: escapedJsonBytes(json) };
    if (!inline(own)) {
      out.push({ claimCheck: record, bytes: own.bytes, json });
      return;
    }
    const comma = group.length > 0 ? 1 : 0;
    const grown = { bytes: size.bytes + own.bytes + comma, event: size.event + own.event + comma };
    if (group.length >= options.maxRecords || !fits(grown)) {
      flush();
      size = { bytes: size.bytes + own.bytes, event: size.event + own.event };
    } else size = grown;
    group.push(record);
    parts.push(json);
  });
  flush();
  return out;
}

function recordJson(record: unknown, index: number): string {
  try {
    return stringifyExactJson(record);
  } catch (error) {
    throw new ValidationError(
      `pack: record ${index} cannot be serialized to JSON`,
      [{ path: `[${index}]`, message: 'not serializable' }],
      { cause: error },
    );
  }
}

/** What {@link messageKey} needs of a record. */
export interface KeyedVersion {
  readonly key: string;
  readonly version: string;
}

/**
 * A deterministic id for a group of records within a scope (a run id, or a stream id for
 * pushed changes): the first 128 bits of SHA-256, base64url (22 characters), over the scope
 * and the records' (key, version) pairs, sorted. A retried extract that produces the same
 * records produces the same key, in whatever order, so downstream deduplication (ledger,
 * S3 object keys, Idempotency-Key) recognises it.
 */
export function messageKey(scope: string, records: readonly KeyedVersion[]): string {
  return keyOfPairs(scope, JSON.stringify(sortedPairs(records)));
}

const comparePairs = (a: readonly [string, string], b: readonly [string, string]) =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;

function sortedPairs(records: readonly KeyedVersion[]): [string, string][] {
  return records.map((r): [string, string] => [r.key, r.version]).sort(comparePairs);
}

/** {@link messageKey} of the pairs serialized as JSON: the text hashed is `[scope, pairs]`. */
function keyOfPairs(scope: string, pairsJson: string): string {
  return createHash('sha256')
    .update(`[${JSON.stringify(scope)},${pairsJson}]`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/** What {@link contentDigest} needs of a record. */
export interface HashedChange extends KeyedVersion {
  readonly op: string;
  readonly hash: string;
}

/** A group's {@link messageKey} in each scope asked, and its {@link contentDigest} when asked. */
export interface GroupIdentity {
  readonly keys: string[];
  readonly content?: string;
}

/**
 * The {@link messageKey}s of a group of records in each of `scopes` and, given the pipeline's
 * `fingerprint`, its {@link contentDigest}, from one sort of its records: Extract needs the key
 * in its run, the key in the vouching run and the digest of every message it sends.
 */
export function groupIdentity(
  records: readonly HashedChange[],
  scopes: readonly string[],
  fingerprint?: string,
): GroupIdentity {
  const changes = records.map((r) => ({ r, text: `${r.key}\u0000${r.op}\u0000${r.version}\u0000${r.hash}` }));
  changes.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  // Sorted by key already, the pairs need at most a pass to order a key's versions.
  const pairs = changes.map(({ r }): [string, string] => [r.key, r.version]).sort(comparePairs);
  const pairsJson = JSON.stringify(pairs);
  const keys = scopes.map((scope) => keyOfPairs(scope, pairsJson));
  if (fingerprint === undefined) return { keys };
  const content = createHash('sha256')
    .update(JSON.stringify([fingerprint, changes.map(({ r }) => [r.key, r.op, r.version, r.hash])]))
    .digest('base64url');
  return { keys, content };
}

/**
 * What a message would change in the target, as one digest: the pipeline's `fingerprint` (the
 * definition that decides what the same rows write) and each record's key, operation, version
 * and content hash, sorted. Two messages of equal digest apply the same changes.
 */
export function contentDigest(fingerprint: string, records: readonly HashedChange[]): string {
  return groupIdentity(records, [], fingerprint).content as string;
}

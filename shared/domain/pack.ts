import { createHash } from 'node:crypto';
import { ConfigError, ValidationError } from '../errors.ts';
import { stringifyExactJson } from '../records/exact-json.ts';

export interface PackOptions {
  /** Records per message at most. */
  readonly maxRecords: number;
  /** Bytes per message body at most, overhead included (SQS counts UTF-8 bytes). */
  readonly maxBytes: number;
  /**
   * Bytes of the message body around the records array (see {@link envelopeOverheadBytes}).
   * The array's brackets and commas are counted by {@link packRecords} itself.
   * @default 0
   */
  readonly overheadBytes?: number;
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

/**
 * Bytes a message body spends around its records array: the body serialized with an empty
 * array in `field`, minus the two bracket bytes that {@link packRecords} counts itself.
 * Build `wrapper` with values of their final length (e.g. a message key of the right size).
 */
export function envelopeOverheadBytes(wrapper: Readonly<Record<string, unknown>>, field = 'records'): number {
  return Buffer.byteLength(JSON.stringify({ ...wrapper, [field]: [] }), 'utf8') - 2;
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(`pack: ${name} must be an integer of at least ${min}, got ${value}`);
}

/**
 * Packs records into as few message bodies as the limits allow, greedily and in order, so
 * the same records always give the same groups (and so the same {@link messageKey}s when an
 * extract is retried). Each group's body, `overheadBytes` + `[r1,r2,…]`, is at most
 * `maxBytes` in UTF-8 and holds at most `maxRecords` records. A record above the claim
 * check threshold is returned alone as a {@link ClaimCheck}, in its place in the sequence,
 * and the group being filled stays open.
 * @throws ConfigError when the limits leave no room for any record.
 * @throws ValidationError when a record cannot be serialized to JSON.
 */
export function packRecords<T>(records: readonly T[], options: PackOptions): PackedMessage<T>[] {
  const overhead = options.overheadBytes ?? 0;
  requireInteger('maxRecords', options.maxRecords, 1);
  requireInteger('overheadBytes', overhead, 0);
  requireInteger('maxBytes', options.maxBytes, overhead + 3);
  const roomForOne = options.maxBytes - overhead - 2;
  const threshold = options.claimCheckThreshold ?? roomForOne;
  requireInteger('claimCheckThreshold', threshold, 1);
  if (threshold > roomForOne)
    throw new ConfigError(
      `pack: claimCheckThreshold ${threshold} exceeds the ${roomForOne} bytes one record can have in a ${options.maxBytes}-byte message`,
    );

  const out: PackedMessage<T>[] = [];
  let group: T[] = [];
  let parts: string[] = [];
  let bytes = overhead + 2;
  const flush = () => {
    if (group.length === 0) return;
    out.push({ records: group, bytes, json: `[${parts.join(',')}]` });
    group = [];
    parts = [];
    bytes = overhead + 2;
  };

  records.forEach((record, index) => {
    let json: string;
    try {
      json = stringifyExactJson(record);
    } catch (error) {
      throw new ValidationError(
        `pack: record ${index} cannot be serialized to JSON`,
        [{ path: `[${index}]`, message: 'not serializable' }],
        { cause: error },
      );
    }
    const size = Buffer.byteLength(json, 'utf8');
    if (size > threshold) {
      out.push({ claimCheck: record, bytes: size, json });
      return;
    }
    const added = size + (group.length > 0 ? 1 : 0);
    if (group.length >= options.maxRecords || bytes + added > options.maxBytes) flush();
    bytes += size + (group.length > 0 ? 1 : 0);
    group.push(record);
    parts.push(json);
  });
  flush();
  return out;
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

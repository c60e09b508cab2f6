import { createHash, hash as oneShotHash } from 'node:crypto';
import { canonicalNumberText, ExactNumber } from './exact-json.ts';

/** The hash every delete (tombstone) carries in place of a content hash. */
export const DELETED_HASH = 'deleted';

/** Objects with at most this many keys are sorted by insertion sort, measured faster than `Array.sort`. */
const INSERTION_SORT_MAX = 24;

/**
 * The last object shape sorted: records of one source share their field order, so the load
 * path sorts each shape once instead of once per record. A pure memo of a deterministic
 * function, never observable from outside.
 */
let lastKeys: readonly string[] = [];
let lastSorted: SortedKeys = { keys: [], members: [] };

interface SortedKeys {
  /** Own enumerable keys in code unit order, the order `Array.prototype.sort()` gives strings. */
  readonly keys: readonly string[];
  /** Each key as the start of a JSON member: `"key":`. */
  readonly members: readonly string[];
}

function sortedKeys(obj: object): SortedKeys {
  const keys = Object.keys(obj);
  const n = keys.length;
  if (n === lastKeys.length) {
    let same = true;
    for (let i = 0; i < n; i++)
      if (keys[i] !== lastKeys[i]) {
        same = false;
        break;
      }
    if (same) return lastSorted;
  }
  let sorted: string[];
  if (n > INSERTION_SORT_MAX) sorted = [...keys].sort();
  else {
    sorted = [...keys];
    for (let i = 1; i < n; i++) {
      const key = sorted[i] as string;
      let j = i - 1;
      while (j >= 0 && (sorted[j] as string) > key) {
        sorted[j + 1] = sorted[j] as string;
        j--;
      }
      sorted[j + 1] = key;
    }
  }
  lastKeys = keys;
  lastSorted = { keys: sorted, members: sorted.map((key) => `${JSON.stringify(key)}:`) };
  return lastSorted;
}

function objectJson(obj: Record<string, unknown>): string {
  const { keys, members } = sortedKeys(obj);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const value = obj[keys[i] as string];
    if (value === undefined) continue;
    out += (out.length === 1 ? '' : ',') + (members[i] as string) + canonicalJson(value);
  }
  return `${out}}`;
}

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped, so two
 * equal values always serialize to the same bytes whatever order their keys arrived in.
 * Non-finite numbers become `null`, big integers strings, dates their ISO-8601 text, and an
 * {@link ExactNumber} its canonical literal, the text the equal number would give.
 *
 * It runs on every record of the load path (often twice: the incoming data and the target's),
 * so it builds the text in one pass without intermediate arrays.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value.toString()}"`;
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
      // An invalid date is null, as JSON.stringify writes it.
      if (value instanceof Date)
        return Number.isNaN(value.getTime()) ? 'null' : JSON.stringify(value.toISOString());
      if (value instanceof ExactNumber) return canonicalNumberText(value);
      return objectJson(value as Record<string, unknown>);
    default:
      // undefined, functions and symbols have no JSON form.
      return 'null';
  }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Content hash of a record's data: the first 128 bits of SHA-256 over canonical JSON, in
 * base64url (22 characters). 128 bits keeps collisions out of reach while keeping the
 * attribute small, since it is stored on every target item.
 *
 * With the one-shot `crypto.hash` (Node 20.12+), the digest comes back as base64url text and is
 * cut to 128 bits there: measured twice as fast as `createHash`, whose per-call setup costs more
 * than hashing a 1 KB record. 22 characters hold 132 bits, so the last one keeps only the two
 * bits of byte 16 it encodes, exactly as encoding the 16 bytes alone would.
 */
export function contentHash(data: unknown): string {
  const text = canonicalJson(data);
  if (typeof oneShotHash !== 'function')
    return createHash('sha256').update(text).digest().subarray(0, 16).toString('base64url');
  const full = oneShotHash('sha256', text, 'base64url');
  return full.slice(0, 21) + BASE64URL[BASE64URL.indexOf(full.charAt(21)) & 0b110000];
}

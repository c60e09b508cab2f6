import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped, so two
 * equal values always serialize to the same bytes whatever order their keys arrived in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    return JSON.stringify(value) ?? 'null';
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * Content hash of a record's data: the first 128 bits of SHA-256 over canonical JSON, in
 * base64url (22 characters). 128 bits keeps collisions out of reach while keeping the
 * attribute small, since it is stored on every target item.
 */
export function contentHash(data: unknown): string {
  return createHash('sha256').update(canonicalJson(data)).digest().subarray(0, 16).toString('base64url');
}

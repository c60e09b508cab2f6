/**
 * Brings a record's data to plain JSON values (Date → ISO-8601 string, bigint → decimal string,
 * NaN and infinities → null, undefined members dropped), the same reading `canonicalJson` gives them when hashing. Targets
 * store this form, so what Verify reads back hashes like what was sent.
 */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : toJsonValue(v)));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonValue(v);
  return out;
}

/** {@link toJsonValue} for a record's top-level data object. */
export function toJsonRecord(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return toJsonValue(data) as Record<string, unknown>;
}

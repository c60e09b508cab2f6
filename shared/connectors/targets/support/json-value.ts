import { exactNumber, isExactNumber } from '../../../records/exact-json.ts';

/**
 * Brings a record's data to the canonical JSON values every target stores (see
 * docs/type-mapping.md): Date → ISO-8601 string, bigint → exact number, NaN and the infinities →
 * the strings "NaN", "Infinity", "-Infinity", {@link ExactNumber}s kept as they are, undefined
 * members dropped. Targets store this form, so what Verify reads back hashes like what was sent.
 */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return exactNumber(value.toString());
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value === null || typeof value !== 'object' || isExactNumber(value)) return value;
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

/** Reads one field of a record; `undefined` when absent. */
export type FieldGetter = (data: Readonly<Record<string, unknown>>) => unknown;

/**
 * Compiles a field name into a getter, once per rule rather than per record. A dotted name
 * (`address.city`, `items.0.sku`) walks nested objects and arrays; a top-level field whose
 * name itself contains dots wins over the nested reading, so sources with such column
 * names keep working. Only own properties are read: a field called `constructor` or
 * `__proto__` never reaches the prototype.
 */
export function compileFieldPath(field: string): FieldGetter {
  if (!field.includes('.')) return (data) => (Object.hasOwn(data, field) ? data[field] : undefined);
  const segments = field.split('.');
  return (data) => {
    if (Object.hasOwn(data, field)) return data[field];
    let current: unknown = data;
    for (const segment of segments) {
      if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment))
        return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
    return current;
  };
}

/** Reads a (possibly dotted) field once; prefer {@link compileFieldPath} on hot paths. */
export function getField(data: Readonly<Record<string, unknown>>, field: string): unknown {
  return compileFieldPath(field)(data);
}

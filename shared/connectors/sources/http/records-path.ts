/**
 * A pointer into a JSON page, JMESPath-style but only the part APIs need: dotted member
 * names with optional array indexes, e.g. `data.items`, `results[0].rows`. Empty: the page
 * itself. Returns `undefined` when a step is missing.
 */
export function readRecordsPath(body: unknown, path: string): unknown {
  if (path === '') return body;
  let current: unknown = body;
  for (const segment of path.split('.')) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(segment);
    if (!match) return undefined;
    const [, name, indexes] = match;
    if (name) {
      if (
        typeof current !== 'object' ||
        current === null ||
        Array.isArray(current) ||
        !Object.hasOwn(current, name)
      )
        return undefined;
      current = (current as Record<string, unknown>)[name];
    }
    for (const index of (indexes ?? '').matchAll(/\[(\d+)\]/g)) {
      if (!Array.isArray(current)) return undefined;
      current = current[Number(index[1])];
    }
  }
  return current;
}

/** Checks a pointer's syntax, for config validation. */
export function isRecordsPath(path: string): boolean {
  return (
    path === '' || path.split('.').every((segment) => /^[^[\]]*(\[\d+\])*$/.test(segment) && segment !== '')
  );
}

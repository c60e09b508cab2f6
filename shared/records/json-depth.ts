/**
 * DynamoDB nests documents at most 32 levels deep, and recursive serializers (canonical JSON,
 * JSON.stringify) overflow the stack on bodies thousands of levels deep. Input is checked
 * against this bound once, at the edge, without recursion.
 */
export const MAX_JSON_DEPTH = 32;

/** Nesting depth of a parsed JSON value (a scalar is 0), stopping as soon as it exceeds `limit`. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: unknown; depth: number };
    if (current === null || typeof current !== 'object') continue;
    const next = depth + 1;
    if (next > deepest) deepest = next;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(current) ? current : Object.values(current))
      stack.push({ value: child, depth: next });
  }
  return deepest;
}

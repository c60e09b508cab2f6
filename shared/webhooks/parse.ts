import type { z } from 'zod';
import { type Issue, ValidationError } from '../errors.ts';

/** Issues a ValidationError carries at most, so a huge malformed payload cannot make a huge error. */
const MAX_ISSUES = 10;

/** Zod issues as ESync issues, their paths prefixed with where the parsed value sits (e.g. `body`). */
export function issuesOf(error: z.ZodError, prefix: string): Issue[] {
  return error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
      .filter((p) => p !== '')
      .join('.')
      .replaceAll('.[', '['),
    message: issue.message,
  }));
}

/**
 * Parses untrusted input at the edge. On failure, a ValidationError whose message names `what`
 * and the first wrong fields (paths, never values, so no payload leaks into logs).
 */
export function parseAtEdge<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  prefix = '',
  params?: z.core.ParseContext<z.core.$ZodIssue>,
): z.infer<S> {
  const result = schema.safeParse(value, params);
  if (result.success) return result.data;
  const issues = issuesOf(result.error, prefix);
  const summary = issues
    .slice(0, 3)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
  throw new ValidationError(`${what} is malformed: ${summary}`, issues);
}

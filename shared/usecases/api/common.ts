import * as z from 'zod';
import { type Issue, ValidationError } from '../../errors.ts';
import { decodePageCursor, encodePageCursor } from '../../state/items.ts';
import type { Deps } from '../deps.ts';

/** One management call, as the API edge (API Gateway or the local server) hands it over. */
export interface ManagementRequest {
  readonly method: string;
  /** Request path, percent-encoded as sent (`/runs/users-sync-20250101T000000Z-a1b2c3`). */
  readonly path: string;
  /**
   * Path parameters as the edge decoded them. Informational only: the router takes parameters
   * from `path` itself, so API Gateway and the local server, which may decode differently,
   * route the same way.
   */
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Raw request body (JSON), already base64-decoded. */
  readonly body?: string | undefined;
  /** Who calls: the IAM principal ARN, or `local:<user>` on the local stack. */
  readonly principal: string;
  /** Id of the request at the edge; echoed in 500 answers so the log line can be found. */
  readonly requestId?: string;
}

export interface ManagementResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Headers beyond `content-type`, e.g. `retry-after` on a 409, 429 or 503. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a route handler gets: dependencies, the request, decoded path parameters, parsed body. */
export interface RouteContext {
  readonly deps: Deps;
  readonly request: ManagementRequest;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The body parsed as JSON (`undefined` when there is none). */
  readonly body: unknown;
  readonly principal: string;
}

/** Dotted path of a zod issue (`records[0].key`). */
function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === 'number') return `${text}[${part}]`;
    return text === '' ? String(part) : `${text}.${String(part)}`;
  }, '');
}

/** Zod issues in our {@link Issue} form; an issue about the whole input is placed at `root`. */
export function zodIssues(error: z.ZodError, root = '(body)'): Issue[] {
  return error.issues.map((issue) => ({ path: issuePath(issue.path) || root, message: issue.message }));
}

/**
 * Parses a request part (`body`, `query`) with a zod schema.
 * @throws ValidationError naming every bad field (answered 400).
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: 'body' | 'query',
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = zodIssues(result.error, `(${what})`);
  throw new ValidationError(
    `invalid request ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
    { cause: result.error },
  );
}

/**
 * Appends the audit entry of a mutating call made by `ctx.principal`, kept the pipeline's
 * `retention.auditDays` (the schema default for a pipeline no longer deployed).
 */
export async function audit(
  ctx: RouteContext,
  pipeline: string,
  action: string,
  what: Record<string, unknown>,
  why: string,
): Promise<void> {
  await ctx.deps.state.audit.append(
    { pipeline, who: ctx.principal, at: ctx.deps.now().toISOString(), action, what, why },
    ctx.deps.catalog.retentionOf(pipeline).auditDays,
  );
}

/** AWS error name, for mapping a few service errors to user-facing ones. */
export function awsErrorName(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

/**
 * Reads a page cursor (`after`), the base64url JSON that {@link encodeCursor} wrote.
 * @throws ValidationError when it is not one (answered 400).
 */
export function decodeCursor<T extends z.ZodType>(schema: T, cursor: string): z.infer<T> {
  try {
    return schema.parse(decodePageCursor(cursor));
  } catch (error) {
    throw new ValidationError(
      'after is not a cursor returned as `next` by a previous page',
      [{ path: 'after', message: 'not a cursor from a previous page' }],
      { cause: error },
    );
  }
}

/** An opaque page cursor: the `next` of a listing, given back as `after`. */
export const encodeCursor = encodePageCursor;

const beforeCursor = z.strictObject({ before: z.string().min(1) });

/**
 * The sort key a listing newest first (runs of every pipeline, the audit trail) resumes before,
 * read from its `after` cursor; undefined for the first page.
 * @throws ValidationError when the cursor is not one {@link cursorBefore} wrote
 */
export const resumeBefore = (after: string | undefined): string | undefined =>
  after === undefined ? undefined : decodeCursor(beforeCursor, after).before;

/** The `after` cursor of the page that follows one ending at sort key `last`; null when none follows. */
export const cursorBefore = (last: string | undefined): string | null =>
  last === undefined ? null : encodeCursor({ before: last });

import * as z from 'zod';
import { formatInstant, parseIsoInstant } from '../../domain/instant.ts';
import { ValidationError } from '../../errors.ts';
import {
  cursorBefore,
  type ManagementResponse,
  parseInput,
  type RouteContext,
  resumeBefore,
} from './common.ts';

/** An ISO-8601 time in the form audit entries are stored in (`toISOString()`), so they compare as text. */
const auditTime = (name: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const instant = parseIsoInstant(text);
      if (instant !== undefined) return formatInstant(instant, 3);
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got "${text}"`,
      });
      return z.NEVER;
    })
    .optional();

const auditQuery = z.strictObject({
  pipeline: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
  actor: z.string().min(1).optional(),
  since: auditTime('since'),
  until: auditTime('until'),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  after: z.string().min(1).optional(),
});

/**
 * `GET /audit?pipeline=&action=&actor=&since=&until=&limit=&after=`: audit entries newest first.
 * `actor` matches any principal containing it; `since` is inclusive, `until` exclusive; `next`
 * is the cursor of the following page (give it back as `after` with the same filters).
 */
export async function listAudit(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(auditQuery, ctx.query, 'query');
  if (query.since !== undefined && query.until !== undefined && query.since >= query.until)
    throw new ValidationError(`since (${query.since}) must be before until (${query.until})`, [
      { path: 'since', message: 'not before until' },
    ]);
  const before = resumeBefore(query.after);
  const page = await ctx.deps.state.audit.page({
    pipeline: query.pipeline,
    action: query.action,
    actor: query.actor,
    since: query.since,
    until: query.until,
    before,
    limit: query.limit,
  });
  return {
    status: 200,
    body: {
      entries: page.entries,
      next: cursorBefore(page.next),
    },
  };
}

import * as z from 'zod';
import { keepsHistory } from '../../connectors/targets/change-archive.ts';
import { recordHistory as readRecordHistory } from '../../connectors/targets/s3/history.ts';
import { isIsoTimestamp } from '../../domain/instant.ts';
import { ValidationError } from '../../errors.ts';
import { type ManagementResponse, parseInput, type RouteContext } from './common.ts';

const historyQuery = z.strictObject({
  at: z
    .string()
    .refine(isIsoTimestamp, { error: 'at must be an ISO-8601 timestamp, e.g. 2025-01-31T12:00:00Z' })
    .optional(),
});

/**
 * `GET /pipelines/{name}/records/{key}/history?at=`: the archived changes of one record, oldest
 * first, and the record as it was at `at` (default: now): an s3 lake target's, or any target's
 * whose pipeline sets `retention.keepHistory` (connectors/targets/change-archive.ts).
 */
export async function recordHistory(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(historyQuery, ctx.query, 'query');
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  if (!keepsHistory(pipeline))
    throw new ValidationError(
      `pipeline "${pipeline.name}" writes to a ${pipeline.target.type} target, which keeps only the current version of a record, and archives no history of it: set retention.keepHistory: true in its pipeline file to archive each change from then on`,
      [{ path: 'name', message: 'retention.keepHistory is off' }],
    );
  const history = await readRecordHistory(
    ctx.deps.connectorContext(pipeline),
    pipeline.name,
    ctx.params.key ?? '',
    query.at,
  );
  return { status: 200, body: { ...history } };
}

import * as z from 'zod';
import { recordHistory as readRecordHistory } from '../connectors/targets/s3/history.ts';
import { isIsoTimestamp } from '../domain/instant.ts';
import { ValidationError } from '../errors.ts';
import { type ManagementResponse, parseInput, type RouteContext } from './api-common.ts';

const historyQuery = z.strictObject({
  at: z
    .string()
    .refine(isIsoTimestamp, { error: 'at must be an ISO-8601 timestamp, e.g. 2025-01-31T12:00:00Z' })
    .optional(),
});

/**
 * `GET /pipelines/{name}/records/{key}/history?at=`: the changes of one record that the s3 (data
 * lake) target archived, oldest first, and the record as it was at `at` (default: now). Other
 * targets keep only the current version, which is answered 400.
 */
export async function recordHistory(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(historyQuery, ctx.query, 'query');
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  if (pipeline.target.type !== 's3')
    throw new ValidationError(
      `pipeline "${pipeline.name}" writes to a ${pipeline.target.type} target, which keeps only the current version of a record; history is kept by s3 (data lake) targets`,
      [{ path: 'name', message: `target type ${pipeline.target.type} keeps no history` }],
    );
  const history = await readRecordHistory(
    { clients: ctx.deps.clients, dataBucket: ctx.deps.config.dataBucket, retry: pipeline.retry },
    pipeline.name,
    ctx.params.key ?? '',
    query.at,
  );
  return { status: 200, body: { ...history } };
}

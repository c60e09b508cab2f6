import * as z from 'zod';
import { ValidationError } from '../../errors.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { audit, type ManagementResponse, parseInput, type RouteContext } from './common.ts';

/** `GET /pipelines/{name}/checkpoint`: where the next batch run starts (null: from the beginning). */
export async function getCheckpoint(ctx: RouteContext): Promise<ManagementResponse> {
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  const checkpoint = await ctx.deps.state.checkpoints.get(pipeline.name);
  return {
    status: 200,
    body: { pipeline: pipeline.name, cursorFields: pipeline.source.cursor, checkpoint: checkpoint ?? null },
  };
}

const cursorSchema = z.strictObject(
  {
    values: z.array(z.union([z.string(), z.number()])),
    key: z.string().min(1),
  },
  {
    error: (issue) =>
      issue.input === undefined
        ? 'cursor is required: the new cursor {values, key}, or null to start from the beginning'
        : 'cursor must be {values: [...], key: "..."} or null',
  },
);

const resetBody = z.strictObject(
  {
    cursor: cursorSchema.nullable(),
    reason: z
      .string({ error: 'reason is required: say why the checkpoint is reset' })
      .trim()
      .min(1, { error: 'reason must not be empty: say why the checkpoint is reset' }),
  },
  { error: 'the body must be a JSON object {cursor, reason}' },
);

function checkCursorShape(pipeline: Pipeline, cursor: z.infer<typeof cursorSchema>): void {
  const fields = pipeline.source.cursor;
  if (fields.length === 0)
    throw new ValidationError(
      `pipeline "${pipeline.name}" reads in full (no source.cursor fields); its checkpoint can only be reset to null`,
      [{ path: 'cursor', message: 'only null is allowed for a full-read pipeline' }],
    );
  if (cursor.values.length !== fields.length)
    throw new ValidationError(
      `cursor.values needs one value per cursor field (${fields.join(', ')}), got ${cursor.values.length}`,
      [{ path: 'cursor.values', message: `expected ${fields.length} values (${fields.join(', ')})` }],
    );
}

/**
 * `PUT /pipelines/{name}/checkpoint` `{cursor | null, reason}`: sets where the next run starts.
 * The reason is required and lands in the audit trail with the previous cursor, so a reset can
 * be undone by hand.
 */
export async function resetCheckpoint(ctx: RouteContext): Promise<ManagementResponse> {
  const body = parseInput(resetBody, ctx.body, 'body');
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  if (body.cursor !== null) checkCursorShape(pipeline, body.cursor);
  const previous = await ctx.deps.state.checkpoints.get(pipeline.name);
  const checkpoint = {
    pipeline: pipeline.name,
    cursor: body.cursor,
    setBy: 'reset',
    updatedAt: ctx.deps.now().toISOString(),
    reason: body.reason,
  };
  await ctx.deps.state.checkpoints.put(checkpoint);
  await audit(
    ctx,
    pipeline.name,
    'checkpoint.reset',
    { from: previous?.cursor ?? null, to: body.cursor, previousSetBy: previous?.setBy ?? null },
    body.reason,
  );
  return { status: 200, body: { pipeline: pipeline.name, checkpoint, previous: previous ?? null } };
}

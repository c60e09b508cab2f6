import * as z from 'zod';
import { isUtcDay } from '../../domain/instant.ts';
import { runCountsOf } from '../../domain/run-counts.ts';
import { keys } from '../../state/keys.ts';
import { type ManagementResponse, parseInput, type RouteContext } from './common.ts';

const streamQuery = z.strictObject({
  day: z.string().refine(isUtcDay, { error: 'day must be a UTC date such as 2025-01-31' }).optional(),
});

/**
 * `GET /pipelines/{name}/stream?day=YYYY-MM-DD`: what the pipeline's change stream (CDC events,
 * webhook deliveries, Kafka records) did on one UTC day, today by default, summed from the
 * message ledger: the records' outcomes, the events that changed no row by kind (tombstones,
 * heartbeats, transaction markers), fields left as stored because the change did not carry them
 * (Debezium's unavailable value), version ties (and how many were read again at the source), and messages not yet completed. It reads every
 * ledger entry of that day, so its cost grows with the day's messages.
 */
export async function getStream(ctx: RouteContext): Promise<ManagementResponse> {
  const pipeline = ctx.deps.catalog.get(ctx.params.name ?? '');
  const query = parseInput(streamQuery, ctx.query, 'query');
  const day = query.day ?? ctx.deps.now().toISOString().slice(0, 10);
  const totals = await ctx.deps.state.ledger.totals(keys.ledgerScopeOfStream(pipeline.name, day));
  return {
    status: 200,
    body: {
      pipeline: pipeline.name,
      day,
      counts: runCountsOf(totals),
      ignored: totals.ignored,
      unavailableFields: totals.unavailableFields,
      ties: totals.ties,
      tiesReread: totals.tiesReread,
      messages: totals.messages,
      pendingMessages: totals.pendingMessages,
      excludedKeys: totals.excludedKeys.length,
    },
  };
}

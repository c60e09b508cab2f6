import * as z from 'zod';

/** Changes arriving as events on the ESync bus (see triggers.cdc). */
export const cdcSourceConfigSchema = z.strictObject({
  type: z.literal('cdc'),
  format: z
    .enum(['debezium', 'esync'])
    .default('debezium')
    .describe('debezium: {before, after, op, source, ts_ms}; esync: our own esync.change event.'),
});

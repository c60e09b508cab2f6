import * as z from 'zod';

/** Plain records on Kafka topics (see triggers.kafka); a batch run has nothing to read. */
export const kafkaSourceConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  format: z
    .enum(['json'])
    .default('json')
    .describe(
      'How record values are encoded. json: a value is one record (an object) or an array of them, numbers kept exact.',
    ),
});

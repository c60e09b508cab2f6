import * as z from 'zod';

/** Changes pushed by webhook deliveries only (see triggers.webhook); there is nothing to read in a batch run. */
export const webhookSourceConfigSchema = z.strictObject({
  type: z.literal('webhook'),
  mapping: z
    .enum(['github', 'json'])
    .default('json')
    .describe(
      'github: map GitHub events (issues, issue_comment, push) to records; json: the body is one record or an array.',
    ),
});

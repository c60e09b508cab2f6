import * as z from 'zod';

/** Writes partitioned JSON Lines (a data lake) plus a change archive. */
export const s3TargetConfigSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().min(3).max(63).optional().describe('Bucket to write. @default - the ESync data bucket'),
  prefix: z
    .string()
    .default('lake/')
    .describe('Key prefix; objects go under <prefix><pipeline>/dt=YYYY-MM-DD/.'),
});

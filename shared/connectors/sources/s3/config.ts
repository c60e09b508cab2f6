import * as z from 'zod';

/** Reads JSON Lines or CSV objects (optionally gzip) under a prefix, incrementally by (LastModified, key). */
export const s3SourceConfigSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().min(3).max(63).optional().describe('Bucket to read. @default - the ESync data bucket'),
  prefix: z.string().default('').describe('Key prefix of the objects to read.'),
  format: z.enum(['jsonl', 'csv']).default('jsonl').describe('Object format.'),
  compression: z
    .enum(['auto', 'none', 'gzip'])
    .default('auto')
    .describe('auto: gzip when the key ends in .gz.'),
  pageSize: z.int().min(1).max(10_000).default(1000).describe('Records per page handed to Extract.'),
});

import * as z from 'zod';
import { httpUrlSchema, secretRefSchema } from '../../common-config.ts';
import { isRecordsPath } from './records-path.ts';

/** Reads a generic paginated JSON API. */
export const httpSourceConfigSchema = z.strictObject({
  type: z.literal('http'),
  url: httpUrlSchema.describe('URL of the first page.'),
  recordsPath: z
    .string()
    .refine(isRecordsPath, 'a dotted path with optional indexes, such as data.items or results[0].rows')
    .default('')
    .describe('Dotted path to the records array in a page (e.g. data.items); empty: the page is the array.'),
  pagination: z
    .discriminatedUnion('type', [
      z.strictObject({
        type: z.literal('cursor'),
        param: z.string().default('cursor'),
        cursorPath: z.string().describe('Dotted path to the next cursor in a page.'),
      }),
      z.strictObject({
        type: z.literal('page'),
        param: z.string().default('page'),
        sizeParam: z.string().default('per_page'),
        size: z.int().min(1).default(100),
      }),
      z.strictObject({ type: z.literal('link') }),
    ])
    .default({ type: 'link' })
    .describe('How to reach the next page.'),
  sinceParam: z
    .string()
    .optional()
    .describe('Query parameter that takes the cursor value for incremental reads.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (no secrets here).'),
  auth: secretRefSchema.optional().describe('Secret holding a bearer token. @default - no authentication'),
});

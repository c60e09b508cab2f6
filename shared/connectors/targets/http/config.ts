import * as z from 'zod';
import { secretRefSchema } from '../../common-config.ts';

/** PUTs each record to (and DELETEs it from) an HTTP API with an Idempotency-Key. */
export const httpTargetConfigSchema = z.strictObject({
  type: z.literal('http'),
  url: z
    .string()
    .regex(/^https?:\/\/.*\{key\}/, 'the URL must start with http(s):// and hold a {key} placeholder')
    .describe('URL template of one record, e.g. https://api.example.com/users/{key}.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (no secrets here).'),
  auth: secretRefSchema.optional().describe('Secret holding a bearer token. @default - no authentication'),
  timeoutMs: z.int().min(100).max(60_000).default(10_000).describe('Per-request timeout.'),
  concurrency: z.int().min(1).max(64).default(8).describe('Requests in flight at once, to protect the API.'),
  readState: z
    .enum(['none', 'get'])
    .default('none')
    .describe(
      'none: the API keeps no ESync state, every change is sent (the Idempotency-Key makes repeats harmless); get: GET each key before writing, the body is the record and an ESync-Version response header its version.',
    ),
});

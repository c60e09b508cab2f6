import * as z from 'zod';
import { httpUrlSchema, secretRefSchema } from '../../common-config.ts';

/** Reads issues, pull requests or comments of one repository through the GitHub REST API. */
export const githubSourceConfigSchema = z.strictObject({
  type: z.literal('github'),
  owner: z.string().min(1).describe('Repository owner (user or organization).'),
  repo: z.string().min(1).describe('Repository name.'),
  resource: z.enum(['issues', 'pulls', 'comments']).default('issues').describe('What to read.'),
  token: secretRefSchema
    .optional()
    .describe('Secret holding a token. @default - anonymous (60 requests/hour)'),
  baseUrl: httpUrlSchema.default('https://api.github.com').describe('API base URL (GitHub Enterprise).'),
  pageSize: z.int().min(1).max(100).default(100).describe('Items per page (per_page).'),
});

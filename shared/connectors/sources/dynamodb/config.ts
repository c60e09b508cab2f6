import * as z from 'zod';

/** Reads a whole DynamoDB table with parallel scan segments. */
export const dynamodbSourceConfigSchema = z.strictObject({
  type: z.literal('dynamodb'),
  table: z.string().min(3).max(255).describe('Table to scan.'),
  segments: z.int().min(1).max(64).default(4).describe('Parallel scan segments (one partition each).'),
  pageSize: z.int().min(1).max(10_000).default(1000).describe('Items per scan request (Limit).'),
});

import * as z from 'zod';
import { databaseConnectionSchema, sqlIdentifierSchema } from '../../common-config.ts';

/** Reads a PostgreSQL table incrementally by its composite cursor (cursor columns, key). */
export const postgresSourceConfigSchema = z.strictObject({
  type: z.literal('postgres'),
  connection: databaseConnectionSchema,
  schema: sqlIdentifierSchema.default('public').describe('Schema holding the table.'),
  table: sqlIdentifierSchema.describe('Table to read.'),
  columns: z.array(sqlIdentifierSchema).optional().describe('Columns to read. @default - every column'),
  pageSize: z.int().min(1).max(10_000).default(1000).describe('Rows per keyset page.'),
  poolSize: z
    .int()
    .min(1)
    .max(50)
    .default(4)
    .describe('Connections kept open at most (an embedded PGlite serves one at a time: use 1).'),
});

import * as z from 'zod';
import { databaseConnectionSchema, sqlIdentifierSchema } from '../../common-config.ts';

/** Reads a MySQL table incrementally by its composite cursor (cursor columns, key). */
export const mysqlSourceConfigSchema = z.strictObject({
  type: z.literal('mysql'),
  connection: databaseConnectionSchema,
  database: sqlIdentifierSchema
    .optional()
    .describe('Database holding the table. @default - the database named in the secret'),
  table: sqlIdentifierSchema.describe('Table to read.'),
  columns: z.array(sqlIdentifierSchema).optional().describe('Columns to read. @default - every column'),
  pageSize: z.int().min(1).max(10_000).default(1000).describe('Rows per keyset page.'),
});

import * as z from 'zod';
import { databaseConnectionSchema, sqlIdentifierSchema } from '../../common-config.ts';

/** Upserts rows into a PostgreSQL table, version-gated per key. */
export const postgresTargetConfigSchema = z.strictObject({
  type: z.literal('postgres'),
  connection: databaseConnectionSchema,
  schema: sqlIdentifierSchema.default('public').describe('Schema holding the table.'),
  table: sqlIdentifierSchema.describe(
    'Table to write; created when missing (key, data jsonb, version, hash).',
  ),
  mode: z
    .enum(['jsonb', 'columns'])
    .default('columns')
    .describe('columns: one column per field (the table must exist); jsonb: the record in a data column.'),
});

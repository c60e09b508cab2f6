import * as z from 'zod';

/** Writes items to a DynamoDB table, version-gated per key. */
export const dynamodbTargetConfigSchema = z.strictObject({
  type: z.literal('dynamodb'),
  table: z
    .string()
    .min(3)
    .max(255)
    .optional()
    .describe(
      'Existing table to write. @default - a table ESync creates and owns, esync-<stage>-<pipeline>-target',
    ),
  keyAttribute: z.string().min(1).default('pk').describe('Partition key attribute holding the record key.'),
  batchInserts: z
    .boolean()
    .default(true)
    .describe(
      'Insert the keys Load expects absent (a first load, or keys its state read did not find) 25 per request, pooled across the messages of one Load invocation, as PartiQL INSERTs (BatchExecuteStatement; Load is granted dynamodb:PartiQLInsert on the table only when true); a key found taken falls back to the version-gated PutItem. false sends one conditional PutItem per record: the same write units, 25 times the requests.',
    ),
});

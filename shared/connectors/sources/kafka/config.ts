import * as z from 'zod';

/** Plain records on Kafka topics (see triggers.kafka); a batch run has nothing to read. */
export const kafkaSourceConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  format: z
    .enum(['json', 'avro', 'protobuf'])
    .default('json')
    .describe(
      'How record values are encoded. json: a value is one record (an object) or an array of them, numbers kept exact; avro / protobuf: one record in the plain binary encoding of `schema`, decoded by Powertools’ Kafka utility (a Confluent registry’s framing is removed by the event source where triggers.kafka.schemaRegistry names the registry).',
    ),
  schema: z
    .string()
    .min(1)
    .optional()
    .describe(
      'avro and protobuf only: the schema of the values, the one the topic’s schema registry holds: the Avro schema (JSON text) or the .proto text.',
    ),
  messageType: z
    .string()
    .min(1)
    .optional()
    .describe('protobuf only: the message type of the values, with its package (e.g. shop.Order).'),
});

export type KafkaSourceConfig = z.infer<typeof kafkaSourceConfigSchema>;

/**
 * What a kafka source's format needs and refuses: a schema for avro and protobuf, a message type
 * for protobuf only. Whether the schema compiles is checked where pipeline files are loaded
 * (`kafka/schema-values.ts`), so the functions parsing a pipeline carry no Avro or Protobuf code.
 */
export function kafkaValueShapeIssues(
  source: Pick<KafkaSourceConfig, 'format' | 'schema' | 'messageType'>,
): { path: 'schema' | 'messageType'; message: string }[] {
  const { format, schema, messageType } = source;
  if (format === 'json')
    return [
      ...(schema === undefined
        ? []
        : [{ path: 'schema' as const, message: 'is for avro and protobuf values' }]),
      ...(messageType === undefined
        ? []
        : [{ path: 'messageType' as const, message: 'is for protobuf values' }]),
    ];
  if (schema === undefined) return [{ path: 'schema', message: `${format} values need their schema` }];
  if (format === 'protobuf' && messageType === undefined)
    return [{ path: 'messageType', message: 'protobuf values need their message type (e.g. shop.Order)' }];
  if (format === 'avro' && messageType !== undefined)
    return [{ path: 'messageType', message: 'is for protobuf values' }];
  return [];
}

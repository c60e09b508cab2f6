import * as z from 'zod';
import { EsyncError, ValidationError } from '../errors.ts';
import { parseAtEdge } from '../webhooks/parse.ts';

/**
 * Lambda's Amazon MSK (`eventSource: "aws:kafka"`, `eventSourceArn`) and self-managed Kafka
 * (`eventSource: "SelfManagedKafka"`, `bootstrapServers`) events: records grouped by
 * `<topic>-<partition>`, keys and values base64-encoded; with a schema registry on the event
 * source, values carry the registry's schema id in `valueSchemaMetadata`.
 */

const schemaMetadataSchema = z.object({ dataFormat: z.string(), schemaId: z.string().optional() });

const kafkaRecordSchema = z.object({
  topic: z.string(),
  partition: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  timestamp: z.number().optional(),
  timestampType: z.string().optional(),
  key: z.string().nullish(),
  value: z.string().nullish(),
  headers: z.array(z.record(z.string(), z.array(z.number()))).nullish(),
  valueSchemaMetadata: schemaMetadataSchema.nullish(),
  keySchemaMetadata: schemaMetadataSchema.nullish(),
});

export const kafkaEventSchema = z.object({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.string().optional(),
  bootstrapServers: z.string().nullish(),
  records: z.record(z.string(), z.array(kafkaRecordSchema)),
});

export type KafkaEvent = z.infer<typeof kafkaEventSchema>;
export type KafkaRecord = z.infer<typeof kafkaRecordSchema>;

export interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** `<topic>:<partition>:<offset>`: unique and stable across redeliveries; the records' provenance. */
  readonly deliveryId: string;
}

/** The decoding of one Kafka record, or why it cannot be decoded. */
export type KafkaDecoded<T> =
  | (KafkaPosition & { readonly ok: true; readonly decoding: T })
  | (KafkaPosition & { readonly ok: false; readonly error: ValidationError });

/**
 * Decodes every record of a Kafka event with `decode`, one result per Kafka record in the
 * event's order; a record `decode` refuses (an EsyncError) is a failed result naming the record
 * by topic, partition and offset, so it can be quarantined alone.
 * @throws ValidationError when the event itself is not a Kafka event.
 */
export function decodeKafkaRecords<T>(
  event: unknown,
  decode: (record: KafkaRecord, position: KafkaPosition) => T,
): KafkaDecoded<T>[] {
  const parsed = parseAtEdge(kafkaEventSchema, event, 'kafka event');
  const results: KafkaDecoded<T>[] = [];
  for (const records of Object.values(parsed.records))
    for (const record of records) {
      const position: KafkaPosition = {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        deliveryId: `${record.topic}:${record.partition}:${record.offset}`,
      };
      try {
        results.push({ ...position, ok: true, decoding: decode(record, position) });
      } catch (error) {
        if (!(error instanceof EsyncError)) throw error;
        const issues = error instanceof ValidationError ? error.issues : [];
        const where = `kafka record ${record.topic}/${record.partition}@${record.offset}`;
        results.push({
          ...position,
          ok: false,
          error: new ValidationError(`${where}: ${error.message}`, issues, { cause: error }),
        });
      }
    }
  return results;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of a record's value.
 * @throws ValidationError when the value is not base64.
 */
export function valueBytes(value: string): Buffer {
  if (!BASE64.test(value))
    throw new ValidationError('the value is not base64', [{ path: 'value', message: 'not base64' }]);
  return Buffer.from(value, 'base64');
}

import { ValidationError } from '../errors.ts';
import type { SourceConfig } from '../pipeline/schema.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { parseExactJson } from '../records/exact-json.ts';
import { mapJsonDelivery } from '../webhooks/json.ts';
import { parseAtEdge } from '../webhooks/parse.ts';
import {
  decodeKafkaRecords,
  type KafkaDecoded,
  type KafkaRecord,
  kafkaEventSchema,
  valueBytes,
} from './event.ts';

export type KafkaSourceConfig = Extract<SourceConfig, { type: 'kafka' }>;

/** The records one Kafka record carries; none for a null value (a tombstone of a compacted topic). */
export type PlainKafkaDecoding =
  | { readonly kind: 'records'; readonly records: RecordEnvelope[] }
  | { readonly kind: 'ignored'; readonly ignored: 'tombstone' };

export interface PlainKafkaOptions {
  readonly pipeline: string;
  readonly source: KafkaSourceConfig;
  /** The version of records without a cursor value when a Kafka record carries no timestamp. */
  readonly now: Date;
}

const TOMBSTONE: PlainKafkaDecoding = { kind: 'ignored', ignored: 'tombstone' };

/**
 * Decodes every record of a Kafka event of plain values (`source.type: kafka`), one result per
 * Kafka record: JSON (numbers exact), or Avro / Protobuf by `source.schema`
 * (`schema-values.ts`). A value is mapped as a JSON webhook body is (`webhooks/json.ts`): the
 * key from `source.key`, the version from `source.cursor`, or, without a cursor, from the Kafka
 * record's timestamp with its topic, partition and offset as tie-break, so records of one
 * partition keep their order.
 * @throws ValidationError when the event itself is not a Kafka event.
 */
export async function decodePlainKafkaEvent(
  event: unknown,
  options: PlainKafkaOptions,
): Promise<KafkaDecoded<PlainKafkaDecoding>[]> {
  const { format, schema, messageType } = options.source;
  if (format === 'json' || schema === undefined)
    return decodeKafkaRecords(event, (record) => decodePlainRecord(record, options, jsonOf));
  const parsed = parseAtEdge(kafkaEventSchema, event, 'kafka event');
  // Imported here, so avro-js and protobufjs load with the first Avro or Protobuf batch only.
  const { schemaValuesOf } = await import('./schema-values.ts');
  const values = await schemaValuesOf(parsed, {
    format,
    schema,
    ...(messageType === undefined ? {} : { messageType }),
  });
  const decodedValue = (record: KafkaRecord) =>
    values.get(`${record.topic}:${record.partition}:${record.offset}`)?.();
  return decodeKafkaRecords(parsed, (record) => decodePlainRecord(record, options, decodedValue));
}

/** The JSON value of a record, its numbers exact. */
function jsonOf(record: KafkaRecord): unknown {
  return jsonValue(valueBytes(record.value ?? ''));
}

function decodePlainRecord(
  record: KafkaRecord,
  options: PlainKafkaOptions,
  decodedValue: (record: KafkaRecord) => unknown,
): PlainKafkaDecoding {
  if (record.value === null || record.value === undefined || record.value === '') return TOMBSTONE;
  const body = decodedValue(record);
  const offset = String(record.offset).padStart(20, '0');
  const records = mapJsonDelivery(
    {
      body,
      name: 'value',
      deliveryId: `${record.topic}:${record.partition}:${offset}`,
      receivedAt: record.timestamp === undefined ? options.now : new Date(record.timestamp),
    },
    { pipeline: options.pipeline, source: options.source },
  );
  return { kind: 'records', records };
}

/** A JSON value, its numbers exact. */
function jsonValue(bytes: Buffer): unknown {
  try {
    return parseExactJson(bytes.toString('utf8'));
  } catch {
    throw new ValidationError('the value is not JSON', [{ path: 'value', message: 'not JSON' }]);
  }
}

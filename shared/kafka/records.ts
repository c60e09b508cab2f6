import { ValidationError } from '../errors.ts';
import type { SourceConfig } from '../pipeline/schema.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { parseExactJson } from '../records/exact-json.ts';
import { mapJsonDelivery } from '../webhooks/json.ts';
import { decodeKafkaRecords, type KafkaDecoded, type KafkaRecord, valueBytes } from './event.ts';

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
 * Kafka record. A value is mapped as a JSON webhook body is (`webhooks/json.ts`): the key from
 * `source.key`, the version from `source.cursor`, or, without a cursor, from the Kafka record's
 * timestamp with its topic, partition and offset as tie-break, so records of one partition keep
 * their order.
 * @throws ValidationError when the event itself is not a Kafka event.
 */
export function decodePlainKafkaEvent(
  event: unknown,
  options: PlainKafkaOptions,
): KafkaDecoded<PlainKafkaDecoding>[] {
  return decodeKafkaRecords(event, (record) => decodePlainRecord(record, options));
}

function decodePlainRecord(record: KafkaRecord, options: PlainKafkaOptions): PlainKafkaDecoding {
  if (record.value === null || record.value === undefined || record.value === '') return TOMBSTONE;
  const body = jsonValue(valueBytes(record.value));
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

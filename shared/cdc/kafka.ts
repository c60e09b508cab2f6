import type { DebeziumSettings } from '../connectors/sources/cdc/config.ts';
import { ValidationError } from '../errors.ts';
import { decodeKafkaRecords, type KafkaDecoded, valueBytes } from '../kafka/event.ts';
import { parseExactJson } from '../records/exact-json.ts';
import { type DebeziumDecoding, decodeDebeziumMessage } from './debezium.ts';

/**
 * Debezium change events on Kafka topics (Amazon MSK or self-managed: `kafka/event.ts`).
 *
 * Why not Powertools' Kafka utility (`@aws-lambda-powertools/kafka`): its JSON deserializer
 * reads values with `JSON.parse`, which rounds numbers a double cannot hold (values must keep
 * their literals: {@link parseExactJson}), and on a value that is not JSON it logs the raw
 * base64 value, which may hold personal data, and hands on the text. The Load function needs
 * one outcome per Kafka record, so a poison record is quarantined alone; decoding base64 and
 * exact JSON is all there is to it.
 */

/** The decoding of one Kafka record (a tombstone is an ignored kind), or why it cannot be decoded. */
export type KafkaRecordResult = KafkaDecoded<DebeziumDecoding>;

export interface KafkaDecodeOptions {
  readonly pipeline: string;
  readonly keyFields: readonly string[];
  /** How the connector encodes values (`source.debezium`). @default - Debezium's defaults */
  readonly settings?: DebeziumSettings;
}

/**
 * Decodes every record of a Kafka event as a Debezium message, one result per Kafka record in
 * the event's order. A record with a null value (the tombstone Debezium sends after a delete,
 * for log compaction) is an ignored `tombstone`, as on the bus.
 * @throws ValidationError when the event itself is not a Kafka event.
 */
export function decodeKafkaEvent(event: unknown, options: KafkaDecodeOptions): KafkaRecordResult[] {
  return decodeKafkaRecords(event, (record, position) =>
    decodeValue(record.value, options, position.deliveryId),
  );
}

const TOMBSTONE: DebeziumDecoding = { kind: 'ignored', ignored: 'tombstone' };

function decodeValue(
  value: string | null | undefined,
  options: KafkaDecodeOptions,
  deliveryId: string,
): DebeziumDecoding {
  if (value === null || value === undefined || value === '') return TOMBSTONE;
  const text = valueBytes(value).toString('utf8');
  let json: unknown;
  try {
    json = parseExactJson(text);
  } catch {
    throw new ValidationError('the value is not JSON', [{ path: 'value', message: 'not JSON' }]);
  }
  return decodeDebeziumMessage(json, { ...options, deliveryId });
}

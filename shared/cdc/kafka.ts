import * as z from 'zod';
import type { DebeziumSettings } from '../connectors/sources/cdc/config.ts';
import { EsyncError, ValidationError } from '../errors.ts';
import { parseExactJson } from '../records/exact-json.ts';
import { parseAtEdge } from '../webhooks/parse.ts';
import { type DebeziumDecoding, decodeDebeziumMessage } from './debezium.ts';

/**
 * Lambda's Amazon MSK and self-managed Kafka events: records grouped by `<topic>-<partition>`,
 * keys and values base64-encoded.
 *
 * Why not Powertools' Kafka utility (`@aws-lambda-powertools/kafka`, no longer a dependency): its
 * `kafkaConsumer` wraps a whole handler and fails the whole batch on one undecodable value; its
 * JSON deserializer reads values with `JSON.parse`, which rounds numbers a double cannot hold
 * (values must keep their literals: {@link parseExactJson}), and on a value that is not JSON it
 * logs the raw base64 value, which may hold personal data, and hands on the text; and the
 * parser's Kafka schema refuses the null value of a Debezium tombstone. The Load function needs
 * one outcome per Kafka record instead, so a poison record is quarantined alone; decoding base64
 * and exact JSON is all there is to it.
 */

const kafkaRecordSchema = z.object({
  topic: z.string(),
  partition: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  timestamp: z.number().optional(),
  timestampType: z.string().optional(),
  key: z.string().nullish(),
  value: z.string().nullish(),
  headers: z.array(z.record(z.string(), z.array(z.number()))).nullish(),
});

export const kafkaEventSchema = z.object({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.string().optional(),
  bootstrapServers: z.string().nullish(),
  records: z.record(z.string(), z.array(kafkaRecordSchema)),
});

export type KafkaEvent = z.infer<typeof kafkaEventSchema>;

interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** `<topic>:<partition>:<offset>`: unique and stable across redeliveries; the records' provenance. */
  readonly deliveryId: string;
}

/** The decoding of one Kafka record (a tombstone is an ignored kind), or why it cannot be decoded. */
export type KafkaRecordResult =
  | (KafkaPosition & { readonly ok: true; readonly decoding: DebeziumDecoding })
  | (KafkaPosition & { readonly ok: false; readonly error: ValidationError });

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

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
  const parsed = parseAtEdge(kafkaEventSchema, event, 'kafka event');
  const results: KafkaRecordResult[] = [];
  for (const records of Object.values(parsed.records))
    for (const record of records) {
      const position: KafkaPosition = {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        deliveryId: `${record.topic}:${record.partition}:${record.offset}`,
      };
      try {
        results.push({
          ...position,
          ok: true,
          decoding: decodeValue(record.value, options, position.deliveryId),
        });
      } catch (error) {
        if (!(error instanceof EsyncError)) throw error;
        const issues = error instanceof ValidationError ? error.issues : [];
        results.push({
          ...position,
          ok: false,
          error: new ValidationError(
            `kafka record ${record.topic}/${record.partition}@${record.offset}: ${error.message}`,
            issues,
            {
              cause: error,
            },
          ),
        });
      }
    }
  return results;
}

const TOMBSTONE: DebeziumDecoding = { kind: 'ignored', ignored: 'tombstone' };

function decodeValue(
  value: string | null | undefined,
  options: KafkaDecodeOptions,
  deliveryId: string,
): DebeziumDecoding {
  if (value === null || value === undefined || value === '') return TOMBSTONE;
  if (!BASE64.test(value))
    throw new ValidationError('the value is not base64', [{ path: 'value', message: 'not base64' }]);
  const text = Buffer.from(value, 'base64').toString('utf8');
  let json: unknown;
  try {
    json = parseExactJson(text);
  } catch {
    throw new ValidationError('the value is not JSON', [{ path: 'value', message: 'not JSON' }]);
  }
  return decodeDebeziumMessage(json, { ...options, deliveryId });
}

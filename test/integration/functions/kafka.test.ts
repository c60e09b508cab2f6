import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/load/handler.ts';
import { keys } from '../../../shared/state/keys.ts';
import { avroOrder, ORDER_AVRO_SCHEMA, ORDER_PROTO, protobufOrder } from '../../support/kafka-values.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const BROKERS = ['b-1.kafka.example.com:9096', 'b-2.kafka.example.com:9096'];
// Both clusters carry a topic of this name: the event's cluster decides the pipeline.
const TOPIC = 'shop.orders';
const SCHEMA_SOURCES = {
  avro: { format: 'avro', schema: ORDER_AVRO_SCHEMA },
  protobuf: { format: 'protobuf', schema: ORDER_PROTO, messageType: 'shop.Order' },
} as const;
const MSK_TRIGGER = { clusterArn: MSK };
const SELF_MANAGED_TRIGGER = {
  bootstrapServers: BROKERS,
  authentication: { method: 'sasl-scram-512', secret: 'esync/kafka-orders' },
};

/** A pipeline of values in `format` on the topic `shop.orders.<format>` of a cluster. */
const schemaPipeline = (format: keyof typeof SCHEMA_SOURCES, cluster: 'msk' | 'self-managed') => ({
  name: `orders-${format}-${cluster}`,
  source: { type: 'kafka', key: ['id'], cursor: ['updated_at'], ...SCHEMA_SOURCES[format] },
  target: { type: 'dynamodb' },
  triggers: {
    kafka: { ...(cluster === 'msk' ? MSK_TRIGGER : SELF_MANAGED_TRIGGER), topics: [`shop.orders.${format}`] },
  },
});

let h: FunctionsHarness;

beforeAll(async () => {
  const source = { type: 'kafka', key: ['id'], cursor: ['updated_at'] };
  h = await startFunctionsHarness({
    pipelines: [
      {
        name: 'orders-msk',
        source,
        target: { type: 'dynamodb' },
        triggers: { kafka: { clusterArn: MSK, topics: [TOPIC] } },
      },
      {
        name: 'orders-kafka',
        source,
        target: { type: 'dynamodb' },
        triggers: {
          kafka: {
            bootstrapServers: BROKERS,
            authentication: { method: 'sasl-scram-512', secret: 'esync/kafka-orders' },
            topics: [TOPIC],
          },
        },
      },
      schemaPipeline('avro', 'msk'),
      schemaPipeline('avro', 'self-managed'),
      schemaPipeline('protobuf', 'msk'),
      schemaPipeline('protobuf', 'self-managed'),
    ],
  });
});
afterAll(() => h?.stop());

interface KafkaValue {
  readonly offset: number;
  /** The value as its producer wrote it; null for a tombstone. */
  readonly value: string | Buffer | null;
}

function kafkaRecords(partition: number, values: readonly KafkaValue[], topic = TOPIC) {
  return {
    [`${topic}-${partition}`]: values.map(({ offset, value }) => ({
      topic,
      partition,
      offset,
      timestamp: 1_795_000_000_000 + offset,
      timestampType: 'CREATE_TIME' as const,
      key: Buffer.from(`order-${offset}`).toString('base64'),
      // The event types say string; a tombstone's value arrives as null.
      value: (value === null ? null : Buffer.from(value).toString('base64')) as string,
      headers: [{ source: [...Buffer.from('shop')] }],
    })),
  };
}

/** The event Lambda's Amazon MSK event source hands the Load function. */
const mskEvent = (partition: number, values: readonly KafkaValue[], topic = TOPIC): MSKEvent => ({
  eventSource: 'aws:kafka' as const,
  eventSourceArn: MSK,
  bootstrapServers: 'b-1.shop.abc123.c2.kafka.eu-west-1.amazonaws.com:9098',
  records: kafkaRecords(partition, values, topic),
});

/** The event Lambda's self-managed Kafka event source hands the Load function. */
const selfManagedEvent = (
  partition: number,
  values: readonly KafkaValue[],
  topic = TOPIC,
): SelfManagedKafkaEvent => ({
  eventSource: 'SelfManagedKafka' as const,
  bootstrapServers: BROKERS.join(','),
  records: kafkaRecords(partition, values, topic),
});

async function targetItem(pipeline: string, key: string) {
  const out = await h.clients.dynamodb.send(
    new GetItemCommand({ TableName: h.targetTable(pipeline), Key: { pk: { S: key } }, ConsistentRead: true }),
  );
  return out.Item;
}

const today = () => new Date().toISOString().slice(0, 10);

describe('load handler (Kafka event sources, plain JSON records)', () => {
  it.each([
    ['an Amazon MSK', 'orders-msk', mskEvent],
    ['a self-managed Kafka', 'orders-kafka', selfManagedEvent],
  ] as const)(
    'loads JSON records from %s event into its pipeline newest-version-wins, numbers exact, each Kafka record counted once',
    async (_, pipeline, eventOf) => {
      // Prepare
      const event = eventOf(0, [
        {
          offset: 7,
          value: '{"id":"o-1","total":12345678901234567890.25,"updated_at":"2026-12-07T10:00:02Z"}',
        },
        { offset: 8, value: '{"id":"o-1","total":1,"updated_at":"2026-12-07T10:00:01Z"}' },
        {
          offset: 9,
          value:
            '[{"id":"o-2","qty":9007199254740993,"updated_at":"2026-12-07T10:00:00Z"},{"id":"o-3","qty":1,"updated_at":"2026-12-07T10:00:00Z"}]',
        },
        { offset: 10, value: null },
      ]);

      // Act
      await handler(event, h.context('load'));
      await handler(event, h.context('load'));

      // Assess
      expect((await targetItem(pipeline, 'o-1'))?.total).toEqual({ N: '12345678901234567890.25' });
      expect((await targetItem(pipeline, 'o-2'))?.qty).toEqual({ N: '9007199254740993' });
      expect(await targetItem(pipeline, 'o-3')).toBeDefined();
      const totals = await h.deps.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, today()));
      expect(totals).toMatchObject({ extracted: 4, loaded: 3, skipped: 1, quarantined: 0 });
      expect(totals.ignored).toEqual({ tombstone: 1 });
    },
  );

  const at = (iso: string) => Date.parse(iso);
  const ENCODERS = {
    avro: (id: string, qty: bigint, updatedAt: string) =>
      avroOrder({ id, qty, priceCents: 1999n, note: null, updatedAtMs: at(updatedAt), ratio: 0.25 }),
    protobuf: (id: string, qty: bigint, updatedAt: string) =>
      protobufOrder({ id, qty: qty.toString(), updated_at: updatedAt, ratio: 0.25 }),
  };

  it.each([
    ['avro', 'msk', mskEvent],
    ['avro', 'self-managed', selfManagedEvent],
    ['protobuf', 'msk', mskEvent],
    ['protobuf', 'self-managed', selfManagedEvent],
  ] as const)(
    'loads %s records from a %s event newest-version-wins, a 64-bit integer exact, quarantining one not of the schema',
    async (format, cluster, eventOf) => {
      // Prepare
      const pipeline = `orders-${format}-${cluster}`;
      const encode = ENCODERS[format];
      const event = eventOf(
        2,
        [
          { offset: 1, value: encode('o-1', 9_007_199_254_740_993n, '2026-12-07T10:00:02Z') },
          { offset: 2, value: encode('o-1', 1n, '2026-12-07T10:00:01Z') },
          { offset: 3, value: Buffer.from([0xff, 0xff, 0xff]) },
          { offset: 4, value: null },
        ],
        `shop.orders.${format}`,
      );

      // Act
      await handler(event, h.context('load'));
      await handler(event, h.context('load'));

      // Assess
      expect((await targetItem(pipeline, 'o-1'))?.qty).toEqual({ N: '9007199254740993' });
      const scope = keys.ledgerScopeOfStream(pipeline, today());
      const totals = await h.deps.state.ledger.totals(scope);
      expect(totals).toMatchObject({ extracted: 3, loaded: 1, skipped: 1, quarantined: 1 });
      expect(totals.ignored).toEqual({ tombstone: 1 });
      const report = await h.readJson<{ entries: { reasons: { message: string }[] }[] }>(
        `quarantine/${pipeline}/${encodeURIComponent(scope)}/kafka-shop.orders.${format}:2:3.json`,
      );
      expect(report.entries[0]?.reasons[0]?.message).toMatch(
        new RegExp(
          `kafka record shop\\.orders\\.${format}/2@3: (the value does not decode as ${format}|value: .*id)`,
        ),
      );
    },
  );

  it('quarantines a record that is not JSON and one without its key, naming the record and the field, and loads the rest', async () => {
    // Prepare
    const event = selfManagedEvent(1, [
      { offset: 3, value: 'not json' },
      { offset: 4, value: '{"total":5,"updated_at":"2026-12-07T11:00:00Z"}' },
      { offset: 5, value: '{"id":"o-9","updated_at":"2026-12-07T11:00:00Z"}' },
    ]);
    const scope = keys.ledgerScopeOfStream('orders-kafka', today());

    // Act
    await handler(event, h.context('load'));

    // Assess
    const reasonOf = async (offset: number) => {
      const report = await h.readJson<{ entries: { raw: string; reasons: { message: string }[] }[] }>(
        `quarantine/orders-kafka/${encodeURIComponent(scope)}/kafka-${TOPIC}:1:${offset}.json`,
      );
      return report.entries.map((e) => `${e.raw}: ${e.reasons.map((r) => r.message).join('; ')}`);
    };
    expect(await reasonOf(3)).toEqual([`${TOPIC}:1:3: kafka record ${TOPIC}/1@3: the value is not JSON`]);
    expect((await reasonOf(4))[0]).toMatch(
      new RegExp(`^${TOPIC}:1:4: kafka record ${TOPIC}/1@4: value: .*id`),
    );
    expect(await targetItem('orders-kafka', 'o-9')).toBeDefined();
  });

  it('refuses an event from a cluster no pipeline reads, naming the topic and the brokers', async () => {
    // Prepare
    const event = { ...selfManagedEvent(0, [{ offset: 1, value: '{}' }]), bootstrapServers: 'other:9092' };

    // Act
    const outcome = handler(event, h.context('load'));

    // Assess
    await expect(outcome).rejects.toThrow(/shop\.orders.*other:9092/);
  });
});

import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/load/handler.ts';
import { keys } from '../../../shared/state/keys.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const BROKERS = ['b-1.kafka.example.com:9096', 'b-2.kafka.example.com:9096'];
// Both clusters carry a topic of this name: the event's cluster decides the pipeline.
const TOPIC = 'shop.orders';

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
    ],
  });
});
afterAll(() => h?.stop());

interface KafkaValue {
  readonly offset: number;
  /** The value as its producer wrote it; null for a tombstone. */
  readonly value: string | null;
}

function kafkaRecords(partition: number, values: readonly KafkaValue[]) {
  return {
    [`${TOPIC}-${partition}`]: values.map(({ offset, value }) => ({
      topic: TOPIC,
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
const mskEvent = (partition: number, values: readonly KafkaValue[]): MSKEvent => ({
  eventSource: 'aws:kafka' as const,
  eventSourceArn: MSK,
  bootstrapServers: 'b-1.shop.abc123.c2.kafka.eu-west-1.amazonaws.com:9098',
  records: kafkaRecords(partition, values),
});

/** The event Lambda's self-managed Kafka event source hands the Load function. */
const selfManagedEvent = (partition: number, values: readonly KafkaValue[]): SelfManagedKafkaEvent => ({
  eventSource: 'SelfManagedKafka' as const,
  bootstrapServers: BROKERS.join(','),
  records: kafkaRecords(partition, values),
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

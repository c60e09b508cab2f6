import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../../shared/naming.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadKafkaEvent } from '../../../shared/usecases/load-kafka.ts';
import { type ApiHarness, quietDeps, startApiHarness } from '../api/harness.ts';

const CLUSTER = 'arn:aws:kafka:us-east-1:123456789012:cluster/cdc/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const TOPIC = 'shop.public.users';

// Named users-sync so the harness's owned target table serves as this pipeline's target.
const pipeline = pipelineSchema.parse({
  name: 'users-sync',
  source: { type: 'cdc', key: ['id'] },
  target: { type: 'dynamodb' },
  triggers: { kafka: { clusterArn: CLUSTER, topics: [TOPIC] } },
});

function kafkaRecord(offset: number, value: unknown) {
  return {
    topic: TOPIC,
    partition: 0,
    offset,
    timestamp: 1_795_000_000_000 + offset,
    timestampType: 'CREATE_TIME',
    key: Buffer.from(String(offset)).toString('base64'),
    value:
      value === null
        ? null
        : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64'),
    headers: [],
  };
}

const change = (id: number, name: string, lsn: number) => ({
  before: null,
  after: { id, name },
  op: 'u',
  source: { connector: 'postgresql', lsn, ts_ms: 1_795_000_000_000 + lsn },
  ts_ms: 1_795_000_000_000 + lsn,
});

describe('loading Debezium records from an MSK topic', () => {
  let harness: ApiHarness;
  let deps: Deps;

  beforeAll(async () => {
    harness = await startApiHarness();
    deps = quietDeps(harness, [pipeline]);
  });
  afterAll(async () => harness?.stop());

  it('applies changes newest-version-wins, quarantines an undecodable record and counts a redelivered batch once', async () => {
    const event = {
      eventSource: 'aws:kafka',
      eventSourceArn: CLUSTER,
      bootstrapServers: 'b-1.cdc.kafka.us-east-1.amazonaws.com:9098',
      records: {
        [`${TOPIC}-0`]: [
          kafkaRecord(10, change(1, 'Ada (new)', 900)),
          kafkaRecord(11, change(1, 'Ada (old)', 500)),
          kafkaRecord(12, 'not json'),
        ],
      },
    };

    const first = await loadKafkaEvent(deps, event);
    const again = await loadKafkaEvent(deps, event);

    const item = await harness.clients.ddb.send(
      new GetCommand({ TableName: ownedTargetTableName('dev', 'users-sync'), Key: { pk: '1' } }),
    );
    expect(item.Item?.name).toBe('Ada (new)');
    expect(first.outcome).toMatchObject({ loaded: 1, skipped: 1, quarantined: 1 });
    expect(again.records).toBe(0);
    const totals = await deps.state.ledger.totals(
      keys.ledgerScopeOfStream('users-sync', new Date().toISOString().slice(0, 10)),
    );
    expect(totals.extracted).toBe(3);
    expect(totals.loaded + totals.skipped + totals.quarantined).toBe(3);
  });

  it('counts null-value and wrapped tombstones, heartbeats and transaction events as such, and applies a 64-bit key exactly', async () => {
    // Prepare
    const scope = keys.ledgerScopeOfStream('users-sync', new Date().toISOString().slice(0, 10));
    const before = await deps.state.ledger.totals(scope);
    const event = {
      eventSource: 'aws:kafka',
      eventSourceArn: CLUSTER,
      records: {
        [`${TOPIC}-0`]: [
          kafkaRecord(20, null),
          kafkaRecord(21, { schema: null, payload: null }),
          kafkaRecord(22, { ts_ms: 1_795_000_000_000 }),
          kafkaRecord(23, {
            status: 'BEGIN',
            id: '9:1',
            ts_ms: 1,
            event_count: null,
            data_collections: null,
          }),
          kafkaRecord(
            24,
            '{"before":null,"after":{"id":9007199254740993,"name":"big"},"op":"c","source":{"lsn":950,"ts_ms":1795000000950},"ts_ms":1795000000950}',
          ),
        ],
      },
    };

    // Act
    const result = await loadKafkaEvent(deps, event);

    // Assess
    expect(result.ignored).toEqual({ tombstone: 2, heartbeat: 1, transaction: 1 });
    expect(result.outcome).toMatchObject({ loaded: 1, quarantined: 0 });
    const after = await deps.state.ledger.totals(scope);
    expect({
      tombstone: (after.ignored.tombstone ?? 0) - (before.ignored.tombstone ?? 0),
      quarantined: after.quarantined - before.quarantined,
    }).toEqual({ tombstone: 2, quarantined: 0 });
    const item = await harness.clients.ddb.send(
      new GetCommand({
        TableName: ownedTargetTableName('dev', 'users-sync'),
        Key: { pk: '9007199254740993' },
      }),
    );
    expect(item.Item?.name).toBe('big');
  });

  it('refuses an event from a topic no pipeline reads, naming the topic', async () => {
    const event = {
      eventSource: 'aws:kafka',
      eventSourceArn: CLUSTER,
      records: { 'other.topic-0': [{ ...kafkaRecord(1, change(2, 'x', 1)), topic: 'other.topic' }] },
    };

    await expect(loadKafkaEvent(deps, event)).rejects.toThrow(/other\.topic/);
  });
});

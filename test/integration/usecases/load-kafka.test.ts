import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../../shared/naming.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadKafkaEvent } from '../../../shared/usecases/load-kafka.ts';
import { type ApiHarness, buildDeps, startApiHarness } from '../api/harness.ts';

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
    deps = buildDeps(harness.config, harness.clients, new PipelineCatalog([pipeline]), {
      info() {},
      warn() {},
      error() {},
    });
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

  it('refuses an event from a topic no pipeline reads, naming the topic', async () => {
    const event = {
      eventSource: 'aws:kafka',
      eventSourceArn: CLUSTER,
      records: { 'other.topic-0': [{ ...kafkaRecord(1, change(2, 'x', 1)), topic: 'other.topic' }] },
    };

    await expect(loadKafkaEvent(deps, event)).rejects.toThrow(/other\.topic/);
  });
});

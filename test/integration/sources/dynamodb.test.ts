import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, type LocalServers, startLocalServers } from '../../../local/servers.ts';
import { DynamodbSource } from '../../../shared/connectors/sources/dynamodb/source.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { createKeyedTable } from '../../support/dynamodb-tables.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { keysOf, readAll, readPages, sourceSetup } from './helpers.ts';

const TABLE = 'source-items';
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

describe('dynamodb source against the local DynamoDB server', () => {
  let servers: LocalServers;
  let proxy: FaultProxy;
  let ddb: DynamoDBDocumentClient;

  const clients = (endpoint: string) => {
    const dynamodb = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    return { dynamodb, ddb: DynamoDBDocumentClient.from(dynamodb) };
  };

  const source = (overrides: Record<string, unknown> = {}, endpoint = servers.endpoints.dynamodb) => {
    const { config, context } = sourceSetup(
      { type: 'dynamodb', table: TABLE, key: ['pk'], segments: 3, pageSize: 4, ...overrides },
      { clients: clients(endpoint) },
    );
    return new DynamodbSource(config, context);
  };

  beforeAll(async () => {
    servers = await startLocalServers();
    const local = clients(servers.endpoints.dynamodb);
    ddb = local.ddb;
    await createKeyedTable(local.dynamodb, TABLE);
    const items = ids(20).map((pk) => ({
      pk,
      n: Number(pk),
      tags: new Set(['a', 'b']),
      updatedAt: `2024-05-01T10:00:${pk.padStart(2, '0')}.000Z`,
    }));
    for (let i = 0; i < items.length; i += 10)
      await ddb.send(
        new BatchWriteCommand({
          RequestItems: { [TABLE]: items.slice(i, i + 10).map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
    proxy = await startFaultProxy(Number(new URL(servers.endpoints.dynamodb).port));
  });

  afterAll(async () => {
    await proxy?.close();
    await servers?.stop();
  });

  it('discovers the key schema of the table', async () => {
    const discovery = await source().discover();
    expect(discovery.primaryKey).toEqual(['pk']);
    expect(discovery.fields).toEqual([{ name: 'pk', type: 'S', nullable: false }]);
    expect(discovery.capabilities).toEqual({ incremental: false, deletes: 'none', cdc: false });
  });

  it('plans one partition per scan segment, which together read every item once', async () => {
    const reader = source();
    const window = { from: null, to: await reader.currentHighWatermark() };
    const partitions = await reader.planPartitions(window, 8);
    const perPartition = await Promise.all(partitions.map((p) => readAll(reader, window, p)));
    expect(partitions.map((p) => p.spec)).toEqual(
      [0, 1, 2].map((s) => ({ segments: [s], totalSegments: 3 })),
    );
    expect(keysOf(perPartition.flat()).sort((a, b) => Number(a) - Number(b))).toEqual(ids(20));
    expect(window.to).toBeNull();
  });

  it('groups segments when fewer partitions are wanted', async () => {
    const partitions = await source().planPartitions({ from: null, to: null }, 2);
    expect(partitions.map((p) => p.spec)).toEqual([
      { segments: [0, 2], totalSegments: 3 },
      { segments: [1], totalSegments: 3 },
    ]);
  });

  it('takes the version from the cursor attribute and turns sets into arrays', async () => {
    const rows = await readAll(source({ cursor: ['updatedAt'] }));
    const third = rows.find((r) => r.cursor.key === '3');
    expect(third?.version).toBe('t:2024-05-01T10:00:03.000Z|2|3');
    expect(third?.data).toEqual({ pk: '3', n: 3, tags: ['a', 'b'], updatedAt: '2024-05-01T10:00:03.000Z' });
  });

  it('resumes a segment after the last item read, without skipping or repeating one', async () => {
    const reader = source({ segments: 1 });
    const pages = await readPages(reader);
    const resumed = await readAll(reader, undefined, undefined, pages[1]?.[3]?.cursor);
    expect(pages.map((p) => p.length)).toEqual([4, 4, 4, 4, 4]);
    expect(keysOf(resumed)).toEqual(keysOf(pages.slice(2).flat()));
  });

  it('resumes by rescanning the segment when the pipeline key is not the table key', async () => {
    const reader = source({ segments: 1, key: ['n'] });
    const all = await readAll(reader);
    const resumed = await readAll(reader, undefined, undefined, all[9]?.cursor);
    expect(keysOf(resumed)).toEqual(keysOf(all.slice(10)));
  });

  it('retries a scan the server answered with 503', async () => {
    const before = proxy.injected;
    proxy.failNext(1, 'http-503');
    const rows = await readAll(source({}, `http://127.0.0.1:${proxy.port}`));
    expect(proxy.injected).toBe(before + 1);
    expect(rows).toHaveLength(20);
  });

  it('names a missing table and an unreachable endpoint', async () => {
    const closed = await startFaultProxy(1);
    await closed.close();
    await expect(source({ table: 'no-such-table' }).discover()).rejects.toThrow(
      /DynamoDB table "no-such-table": no such table/,
    );
    const error = await source({}, `http://127.0.0.1:${closed.port}`)
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(/cannot reach DynamoDB \(ECONNREFUSED\)/);
  });
});

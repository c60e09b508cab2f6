import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandOutput,
  DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynaliteCaller, withBatchInserts } from '../../../local/dynalite-partiql.ts';
import {
  type DynamoDbEngine,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startLocalServers,
} from '../../../local/servers.ts';
import { insertStatement } from '../../../shared/connectors/targets/dynamodb/batch-insert.ts';
import { createKeyedTable } from '../../support/dynamodb-tables.ts';
import { DYNAMODB_LOCAL_HOOK_TIMEOUT_MS, requireSystemServer } from '../../support/system-servers.ts';

/** What a BatchExecuteStatement answered, per statement: `ok` or the error code; or the error thrown. */
async function codesOf(
  client: DynamoDBClient,
  statements: BatchExecuteStatementCommand['input']['Statements'],
) {
  let out: BatchExecuteStatementCommandOutput;
  try {
    out = await client.send(new BatchExecuteStatementCommand({ Statements: statements }));
  } catch (error) {
    return { thrown: (error as Error).name };
  }
  return { codes: (out.Responses ?? []).map((r) => r.Error?.Code ?? 'ok') };
}

/**
 * The PartiQL subset the DynamoDB target emits, answered alike by dynalite (through the local
 * stack's BatchExecuteStatement front) and by Amazon's DynamoDB Local (natively).
 */
function partiqlSubset(engine: DynamoDbEngine) {
  let servers: LocalServers;
  let client: DynamoDBClient;

  // Outlasts DynamoDB Local's own budget to answer after its start, which names its log when spent.
  beforeAll(async () => {
    servers = await startLocalServers({ dynamodb: engine });
    client = new DynamoDBClient({
      endpoint: servers.endpoints.dynamodb,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    await createKeyedTable(client, 'partiql-items');
  }, DYNAMODB_LOCAL_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    client?.destroy();
    await servers?.stop();
  });

  it('inserts an absent key, answers DuplicateItem for a taken one and leaves the stored item as it was', async () => {
    // Prepare
    await codesOf(client, [insertStatement('partiql-items', { pk: 'taken', v: 1 })]);

    // Act
    const answer = await codesOf(client, [
      insertStatement('partiql-items', { pk: 'new', "it's": 'quoted', 'a.b': [1, { c: null }], n: 1.5 }),
      insertStatement('partiql-items', { pk: 'taken', v: 2 }),
    ]);

    // Assess
    expect(answer).toEqual({ codes: ['ok', 'DuplicateItem'] });
    const items = (await client.send(new ScanCommand({ TableName: 'partiql-items' }))).Items ?? [];
    expect(items.find((i) => i.pk?.S === 'taken')?.v).toEqual({ N: '1' });
    expect(items.find((i) => i.pk?.S === 'new')).toEqual({
      pk: { S: 'new' },
      "it's": { S: 'quoted' },
      'a.b': { L: [{ N: '1' }, { M: { c: { NULL: true } } }] },
      n: { N: '1.5' },
    });
  });

  it('answers ResourceNotFound for a missing table and ValidationError for a key of the wrong type, per statement', async () => {
    // Act
    const answer = await codesOf(client, [
      insertStatement('partiql-missing', { pk: 'x' }),
      { Statement: `INSERT INTO "partiql-items" VALUE {'pk': ?}`, Parameters: [{ N: '1' }] },
      insertStatement('partiql-items', { pk: 'fine' }),
    ]);

    // Assess
    expect(answer).toEqual({ codes: ['ResourceNotFound', 'ValidationError', 'ok'] });
  });

  it('refuses a whole request with two inserts of one key', async () => {
    // Act
    const answer = await codesOf(client, [
      insertStatement('partiql-items', { pk: 'twice', v: 1 }),
      insertStatement('partiql-items', { pk: 'twice', v: 2 }),
    ]);

    // Assess
    expect(answer).toEqual({ thrown: 'ValidationException' });
  });
}

describe('PartiQL inserts on dynalite', () => {
  partiqlSubset('dynalite');

  it('answers a statement outside the subset with a ValidationError that names the subset', async () => {
    // Prepare
    const servers = await startLocalServers({ worker: false });
    const client = new DynamoDBClient({
      endpoint: servers.endpoints.dynamodb,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });

    try {
      // Act
      const out = await client.send(
        new BatchExecuteStatementCommand({
          Statements: [{ Statement: 'UPDATE "partiql-items" SET v = ? WHERE pk = ?' }],
        }),
      );

      // Assess
      expect(out.Responses?.[0]?.Error?.Code).toBe('ValidationError');
      expect(out.Responses?.[0]?.Error?.Message).toMatch(/runs only INSERT INTO/);
    } finally {
      client.destroy();
      await servers.stop();
    }
  });
});

describe('the BatchExecuteStatement front when dynalite fails a call', () => {
  /** A dynalite that applies puts of every key but `fails`, whose call throws as a lost connection does. */
  function failingDynalite(fails: string): { caller: DynaliteCaller; applied: string[] } {
    const applied: string[] = [];
    const caller: DynaliteCaller = async (operation, input) => {
      if (operation === 'DescribeTable')
        return { status: 200, body: { Table: { KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] } } };
      const key = (input as { Item: { pk: { S: string } } }).Item.pk.S;
      if (key === fails) throw new TypeError('fetch failed');
      applied.push(key);
      return { status: 200, body: {} };
    };
    return { caller, applied };
  }

  it('answers per statement, the failed insert InternalServerError, never refusing a request it partly applied', async () => {
    // Prepare
    const dynalite = failingDynalite('b');
    const server = createServer(
      withBatchInserts(() => {
        throw new Error('only BatchExecuteStatement is sent here');
      }, dynalite.caller),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });

    try {
      // Act
      const answer = await codesOf(
        client,
        ['a', 'b', 'c'].map((pk) => insertStatement('partiql-items', { pk })),
      );

      // Assess
      expect(answer).toEqual({ codes: ['ok', 'InternalServerError', 'ok'] });
      expect(dynalite.applied.sort()).toEqual(['a', 'c']);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe.runIf(requireSystemServer('java').available)('PartiQL inserts on DynamoDB Local', () => {
  partiqlSubset('dynamodb-local');
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandOutput,
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynaliteCaller, withBatchInserts } from '../../../local/dynalite-partiql.ts';
import {
  type DynamoDbEngine,
  type EmbeddedServers,
  type EmbeddedServersOptions,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startEmbeddedServers,
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

/** dynalite on this thread with `options`, and a client of it. */
async function embeddedDynalite(options: Omit<EmbeddedServersOptions, 'dynalite'>) {
  const servers: EmbeddedServers = await startEmbeddedServers({ dynalite: true, ...options });
  const client = new DynamoDBClient({
    endpoint: servers.endpoints.dynamodb,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const stop = async () => {
    client.destroy();
    await servers.stop();
  };
  return { client, stop };
}

/** Every statement's answer (code and message) and the table's items afterwards. */
async function answersAndItems(
  client: DynamoDBClient,
  requests: NonNullable<BatchExecuteStatementCommand['input']['Statements']>[],
) {
  await createKeyedTable(client, 'partiql-items');
  const answers: unknown[] = [];
  for (const Statements of requests) {
    const out = await client.send(new BatchExecuteStatementCommand({ Statements }));
    answers.push(out.Responses?.map((r) => r.Error ?? { ok: r.TableName }));
  }
  const items = (await client.send(new ScanCommand({ TableName: 'partiql-items' }))).Items ?? [];
  return { answers, items: items.sort((a, b) => String(a.pk?.S).localeCompare(String(b.pk?.S))) };
}

describe("the front's inserts run through dynalite's PutItem without a request each", () => {
  it('answers every statement and stores every item as an insert sent to dynalite as a request does', async () => {
    // Prepare
    const requests = [
      [
        insertStatement('partiql-items', { pk: 'a', n: 1.5, l: [1, { c: null }], s: new Set(['x', 'y']) }),
        insertStatement('partiql-items', { pk: 'b', big: 'x'.repeat(410 * 1024) }),
        insertStatement('partiql-missing', { pk: 'c' }),
      ],
      [
        insertStatement('partiql-items', { pk: 'a', v: 2 }),
        { Statement: `INSERT INTO "partiql-items" VALUE {'pk': ?}`, Parameters: [{ N: '1' }] },
        {
          Statement: `INSERT INTO "partiql-items" VALUE {'pk': ?, 'n': ?}`,
          Parameters: [{ S: 'd' }, { N: 'x' }],
        },
        {
          Statement: `INSERT INTO "partiql-items" VALUE {'pk': ?, 'e': ?}`,
          Parameters: [{ S: 'e' }, { S: '' }],
        },
        { Statement: `INSERT INTO "partiql-items" VALUE {'pk': ?}`, Parameters: [{ S: '' }] },
      ],
    ];
    const direct = await embeddedDynalite({ dynaliteInserts: 'direct' });
    const viaRequests = await embeddedDynalite({ dynaliteInserts: 'listener' });

    try {
      // Act
      const answered = await answersAndItems(direct.client, requests);
      const expected = await answersAndItems(viaRequests.client, requests);

      // Assess
      expect(answered).toEqual(expected);
      expect(answered.answers).toEqual([
        [
          { ok: 'partiql-items' },
          expect.objectContaining({ Code: 'ValidationError' }),
          expect.objectContaining({ Code: 'ResourceNotFound' }),
        ],
        [
          expect.objectContaining({ Code: 'DuplicateItem' }),
          expect.objectContaining({ Code: 'ValidationError' }),
          expect.objectContaining({ Code: 'ValidationError' }),
          { ok: 'partiql-items' },
          expect.objectContaining({ Code: 'ValidationError' }),
        ],
      ]);
    } finally {
      await direct.stop();
      await viaRequests.stop();
    }
  });
});

describe("dynalite's in-memory store keeping strings, not Buffers", () => {
  it('answers a Query in the order of the Buffer store: string sort keys by their UTF-8 bytes, numbers by value', async () => {
    // Prepare
    const sortKeys = ['b', 'a', 'é', '\uffff', '😀', 'A', 'ab', ''.padEnd(3, 'z')];
    const numbers = ['-10', '-1.5', '0', '2', '10', '1000', '-0.001'];
    const query = async (options: Omit<EmbeddedServersOptions, 'dynalite'>) => {
      const { client, stop } = await embeddedDynalite(options);
      try {
        for (const [name, type] of [
          ['strings', 'S'],
          ['numbers', 'N'],
        ] as const) {
          await client.send(
            new CreateTableCommand({
              TableName: name,
              BillingMode: 'PAY_PER_REQUEST',
              KeySchema: [
                { AttributeName: 'pk', KeyType: 'HASH' },
                { AttributeName: 'sk', KeyType: 'RANGE' },
              ],
              AttributeDefinitions: [
                { AttributeName: 'pk', AttributeType: 'S' },
                { AttributeName: 'sk', AttributeType: type },
              ],
            }),
          );
          for (const sk of type === 'S' ? sortKeys : numbers)
            await client.send(
              new PutItemCommand({ TableName: name, Item: { pk: { S: 'p' }, sk: { [type]: sk } as never } }),
            );
        }
        const order = async (TableName: string) =>
          (
            await client.send(
              new QueryCommand({
                TableName,
                KeyConditionExpression: 'pk = :p',
                ExpressionAttributeValues: { ':p': { S: 'p' } },
              }),
            )
          ).Items?.map((i) => i.sk?.S ?? i.sk?.N);
        return { strings: await order('strings'), numbers: await order('numbers') };
      } finally {
        await stop();
      }
    };

    // Act
    const strings = await query({ dynaliteStore: 'utf8' });
    const buffers = await query({ dynaliteStore: 'buffer' });

    // Assess
    expect(strings).toEqual(buffers);
    expect(strings.strings).toEqual(
      [...sortKeys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    expect(strings.numbers).toEqual([...numbers].sort((a, b) => Number(a) - Number(b)));
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

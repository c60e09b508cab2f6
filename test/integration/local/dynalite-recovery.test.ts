import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalServers } from '../../../local/servers.ts';

const TABLE = 'ledger';
const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

/** A process that starts the servers on `dataDir`, writes two pending messages and waits to be killed. */
const WRITER = `
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalServers } from './local/servers.ts';
const servers = await startLocalServers({ dataDir: process.argv[1], worker: false });
const client = new DynamoDBClient({ endpoint: servers.endpoints.dynamodb, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
const S = (s) => ({ S: s });
await client.send(new CreateTableCommand({
  TableName: '${TABLE}',
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk'].map((n) => ({ AttributeName: n, AttributeType: 'S' })),
  KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  GlobalSecondaryIndexes: [{
    IndexName: 'gsi1',
    KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }, { AttributeName: 'gsi1sk', KeyType: 'RANGE' }],
    Projection: { ProjectionType: 'ALL' },
  }],
}));
for (const m of ['acknowledged', 'unacknowledged'])
  await client.send(new PutItemCommand({ TableName: '${TABLE}', Item: { pk: S('RUN#r'), sk: S('MSG#' + m), gsi1pk: S('PENDING#RUN#r'), gsi1sk: S(m), state: S('sent') } }));
console.log('written');
setInterval(() => {}, 1000);
`;

/** Runs {@link WRITER} on `dataDir` and SIGKILLs it once it has written. */
async function writeThenDie(dataDir: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER, dataDir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const written = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => line === 'written' && resolve());
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before writing`)));
  });
  await written;
  child.kill('SIGKILL');
  await exited;
}

/**
 * Leaves the data dir as a process killed inside dynalite's PutItem of `sk` does: the index entry
 * written, the item not (dynalite writes them one after the other).
 */
async function dropItemKeepingIndexEntry(dataDir: string, sk: string): Promise<void> {
  // dynalite's own copy of level: the one that wrote the data dir.
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const { Level } = fromDynalite('level') as {
    Level: new (
      location: string,
      options: { valueEncoding: string },
    ) => {
      iterator(options: { gte: string; lt: string }): AsyncIterable<[string, Record<string, { S?: string }>]>;
      del(key: string): Promise<void>;
      close(): Promise<void>;
    };
  };
  const db = new Level(path.join(dataDir, 'dynamodb'), { valueEncoding: 'json' });
  try {
    const prefix = `item-${TABLE}~`;
    for await (const [key, item] of db.iterator({ gte: prefix, lt: `${prefix}\uffff` }))
      if (item.sk?.S === sk) await db.del(key);
  } finally {
    await db.close();
  }
}

describe('dynalite after its process died', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-dynalite-died-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('shows no index entry of a write killed before its item was stored, and keeps the others', async () => {
    // Prepare
    await writeThenDie(dataDir);
    await dropItemKeepingIndexEntry(dataDir, 'MSG#unacknowledged');

    // Act
    const servers = await startLocalServers({ dataDir, worker: false });
    const client = new DynamoDBClient({
      endpoint: servers.endpoints.dynamodb,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const pending = await client.send(
        new QueryCommand({
          TableName: TABLE,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': { S: 'PENDING#RUN#r' } },
        }),
      );
      const unacknowledged = await client.send(
        new GetItemCommand({
          TableName: TABLE,
          Key: { pk: { S: 'RUN#r' }, sk: { S: 'MSG#unacknowledged' } },
          ConsistentRead: true,
        }),
      );

      // Assess
      expect(pending.Items?.map((i) => i.sk?.S)).toEqual(['MSG#acknowledged']);
      expect(unacknowledged.Item).toBeUndefined();
    } finally {
      client.destroy();
      await servers.stop();
    }
  }, 120_000);
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startLocalServers,
} from '../../../local/servers.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { createKeyedTable } from '../../support/dynamodb-tables.ts';

function clientsFor(servers: LocalServers) {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const dynamodb = new DynamoDBClient({ ...common, endpoint: servers.endpoints.dynamodb });
  return {
    sqs: new SQSClient({ ...common, endpoint: servers.endpoints.sqs }),
    dynamodb,
    ddb: DynamoDBDocumentClient.from(dynamodb),
    s3: new S3Client({
      ...common,
      endpoint: servers.endpoints.s3,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    destroy() {
      this.sqs.destroy();
      this.dynamodb.destroy();
      this.s3.destroy();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds, asked every 200 ms; fails after `budgetMs` saying so. */
async function waitFor(condition: () => Promise<boolean>, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`the condition did not hold within ${budgetMs} ms`);
    await sleep(200);
  }
}

describe('embedded AWS servers', () => {
  let servers: LocalServers;
  let clients: ReturnType<typeof clientsFor>;

  beforeAll(async () => {
    servers = await startLocalServers();
    clients = clientsFor(servers);
  });

  afterAll(async () => {
    clients?.destroy();
    await servers?.stop();
  });

  it('lists more than 1000 S3 keys page by page with continuation tokens', async () => {
    // Prepare
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'paging' }));
    const keys = Array.from({ length: 1105 }, (_, i) => `records/${String(i).padStart(5, '0')}.json`);
    for (let i = 0; i < keys.length; i += 20)
      await Promise.all(
        keys
          .slice(i, i + 20)
          .map((Key) => clients.s3.send(new PutObjectCommand({ Bucket: 'paging', Key, Body: '{}' }))),
      );

    // Act
    const listed: string[] = [];
    let pages = 0;
    let token: string | undefined;
    do {
      const page = await clients.s3.send(
        new ListObjectsV2Command({ Bucket: 'paging', Prefix: 'records/', ContinuationToken: token }),
      );
      listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      token = page.NextContinuationToken;
      pages++;
    } while (token);

    // Assess
    expect(listed).toEqual(keys);
    expect(pages).toBe(2);
  });

  it('stores and reads back an object streamed through the SDK unchanged', async () => {
    // Prepare
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'bodies' }));
    const body = JSON.stringify({ text: 'é'.repeat(100_000) });

    // Act
    await clients.s3.send(new PutObjectCommand({ Bucket: 'bodies', Key: 'big.json', Body: body }));
    const read = await clients.s3.send(new GetObjectCommand({ Bucket: 'bodies', Key: 'big.json' }));

    // Assess
    expect(await read.Body?.transformToString()).toBe(body);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount receives', async () => {
    // Prepare
    const dlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: 'poison-dlq' }));
    const dlqArn = (
      await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
      )
    ).Attributes?.QueueArn;
    const queue = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: 'poison',
        Attributes: {
          VisibilityTimeout: '1',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
        },
      }),
    );
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'poison pill' }));

    // Act
    const receiveCounts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const got = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['All'], WaitTimeSeconds: 0 }),
      );
      receiveCounts.push(got.Messages?.[0]?.Attributes?.ApproximateReceiveCount ?? 'none');
      await sleep(1100);
    }
    const fromDlq = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 0 }),
    );
    const leftOnQueue = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 0 }),
    );

    // Assess
    expect(receiveCounts).toEqual(['1', '2']);
    expect(fromDlq.Messages?.map((m) => m.Body)).toEqual(['poison pill']);
    expect(leftOnQueue.Messages ?? []).toEqual([]);
  });

  it('serves conditional DynamoDB writes through the document client', async () => {
    // Prepare
    await createKeyedTable(clients.dynamodb, 'items');
    const put = (version: number) =>
      clients.ddb.send(
        new PutCommand({
          TableName: 'items',
          Item: { pk: 'a', version },
          ConditionExpression: 'attribute_not_exists(pk) OR #v < :v',
          ExpressionAttributeNames: { '#v': 'version' },
          ExpressionAttributeValues: { ':v': version },
        }),
      );

    // Act
    await put(2);
    const stale = put(1);

    // Assess
    await expect(stale).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    const item = await clients.ddb.send(new GetCommand({ TableName: 'items', Key: { pk: 'a' } }));
    expect(item.Item).toEqual({ pk: 'a', version: 2 });
  });
});

describe('embedded AWS servers with a data dir', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-servers-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps queued messages, items and objects across a restart', async () => {
    // Prepare
    const first = await startLocalServers({ dataDir });
    const before = clientsFor(first);
    const queue = await before.sqs.send(
      new CreateQueueCommand({ QueueName: 'kept', Attributes: { VisibilityTimeout: '7' } }),
    );
    await before.sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'still here' }));
    await createKeyedTable(before.dynamodb, 'kept');
    await before.ddb.send(new PutCommand({ TableName: 'kept', Item: { pk: 'k', n: 1 } }));
    await before.s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    await before.s3.send(new PutObjectCommand({ Bucket: 'kept', Key: 'a.txt', Body: 'object' }));
    before.destroy();
    await first.stop();

    // Act
    const second = await startLocalServers({ dataDir });
    const after = clientsFor(second);
    try {
      const url = `${second.queueUrlPrefix}kept`;
      const message = await after.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
      const visibility = await after.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout'] }),
      );
      const item = await after.ddb.send(new GetCommand({ TableName: 'kept', Key: { pk: 'k' } }));
      const object = await after.s3.send(new GetObjectCommand({ Bucket: 'kept', Key: 'a.txt' }));

      // Assess
      expect(message.Messages?.map((m) => m.Body)).toEqual(['still here']);
      expect(visibility.Attributes?.VisibilityTimeout).toBe('7');
      expect(item.Item).toEqual({ pk: 'k', n: 1 });
      expect(await object.Body?.transformToString()).toBe('object');
    } finally {
      after.destroy();
      await second.stop();
    }
  });
});

describe('the journal of the local queues', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-journal-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('brings back waiting, delayed and in-flight messages with their receive counts, not deleted ones', async () => {
    // Prepare: the first servers are never stopped, as when the process is killed
    const first = await startLocalServers({ dataDir, worker: false });
    const before = clientsFor(first);
    const QueueUrl = (await before.sqs.send(new CreateQueueCommand({ QueueName: 'wal' }))).QueueUrl;
    const send = (MessageBody: string, DelaySeconds = 0) =>
      before.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody, DelaySeconds }));
    const receiveOne = async (VisibilityTimeout: number) =>
      (
        await before.sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout }),
        )
      ).Messages?.[0];
    await send('twice');
    await receiveOne(0);
    await receiveOne(0); // 'twice' is visible again, received twice
    await send('in flight');
    await send('deleted');
    const twiceAgain = await receiveOne(300); // 'twice', now three receives, hidden for 5 min
    const inFlight = await receiveOne(300);
    const deleted = await receiveOne(300);
    await before.sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: deleted?.ReceiptHandle }));
    await before.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: twiceAgain?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    await send('delayed', 600);
    await send('waiting');
    before.destroy();
    const bodies = [twiceAgain?.Body, inFlight?.Body, deleted?.Body];

    // Act
    const second = await startLocalServers({ dataDir, worker: false });
    const after = clientsFor(second);
    try {
      const url = `${second.queueUrlPrefix}wal`;
      const attributes = await after.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
      );
      const visible = await after.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          AttributeNames: ['All'],
          VisibilityTimeout: 600,
        }),
      );

      // Assess
      expect(bodies).toEqual(['twice', 'in flight', 'deleted']);
      expect(visible.Messages?.map((m) => m.Body)).toEqual(['waiting']);
      expect(attributes.Attributes).toMatchObject({
        ApproximateNumberOfMessagesDelayed: '1',
        ApproximateNumberOfMessagesNotVisible: '2',
      });
      // The restore holds received messages a few seconds (local/sqs-restore.ts): receive until
      // both are back, each once (a receive hides it again for the queue's 30 s).
      const redelivered: Message[] = [];
      await waitFor(async () => {
        const got = await after.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, AttributeNames: ['All'] }),
        );
        redelivered.push(...(got.Messages ?? []));
        return redelivered.length >= 2;
      }, 45_000);
      // Received ones come back after the restore, their receivers having died with the process
      expect(
        redelivered
          .map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])
          .sort(([a], [b]) => String(a).localeCompare(String(b))),
      ).toEqual([
        ['in flight', '2'],
        ['twice', '4'],
      ]);
    } finally {
      after.destroy();
      await second.stop();
      await first.stop();
    }
  }, 90_000);
});

/**
 * Asks the DynamoDB endpoint for its tables from another process while this thread is blocked in
 * `execFileSync`: only servers running on another thread can answer. Returns the HTTP status, or
 * the error name when no answer came within 2 s.
 */
function statusWhileThisThreadIsBlocked(endpoint: string): string {
  const script = `fetch(process.argv[1], {
    method: 'POST',
    headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' },
    body: '{}',
    signal: AbortSignal.timeout(2000),
  }).then((r) => console.log(r.status), (e) => console.log(e.name))`;
  return execFileSync(process.execPath, ['-e', script, endpoint], {
    encoding: 'utf8',
    timeout: 15_000,
  }).trim();
}

describe('where the embedded AWS servers run', () => {
  it('serves requests from a worker thread while the thread that started them is busy', async () => {
    // Prepare
    const servers = await startLocalServers();
    try {
      // Act
      const status = statusWhileThisThreadIsBlocked(servers.endpoints.dynamodb);

      // Assess: an unsigned request is refused, which proves it was read and answered.
      expect(status).toBe('400');
    } finally {
      await servers.stop();
    }
  });

  it('runs on the calling thread when asked, serving every service the same way', async () => {
    // Prepare
    const servers = await startLocalServers({ worker: false });
    const clients = clientsFor(servers);
    try {
      // Act
      const queue = await clients.sqs.send(new CreateQueueCommand({ QueueName: 'here' }));
      await clients.sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'm' }));
      const received = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 0 }),
      );
      await createKeyedTable(clients.dynamodb, 'here');
      await clients.ddb.send(new PutCommand({ TableName: 'here', Item: { pk: 'a' } }));
      const item = await clients.ddb.send(new GetCommand({ TableName: 'here', Key: { pk: 'a' } }));
      await clients.s3.send(new CreateBucketCommand({ Bucket: 'here' }));
      await clients.s3.send(new PutObjectCommand({ Bucket: 'here', Key: 'k', Body: 'v' }));
      const object = await clients.s3.send(new GetObjectCommand({ Bucket: 'here', Key: 'k' }));

      // Assess
      expect(received.Messages?.map((m) => m.Body)).toEqual(['m']);
      expect(item.Item).toEqual({ pk: 'a' });
      expect(await object.Body?.transformToString()).toBe('v');
      expect(statusWhileThisThreadIsBlocked(servers.endpoints.dynamodb)).toBe('TimeoutError');
    } finally {
      clients.destroy();
      await servers.stop();
    }
  });

  it('closes every endpoint and ends the worker when stopped', async () => {
    // Prepare
    const workersBefore = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const servers = await startLocalServers();
    const endpoints = Object.values(servers.endpoints);

    // Act
    await servers.stop();

    // Assess
    expect(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort')).toHaveLength(workersBefore);
    for (const endpoint of endpoints)
      await expect(fetch(endpoint, { signal: AbortSignal.timeout(2000) })).rejects.toMatchObject({
        cause: { code: 'ECONNREFUSED' },
      });
  });

  it('rejects with the cause when a server cannot start on the worker', async () => {
    // Prepare: a file where dynalite's data directory should be.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-servers-bad-'));
    try {
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(path.join(dataDir, 'dynamodb'), 'not a directory');

      // Act
      const starting = startLocalServers({ dataDir });

      // Assess
      await expect(starting).rejects.toThrow(/starting the local AWS servers failed: .*dynamodb/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('DynamoDB Local that cannot start', () => {
  it('fails at once when the JVM exits, naming its log and quoting its end', async () => {
    // Prepare: a java on PATH that answers -version and refuses to run the jar
    const bin = mkdtempSync(path.join(tmpdir(), 'esync-fake-java-'));
    writeFileSync(
      path.join(bin, 'java'),
      '#!/bin/sh\n[ "$1" = -version ] && exit 0\necho "Error: the JVM refused to start (fake)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const previous = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${previous}`;
    try {
      // Act
      const error: unknown = await startLocalServers({ dynamodb: 'dynamodb-local' }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toMatch(
        /^DynamoDB Local exited \(1\) at start; its log: \S+dynamodb-local\.log, ending:\n/,
      );
      expect(message).toContain('the JVM refused to start (fake)');
      const logPath = /its log: (\S+), ending/.exec(message)?.[1] ?? '';
      expect(readFileSync(logPath, 'utf8')).toContain('the JVM refused to start (fake)');
      rmSync(path.dirname(logPath), { recursive: true, force: true });
    } finally {
      process.env.PATH = previous;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

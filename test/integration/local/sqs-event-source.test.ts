import { createHash } from 'node:crypto';
import { SqsSchema } from '@aws-lambda-powertools/parser/schemas';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqsEventSource, type SqsEventSourceOptions } from '../../../local/sqs-event-source.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { type LocalSqs, startLocalSqs } from './local-sqs.ts';

let local: LocalSqs;
const sources: SqsEventSource[] = [];
let queueCounter = 0;
const quiet = { warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  local = await startLocalSqs();
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await local.stop();
});

async function queueWithDlq(maxReceiveCount = 2, visibilityTimeout = 1) {
  const name = `q${++queueCounter}`;
  const dlq = await local.createQueue(`${name}-dlq`);
  const queue = await local.createQueue(name, {
    VisibilityTimeout: String(visibilityTimeout),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount }),
  });
  return { ...queue, dlqUrl: dlq.queueUrl };
}

async function sendBodies(queueUrl: string, bodies: string[]) {
  for (let i = 0; i < bodies.length; i += 10)
    await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
}

/** Messages on the queue, visible or in flight: local-aws-sqs counts both in ApproximateNumberOfMessages. */
async function messagesOnQueue(queueUrl: string): Promise<number> {
  const { Attributes } = await local.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages);
}

async function bodiesIn(queueUrl: string): Promise<string[]> {
  const out = await local.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return (out.Messages ?? []).map((m) => m.Body ?? '');
}

function startSource(options: Omit<SqsEventSourceOptions, 'sqs' | 'logger'>): SqsEventSource {
  const source = new SqsEventSource({ sqs: local.sqs, logger: quiet, ...options });
  sources.push(source);
  source.start();
  return source;
}

describe('SqsEventSource', () => {
  it('invokes the handler with records shaped exactly like Lambda’s SQS event and deletes them on success', async () => {
    // Prepare
    const { queueUrl, queueArn } = await queueWithDlq();
    await local.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: '{"id":1}',
        MessageAttributes: {
          pipeline: { DataType: 'String', StringValue: 'users-sync' },
          raw: { DataType: 'Binary', BinaryValue: Buffer.from('hi') },
        },
      }),
    );
    const events: SQSEvent[] = [];
    // Act
    const source = startSource({ queueUrl, queueArn, handler: async (event) => void events.push(event) });
    await source.idle();
    // Assess
    expect(events).toHaveLength(1);
    expect(SqsSchema.safeParse(events[0]).success).toBe(true);
    const record = events[0]?.Records[0];
    expect(record).toMatchObject({
      body: '{"id":1}',
      md5OfBody: createHash('md5').update('{"id":1}').digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
      messageAttributes: {
        pipeline: {
          stringValue: 'users-sync',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'String',
        },
        raw: { binaryValue: 'aGk=', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      },
    });
    expect(record?.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record?.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record?.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
    expect(await messagesOnQueue(queueUrl)).toBe(0);
    expect(source.stats).toMatchObject({ invocations: 1, deleted: 1, failedInvocations: 0 });
  });

  it('never puts more than batchSize records in one invocation', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(
      queueUrl,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const sizes: number[] = [];

    const source = startSource({
      queueUrl,
      queueArn,
      batchSize: 4,
      handler: async (e) => void sizes.push(e.Records.length),
    });
    await source.idle();

    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(source.stats.deleted).toBe(25);
  });

  it('gathers messages across polls until the batching window closes', async () => {
    const { queueUrl, queueArn } = await queueWithDlq(2, 30);
    await sendBodies(
      queueUrl,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const sizes: number[] = [];

    const source = startSource({
      queueUrl,
      queueArn,
      batchSize: 100,
      maximumBatchingWindowSeconds: 1,
      handler: async (e) => void sizes.push(e.Records.length),
    });
    await source.idle();

    expect(sizes).toEqual([25]);
  });

  it('runs no more than maxConcurrency invocations at once', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(
      queueUrl,
      Array.from({ length: 8 }, (_, i) => `m${i}`),
    );
    let running = 0;
    let peak = 0;

    const source = startSource({
      queueUrl,
      queueArn,
      batchSize: 1,
      maxConcurrency: 2,
      handler: async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 60));
        running--;
      },
    });
    await source.idle();

    expect(peak).toBe(2);
    expect(source.stats).toMatchObject({ invocations: 8, deleted: 8 });
  });

  it('deletes all but the reported batchItemFailures, which return after the visibility timeout and then reach the DLQ', async () => {
    // Prepare: the queue redrives to its DLQ after 2 receives, visibility timeout 1 s
    const { queueUrl, queueArn, dlqUrl } = await queueWithDlq(2);
    await sendBodies(queueUrl, ['ok-1', 'poison', 'ok-2']);
    const poisonReceives: string[] = [];
    // Act
    const source = startSource({
      queueUrl,
      queueArn,
      reportBatchItemFailures: true,
      handler: async (event) => {
        const poison = event.Records.filter((r) => r.body === 'poison');
        for (const r of poison) poisonReceives.push(r.attributes.ApproximateReceiveCount);
        return { batchItemFailures: poison.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    // Assess
    await vi.waitFor(async () => expect(await bodiesIn(dlqUrl)).toEqual(['poison']), {
      timeout: 8000,
      interval: 200,
    });
    expect(poisonReceives).toEqual(['1', '2']);
    expect(source.stats).toMatchObject({ deleted: 2, itemFailures: 2, failedInvocations: 0 });
    expect(await messagesOnQueue(queueUrl)).toBe(0);
  });

  it('ignores batchItemFailures when reportBatchItemFailures is off', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(queueUrl, ['a', 'b']);

    const source = startSource({
      queueUrl,
      queueArn,
      handler: async (event) => ({
        batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId ?? '' }],
      }),
    });
    await source.idle();

    expect(source.stats).toMatchObject({ deleted: 2, itemFailures: 0 });
    expect(await messagesOnQueue(queueUrl)).toBe(0);
  });

  it('keeps the whole batch when the handler throws, and delivers it again after the visibility timeout', async () => {
    const { queueUrl, queueArn } = await queueWithDlq(5);
    await sendBodies(queueUrl, ['a', 'b']);
    const attempts: string[][] = [];

    const source = startSource({
      queueUrl,
      queueArn,
      handler: async (event) => {
        attempts.push(event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
        if (attempts.length === 1) throw new Error('database unavailable');
      },
    });
    await vi.waitFor(() => expect(source.stats.deleted).toBe(2), { timeout: 5000, interval: 100 });

    expect(attempts).toEqual([
      ['a#1', 'b#1'],
      ['a#2', 'b#2'],
    ]);
    expect(source.stats.failedInvocations).toBe(1);
  });

  it('treats an itemIdentifier that is not in the batch as a failure of the whole batch', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(queueUrl, ['a', 'b']);

    const source = startSource({
      queueUrl,
      queueArn,
      reportBatchItemFailures: true,
      handler: async () => ({ batchItemFailures: [{ itemIdentifier: 'not-a-message-id' }] }),
    });
    await vi.waitFor(() => expect(source.stats.invocations).toBe(1));
    await source.stop();

    expect(source.stats).toMatchObject({ failedInvocations: 1, deleted: 0 });
    expect(await messagesOnQueue(queueUrl)).toBe(2);
  });

  it('fails an invocation that outlives the function timeout and deletes nothing', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(queueUrl, ['slow']);

    const source = startSource({
      queueUrl,
      queueArn,
      functionTimeoutSeconds: 0.1,
      handler: () => new Promise((resolve) => setTimeout(resolve, 400)),
    });
    await vi.waitFor(() => expect(source.stats.failedInvocations).toBe(1));
    await source.stop();

    expect(source.stats.deleted).toBe(0);
  });

  it('stop() waits for the invocation in flight and its deletes', async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    await sendBodies(queueUrl, ['a']);
    let finished = false;
    const source = startSource({
      queueUrl,
      queueArn,
      handler: async () => {
        await new Promise((r) => setTimeout(r, 150));
        finished = true;
      },
    });
    await vi.waitFor(() => expect(source.stats.inFlight).toBe(1));

    await source.stop();

    expect(finished).toBe(true);
    expect(source.stats.deleted).toBe(1);
    expect(source.running).toBe(false);
  });

  it('rejects settings AWS rejects, showing the value', () => {
    const base = {
      sqs: local.sqs,
      queueUrl: 'u',
      queueArn: 'arn:aws:sqs:us-east-1:1:q',
      handler: async () => undefined,
    };
    expect(() => new SqsEventSource({ ...base, batchSize: 20 })).toThrow(ConfigError);
    expect(() => new SqsEventSource({ ...base, batchSize: 20 })).toThrow(/at least 1, got 0/);
    expect(() => new SqsEventSource({ ...base, maxConcurrency: 1 })).toThrow(
      /maxConcurrency must be an integer from 2 to 1000, got 1/,
    );
    expect(() => new SqsEventSource({ ...base, queueArn: 'q' })).toThrow(
      /queueArn must be an SQS queue ARN, got "q"/,
    );
  });
});

import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type InjectedSqsFault,
  SqsEventSource,
  type SqsEventSourceOptions,
} from '../../local/sqs-event-source.ts';
import { type LocalSqs, startLocalSqs } from '../integration/local/local-sqs.ts';

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

/** A queue whose visibility timeout is far longer than any test: only a shortened one brings a message back in time. */
async function queueWithMessage(body: string) {
  const queue = await local.createQueue(`faults${++queueCounter}`, { VisibilityTimeout: '300' });
  await local.sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
  return queue;
}

async function messagesOnQueue(queueUrl: string): Promise<number> {
  const { Attributes } = await local.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages);
}

function startSource(options: Omit<SqsEventSourceOptions, 'sqs' | 'logger'>): SqsEventSource {
  const source = new SqsEventSource({ sqs: local.sqs, logger: quiet, ...options });
  sources.push(source);
  source.start();
  return source;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SqsEventSource fault injection', () => {
  it('delivers a drawn message a second time, concurrently, with the same message id and receipt handle', async () => {
    // Prepare
    const { queueUrl, queueArn } = await queueWithMessage('twice');
    const seen: { id: string; handle: string }[] = [];
    const faults: InjectedSqsFault[] = [];

    // Act
    const source = startSource({
      queueUrl,
      queueArn,
      handler: async (event: SQSEvent) => {
        for (const r of event.Records) seen.push({ id: r.messageId, handle: r.receiptHandle });
        await new Promise((r) => setTimeout(r, 100));
      },
      faults: { duplicateDelivery: 1, onFault: (f) => faults.push(f) },
    });
    await until(() => seen.length === 2);
    await source.idle();

    // Assess
    expect(seen[0]).toEqual(seen[1]);
    expect(faults).toEqual([{ kind: 'duplicateDelivery', queueUrl, messageIds: [seen[0]?.id] }]);
    expect(await messagesOnQueue(queueUrl)).toBe(0);
  });

  it('leaves a message processed by a crashed invocation on the queue and delivers it again, once', async () => {
    // Prepare
    const { queueUrl, queueArn } = await queueWithMessage('crash');
    const receiveCounts: string[] = [];
    const faults: InjectedSqsFault[] = [];

    // Act
    const source = startSource({
      queueUrl,
      queueArn,
      handler: async (event: SQSEvent) => {
        for (const r of event.Records) receiveCounts.push(r.attributes.ApproximateReceiveCount);
      },
      faults: { crashBeforeDelete: 1, redeliverAfterSeconds: 0, onFault: (f) => faults.push(f) },
    });
    await until(() => receiveCounts.length === 2);
    await source.idle();

    // Assess
    // local-aws-sqs counts the visibility change as a receive too: the redelivery reads 3 there, 2 on AWS.
    expect(receiveCounts[0]).toBe('1');
    expect(Number(receiveCounts[1])).toBeGreaterThan(1);
    expect(receiveCounts).toHaveLength(2);
    expect(faults.map((f) => f.kind)).toEqual(['crashBeforeDelete']);
    expect(await messagesOnQueue(queueUrl)).toBe(0);
  });

  it('brings a failed message back after redeliverAfterSeconds instead of the queue visibility timeout', async () => {
    // Prepare
    const { queueUrl, queueArn } = await queueWithMessage('fails once');
    let calls = 0;

    // Act
    const source = startSource({
      queueUrl,
      queueArn,
      reportBatchItemFailures: true,
      handler: async (event: SQSEvent): Promise<SQSBatchResponse> => {
        calls++;
        return {
          batchItemFailures: calls === 1 ? event.Records.map((r) => ({ itemIdentifier: r.messageId })) : [],
        };
      },
      faults: { redeliverAfterSeconds: 0 },
    });
    await until(() => calls === 2, 5000);
    await source.idle();

    // Assess
    expect(source.stats).toMatchObject({ itemFailures: 1, deleted: 1 });
  });

  it('injects nothing when the rates are zero', async () => {
    // Prepare
    const { queueUrl, queueArn } = await queueWithMessage('once');
    let calls = 0;
    const faults: InjectedSqsFault[] = [];

    // Act
    const source = startSource({
      queueUrl,
      queueArn,
      handler: async () => {
        calls++;
      },
      faults: { duplicateDelivery: 0, crashBeforeDelete: 0, onFault: (f) => faults.push(f) },
    });
    await until(() => calls === 1);
    await source.idle();

    // Assess
    expect(calls).toBe(1);
    expect(faults).toEqual([]);
    expect(source.stats.deleted).toBe(1);
  });
});

import path from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LambdaRuntime } from '../../../local/lambda-runtime.ts';
import { SqsEventSource } from '../../../local/sqs-event-source.ts';
import { type LocalSqs, startLocalSqs } from './local-sqs.ts';

const functionsDir = path.join(import.meta.dirname, 'fixtures', 'functions');
const ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
};

let local: LocalSqs;
const savedEnv = new Map<string, string | undefined>();
const runtimes: LambdaRuntime[] = [];
const sources: SqsEventSource[] = [];
let queues = 0;

beforeAll(async () => {
  local = await startLocalSqs();
  for (const [key, value] of Object.entries({ ...ENV, AWS_ENDPOINT_URL_SQS: local.endpoint })) {
    savedEnv.set(key, process.env[key]);
    process.env[key] = value;
  }
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  for (const runtime of runtimes.splice(0)) runtime.close();
});

afterAll(async () => {
  for (const [key, value] of savedEnv)
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  await local.stop();
});

/** A runtime whose `slow-writer` function times out after 1 s, with the lines it logged. */
function slowWriterRuntime() {
  const log: string[] = [];
  const runtime = new LambdaRuntime({
    functionsDir,
    functions: [{ name: 'slow-writer', functionName: 'esync-dev-core-slow-writer-fn', timeoutSeconds: 1 }],
    log: (line) => log.push(line),
  });
  runtimes.push(runtime);
  return { runtime, log };
}

async function queue(attributes?: Record<string, string>) {
  return local.createQueue(`timeout-${++queues}`, attributes);
}

async function writesIn(queueUrl: string): Promise<Array<{ messageId: string; receiveCount: number }>> {
  const { Messages } = await local.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return (Messages ?? []).map(
    (m) => JSON.parse(m.Body ?? '{}') as { messageId: string; receiveCount: number },
  );
}

function sqsEvent(messageId: string, receiveCount: number, body: object): SQSEvent {
  return {
    Records: [
      {
        messageId,
        body: JSON.stringify(body),
        attributes: { ApproximateReceiveCount: String(receiveCount) },
      },
    ],
  } as unknown as SQSEvent;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('local Lambda runtime at a function timeout', () => {
  it('ends the invocation with Lambda’s timeout error, and nothing it sends afterwards reaches the queue', async () => {
    // Prepare
    const { runtime, log } = slowWriterRuntime();
    const writes = await queue();
    const body = { writeTo: writes.queueUrl, sleepMsOnFirstReceive: 1500 };

    // Act
    const failure = await runtime.invoke('slow-writer', sqsEvent('m1', 1, body)).catch((e: unknown) => e);
    await vi.waitFor(() => expect(log.some((line) => line.includes('was not sent'))).toBe(true), {
      timeout: 5000,
      interval: 100,
    });

    // Assess
    expect(failure).toMatchObject({
      name: 'Sandbox.Timedout',
      message: expect.stringMatching(/^RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds$/),
    });
    expect(log).toContainEqual(
      expect.stringMatching(/timed out after 1\.00 seconds; .*SendMessageCommand was not sent/),
    );
    expect(await writesIn(writes.queueUrl)).toEqual([]);
  });

  it('starts the function cold after a timeout, and the fresh instance writes', async () => {
    // Prepare
    const { runtime, log } = slowWriterRuntime();
    const writes = await queue();
    const body = { writeTo: writes.queueUrl, sleepMsOnFirstReceive: 1500 };
    await runtime.invoke('slow-writer', sqsEvent('m1', 1, body)).catch(() => undefined);

    // Act
    await runtime.invoke('slow-writer', sqsEvent('m1', 2, body));
    await sleep(700);

    // Assess
    expect(await writesIn(writes.queueUrl)).toEqual([{ messageId: 'm1', receiveCount: 2 }]);
    expect(log.filter((line) => line.endsWith('cold start'))).toHaveLength(2);
  });

  it('leaves a timed-out batch on the queue: it is delivered again after the visibility timeout', async () => {
    // Prepare
    const { runtime } = slowWriterRuntime();
    const writes = await queue();
    // AWS refuses a mapping whose queue's visibility timeout is shorter than the function's timeout.
    const input = await queue({ VisibilityTimeout: '2' });
    const quiet = { warn: () => undefined, error: () => undefined };
    const source = new SqsEventSource({
      sqs: local.sqs,
      queueUrl: input.queueUrl,
      queueArn: input.queueArn,
      handler: async (event) => (await runtime.invoke('slow-writer', event)) as undefined,
      logger: quiet,
    });
    sources.push(source);
    const { MessageId } = await local.sqs.send(
      new SendMessageCommand({
        QueueUrl: input.queueUrl,
        MessageBody: JSON.stringify({ writeTo: writes.queueUrl, sleepMsOnFirstReceive: 1500 }),
      }),
    );

    // Act
    source.start();
    await vi.waitFor(() => expect(source.stats).toMatchObject({ deleted: 1, failedInvocations: 1 }), {
      timeout: 15_000,
      interval: 100,
    });
    await sleep(700);

    // Assess
    const written = await writesIn(writes.queueUrl);
    expect(written).toHaveLength(1);
    expect(written[0]?.messageId).toBe(MessageId);
    expect(written[0]?.receiveCount).toBeGreaterThan(1);
  });
});

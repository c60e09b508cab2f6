import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  eventually,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';

const PIPELINE = 'accounts-alert';

/** How often this test's stack judges the DLQ alarms: often, so the test waits for no 10 s tick. */
const QUEUE_ALARM_CHECK_MS = 200;

/** A pipeline whose runs fail in Discover: its database secret does not exist. */
const PIPELINE_YAML = `
name: ${PIPELINE}
source:
  type: postgres
  connection: { secret: esync/test/missing-db, ssl: disable }
  table: accounts
  key: [id]
  cursor: [updated_at]
target:
  type: dynamodb
alerts:
  notify:
    webhooks:
      - secret: esync/test/chat
`;

/** The same failing pipeline, whose chat service is down. */
const DOWN_PIPELINE = 'accounts-alert-down';
const DOWN_PIPELINE_YAML = PIPELINE_YAML.replace(`name: ${PIPELINE}`, `name: ${DOWN_PIPELINE}`).replace(
  'esync/test/chat',
  'esync/test/chat-down',
);

/** A chat service on loopback that keeps every JSON body posted to it, answering `status`. */
async function startReceiver(status = 200): Promise<{ server: Server; url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(status).end(status === 200 ? 'ok' : 'unavailable');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

describe('alerts to chat webhooks on the local stack', () => {
  let project: E2eProject;
  let e2e: E2eStack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let down: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    down = await startReceiver(503);
    project = createProject({ [PIPELINE]: PIPELINE_YAML, [DOWN_PIPELINE]: DOWN_PIPELINE_YAML });
    e2e = await startE2eStack(
      project,
      { 'esync/test/chat': receiver.url, 'esync/test/chat-down': down.url },
      { queueAlarmCheckMs: QUEUE_ALARM_CHECK_MS },
    );
  }, 180_000);

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
    receiver?.server.close();
    down?.server.close();
  });

  it('posts a failing run’s alarm to the pipeline’s webhook with the pipeline, the cause and the command to inspect it', async () => {
    // Act
    const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    const run = await waitForRun(e2e.stack, started.body.runId, 90_000);
    const body = await eventually('the alarm at the chat receiver', async () => receiver.bodies[0]);

    // Assess
    expect(run.status).toBe('failed');
    const { text } = body as { text: string };
    expect(text).toContain(`pipeline ${PIPELINE}: esync-dev-${PIPELINE}-runs-failed ALARM`);
    const runId = started.body.runId;
    expect(text).toContain(`Cause: run ${runId} FAILED`);
    expect(text).toContain(
      `Last failed run ${runId}: ConfigError: secret "esync/test/missing-db" does not exist`,
    );
    expect(text).toContain(`Inspect: esync runs show ${runId} --local`);
    expect(e2e.log).toContainEqual(
      expect.stringMatching(`^alarm: esync-dev-${PIPELINE}-runs-failed would fire`),
    );
    expect(e2e.stack.iam.denials).toEqual([]);
  }, 120_000);

  it('posts dlq-depth when a message sits in the pipeline’s load DLQ, and its recovery once the DLQ is empty', async () => {
    // Prepare
    const dlqUrl = (e2e.stack.resources.find((r) => r.name === PIPELINE)?.loadQueueUrl ?? '').replace(
      /-load$/,
      '-load-dlq',
    );
    const alarmName = `esync-dev-${PIPELINE}-dlq-depth`;
    const posted = (state: string) => async () =>
      receiver.bodies.find((b) => (b as { text: string }).text.includes(`${alarmName} ${state}`));

    // Act: the stack judges the DLQs every QUEUE_ALARM_CHECK_MS (esync dev: every 10 s).
    await e2e.clients.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: '{}' }));
    const fired = await eventually('the dlq-depth alarm at the chat receiver', posted('ALARM'), 40_000);
    const { Messages = [] } = await e2e.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl }));
    for (const { ReceiptHandle } of Messages)
      await e2e.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle }));
    const recovered = await eventually('its recovery', posted('recovered (OK)'), 40_000);

    // Assess
    expect((fired as { text: string }).text).toContain(
      `Cause: 1 messages in the load DLQ ${alarmName.replace('-dlq-depth', '-load-dlq')}`,
    );
    expect((fired as { text: string }).text).toContain(`Inspect: esync dlq inspect ${PIPELINE} --local`);
    expect((recovered as { text: string }).text).toContain('Cause: 0 messages');
    expect(e2e.stack.iam.denials).toEqual([]);
  }, 120_000);

  it('keeps an alarm whose chat service answers 503 in the alert DLQ after Lambda’s two retries', async () => {
    // Prepare
    const dlqUrl = `${e2e.stack.endpoints.sqs}/000000000000/esync-dev-core-alert-dlq`;

    // Act
    const started = await callApi<{ runId: string }>(
      e2e.stack,
      'POST',
      `/pipelines/${DOWN_PIPELINE}/runs`,
      {},
    );
    await waitForRun(e2e.stack, started.body.runId, 90_000);
    const kept = await eventually(
      'the alarm in the alert DLQ',
      async () => {
        const { Messages = [] } = await e2e.clients.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1 }),
        );
        return Messages[0];
      },
      40_000,
    );

    // Assess
    expect(down.bodies).toHaveLength(3);
    const record = JSON.parse(kept.Body ?? '{}') as {
      requestContext: { condition: string; approximateInvokeCount: number };
      requestPayload: { Records: Array<{ Sns: { Message: string } }> };
      responsePayload: { errorMessage: string };
    };
    expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    expect(record.responsePayload.errorMessage).toContain('answered HTTP 503');
    expect(JSON.parse(record.requestPayload.Records[0]?.Sns.Message ?? '{}')).toMatchObject({
      AlarmName: `esync-dev-${DOWN_PIPELINE}-runs-failed`,
      NewStateValue: 'ALARM',
    });
    expect(e2e.log).toContainEqual(expect.stringContaining('kept in esync-dev-core-alert-dlq'));
  }, 120_000);
});

import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas/api-gatewayv2';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../functions/webhook/handler.ts';
import { METRIC } from '../../../shared/lambda/observability.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import type { RecordsMessage } from '../../../shared/records/messages.ts';
import { githubFixture } from '../../support/e2e-events.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const events = path.join(import.meta.dirname, '..', '..', '..', 'events', 'apigw');
const sample = (name: string) =>
  JSON.parse(readFileSync(path.join(events, name), 'utf8')) as APIGatewayProxyEventV2;
const secrets = JSON.parse(readFileSync(path.join(events, 'secrets.json'), 'utf8')) as Record<string, string>;
const HMAC_SECRET = secrets['esync/demo/hmac-webhook'] as string;

let h: FunctionsHarness;

beforeAll(async () => {
  h = await startFunctionsHarness({
    secrets,
    pipelines: [
      {
        name: 'github-issues',
        source: { type: 'webhook', mapping: 'github', key: ['kind', 'id'] },
        triggers: { webhook: { signature: 'github', secret: 'esync/demo/github-webhook' } },
        target: { type: 's3', prefix: 'lake/' },
      },
      {
        name: 'widgets',
        source: { type: 'webhook', mapping: 'json', key: ['id'], cursor: ['updated_at'] },
        triggers: {
          webhook: { signature: 'hmac', secret: 'esync/demo/hmac-webhook', maxBodyBytes: 1024 },
        },
        target: { type: 'dynamodb' },
      },
      {
        name: 'users-sync',
        source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
        target: { type: 'dynamodb' },
      },
    ],
  });
});
afterAll(() => h?.stop());
afterEach(async () => {
  for (const pipeline of h.pipelines.keys()) {
    const left = await h.receiveAll(h.queueUrl(pipeline));
    await h.deleteMessages(h.queueUrl(pipeline), left);
  }
});

async function invoke(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return (await handler(event, h.context('webhook'))) as APIGatewayProxyStructuredResultV2;
}

/** The hmac sample with another body, signed as the sender would sign it. */
function signedWidgets(body: string, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const event = sample('webhook-hmac.json');
  return {
    ...event,
    body,
    headers: {
      ...event.headers,
      'x-signature': createHmac('sha256', HMAC_SECRET).update(body).digest('hex'),
      ...headers,
    },
  };
}

async function queuedRecords(pipeline: string) {
  const messages = await h.receiveAll(h.queueUrl(pipeline));
  return messages.flatMap((m) => (JSON.parse(m.Body ?? '{}') as RecordsMessage).records);
}

const bodyOf = (response: APIGatewayProxyStructuredResultV2) => JSON.parse(String(response.body));

describe('webhook handler (API Gateway HTTP API → load queue)', () => {
  it('answers 202 to a signed GitHub delivery once its records are on the queue', async () => {
    // Act
    const response = await invoke(sample('webhook-github.json'));

    // Assess
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({ deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', accepted: 1 });
    const records = await queuedRecords('github-issues');
    expect(records).toEqual([
      expect.objectContaining({
        key: 'issue#444500041',
        op: 'upsert',
        data: expect.objectContaining({ kind: 'issue', id: 444500041 }),
        provenance: expect.objectContaining({ deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958' }),
      }),
    ]);
  });

  it('answers 202 to a signed generic HMAC delivery and queues its records', async () => {
    // Prepare
    const event = sample('webhook-hmac.json');

    // Act
    const response = await invoke(event);

    // Assess: the generic scheme signs no delivery id, so deliveries are told apart by their body.
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({ deliveryId: `body-${contentHash(String(event.body))}`, accepted: 1 });
    expect(await queuedRecords('widgets')).toEqual([
      expect.objectContaining({
        key: '7',
        data: { id: 7, name: 'widget', updated_at: '2026-11-22T12:00:00Z' },
      }),
    ]);
  });

  it('answers a signed delivery of an event type the github mapping does not take with 202 ignored and its reason, counts it and queues nothing', async () => {
    // Prepare
    const GITHUB_SECRET = secrets['esync/demo/github-webhook'] as string;
    const delivery = (event: string, body: string): APIGatewayProxyEventV2 => {
      const base = sample('webhook-github.json');
      return {
        ...base,
        body,
        headers: {
          ...base.headers,
          'x-github-event': event,
          'x-github-delivery': `ignored-${event}`,
          'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`,
        },
      };
    };
    const counted = vi.spyOn(Metrics.prototype, 'addMetric');

    // Act
    const ping = await invoke(delivery('ping', githubFixture('ping')));
    const pullRequest = await invoke(delivery('pull_request', githubFixture('issues.opened')));

    // Assess
    expect(ping.statusCode).toBe(202);
    expect(bodyOf(ping)).toEqual({
      deliveryId: 'ignored-ping',
      accepted: 0,
      ignored: 'ping',
      reason: expect.stringMatching(/test delivery/),
    });
    expect(pullRequest.statusCode).toBe(202);
    expect(bodyOf(pullRequest)).toMatchObject({ accepted: 0, ignored: 'pull_request' });
    expect(bodyOf(pullRequest).reason).toMatch(/issues, issue_comment, push/);
    const names = counted.mock.calls.map(([name]) => name);
    expect(names.filter((n) => n === METRIC.webhookIgnored)).toHaveLength(2);
    expect(names).not.toContain(METRIC.webhookDeliveries);
    expect(await queuedRecords('github-issues')).toEqual([]);
    counted.mockRestore();
  });

  it('answers a redelivery of the same delivery id with 202 and enqueues nothing again', async () => {
    // Prepare
    const event = sample('webhook-github.json');
    const delivery = { ...event, headers: { ...event.headers, 'x-github-delivery': 'redelivered-1' } };
    const first = await invoke(delivery);
    const firstRecords = await queuedRecords('github-issues');

    // Act
    const again = await invoke(delivery);

    // Assess
    expect(first.statusCode).toBe(202);
    expect(firstRecords.map((r) => r.key)).toEqual(['issue#444500041']);
    expect(again.statusCode).toBe(202);
    expect(bodyOf(again)).toEqual({ deliveryId: 'redelivered-1', accepted: 1 });
    expect(await queuedRecords('github-issues')).toEqual([]);
  });

  it('answers concurrent sends of one delivery with its one answer, never 5xx, and enqueues it once', async () => {
    // Prepare
    const event = sample('webhook-github.json');
    const delivery = { ...event, headers: { ...event.headers, 'x-github-delivery': 'concurrent-1' } };

    // Act
    const answers = await Promise.all(Array.from({ length: 26 }, () => invoke(delivery)));

    // Assess: each waits for the original's answer, or is told when to repeat
    for (const answer of answers) {
      expect([202, 409]).toContain(answer.statusCode);
      if (answer.statusCode === 202)
        expect(bodyOf(answer)).toEqual({ deliveryId: 'concurrent-1', accepted: 1 });
      else expect(answer.headers?.['retry-after']).toBe('1');
    }
    expect(answers.filter((a) => a.statusCode === 202).length).toBeGreaterThan(0);
    expect((await queuedRecords('github-issues')).map((r) => r.key)).toEqual(['issue#444500041']);
  });

  it('refuses a delivery whose signature does not match with 401 and enqueues nothing', async () => {
    // Prepare
    const event = sample('webhook-github.json');
    const tampered = { ...event, body: String(event.body).replace('"opened"', '"closed"') };

    // Act
    const response = await invoke(tampered);

    // Assess
    expect(response.statusCode).toBe(401);
    expect(bodyOf(response).error).toMatch(/x-hub-signature-256 signature does not match/);
    expect(await queuedRecords('github-issues')).toEqual([]);
  });

  it('answers 404 for an unknown pipeline and for a pipeline that takes no webhooks', async () => {
    // Prepare
    const unknown = { ...sample('webhook-hmac.json'), pathParameters: { pipeline: 'widgetz' } };
    const noWebhook = { ...sample('webhook-hmac.json'), pathParameters: { pipeline: 'users-sync' } };

    // Act
    const responses = [await invoke(unknown), await invoke(noWebhook)];

    // Assess
    expect(responses.map((r) => r.statusCode)).toEqual([404, 404]);
    expect(bodyOf(responses[0] as APIGatewayProxyStructuredResultV2).error).toMatch(
      /unknown pipeline "widgetz".*did you mean `widgets`/,
    );
    expect(bodyOf(responses[1] as APIGatewayProxyStructuredResultV2).error).toMatch(
      /"users-sync" accepts no webhooks/,
    );
    expect(await queuedRecords('users-sync')).toEqual([]);
  });

  it('refuses a body over the pipeline limit with 413 and enqueues nothing', async () => {
    // Prepare
    const rows = Array.from({ length: 30 }, (_, i) => ({
      id: i,
      name: `widget ${i}`,
      updated_at: '2026-11-22T12:00:00Z',
    }));

    // Act
    const response = await invoke(signedWidgets(JSON.stringify(rows)));

    // Assess
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response).error).toMatch(/at most 1024/);
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('refuses malformed JSON with 400 saying what is wrong, even when validly signed', async () => {
    // Act
    const response = await invoke(signedWidgets('[{"id":9,"name":'));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({
      error: expect.stringMatching(/not valid JSON/),
      issues: [{ path: 'body', message: 'invalid JSON' }],
    });
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('refuses a validly signed body that is not declared as JSON with 415 naming the header', async () => {
    // Act
    const response = await invoke(
      signedWidgets('[{"id":10,"name":"cog","updated_at":"2026-11-22T12:00:00Z"}]', {
        'content-type': 'text/plain',
      }),
    );

    // Assess
    expect(response.statusCode).toBe(415);
    expect(bodyOf(response)).toMatchObject({
      error: 'content-type must be application/json, got "text/plain"',
      issues: [{ path: 'headers.content-type' }],
    });
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('answers 503 with Retry-After when the idempotency table fails, telling nothing of it, and enqueues nothing', async () => {
    // Prepare
    const table = h.deps.config.idempotencyTable;
    h.failDynamoDbRequests({ table, containing: table });

    // Act
    const response = await invoke(
      signedWidgets('[{"id":11,"name":"gear","updated_at":"2026-11-22T12:00:00Z"}]'),
    );
    h.failDynamoDbRequests(undefined);

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'retry-after': '5' });
    expect(bodyOf(response)).toEqual({
      error: 'temporarily unavailable, try again',
      requestId: expect.any(String),
    });
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('answers 429 with Retry-After when the idempotency table sheds load, and enqueues nothing', async () => {
    // Prepare
    const table = h.deps.config.idempotencyTable;
    h.failDynamoDbRequests({ table, containing: table, throttled: true });

    // Act
    const response = await invoke(
      signedWidgets('[{"id":12,"name":"axle","updated_at":"2026-11-22T12:00:00Z"}]'),
    );
    h.failDynamoDbRequests(undefined);

    // Assess
    expect(response.statusCode).toBe(429);
    expect(response.headers).toMatchObject({ 'retry-after': '5' });
    expect(bodyOf(response).error).toBe('too many requests, try again');
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('answers an event that is not an HTTP API payload 2.0 with 400 naming its fields, and enqueues nothing', async () => {
    // Prepare
    const { headers: _, ...headless } = signedWidgets(
      '[{"id":13,"name":"bolt","updated_at":"2026-11-22T12:00:00Z"}]',
    );

    // Act
    const response = await invoke(headless as APIGatewayProxyEventV2);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({
      error: expect.stringMatching(/^not an API Gateway HTTP API event \(payload 2\.0\): event\.headers/),
      issues: [{ path: 'event.headers', message: expect.any(String) }],
    });
    expect(await queuedRecords('widgets')).toEqual([]);
  });

  it('is given sample events that hold to Powertools’ schema of what API Gateway sends', () => {
    const samples = readdirSync(events).filter((name) => /^(webhook|api)-.*\.json$/.test(name));

    expect(samples.length).toBeGreaterThanOrEqual(5);
    for (const name of samples)
      expect(APIGatewayProxyEventV2Schema.safeParse(sample(name)).error?.issues, name).toBeUndefined();
  });
});

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../functions/webhook/handler.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const SECRET_NAME = 'esync/widgets/hmac-webhook';
const MAX_AGE_SECONDS = 120;
const events = path.join(import.meta.dirname, '..', '..', '..', 'events', 'apigw');
const hmacSample = JSON.parse(
  readFileSync(path.join(events, 'webhook-hmac.json'), 'utf8'),
) as APIGatewayProxyEventV2;

let h: FunctionsHarness;
let delivery = 0;

beforeAll(async () => {
  h = await startFunctionsHarness({
    secrets: { [SECRET_NAME]: 'before-rotation' },
    environment: { ESYNC_SECRETS_MAX_AGE_SECONDS: String(MAX_AGE_SECONDS) },
    pipelines: [
      {
        name: 'widgets',
        source: { type: 'webhook', mapping: 'json', key: ['id'], cursor: ['updated_at'] },
        triggers: { webhook: { signature: 'hmac', secret: SECRET_NAME } },
        target: { type: 'dynamodb' },
      },
    ],
  });
});
afterAll(async () => {
  vi.useRealTimers();
  await h?.stop();
});

/** A new delivery (its own body, so never answered from the idempotency record) signed with `secret`. */
async function deliverSignedWith(secret: string): Promise<number> {
  delivery += 1;
  const body = JSON.stringify({ id: delivery, name: 'widget', updated_at: '2026-11-22T12:00:00Z' });
  const event: APIGatewayProxyEventV2 = {
    ...hmacSample,
    body,
    headers: {
      ...hmacSample.headers,
      'x-signature': createHmac('sha256', secret).update(body).digest('hex'),
    },
  };
  const response = (await handler(event, h.context('webhook'))) as APIGatewayProxyStructuredResultV2;
  return response.statusCode ?? 0;
}

describe('webhook secret rotation', () => {
  it('keeps the secret it read until the max age runs out, then verifies with the rotated secret only', async () => {
    // Prepare: a warm container that has read the secret once
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-12-01T10:00:00Z').getTime();
    vi.setSystemTime(start);
    const warm = await deliverSignedWith('before-rotation');
    await h.clients.secretsManager.send(
      new PutSecretValueCommand({ SecretId: SECRET_NAME, SecretString: 'after-rotation' }),
    );

    // Act
    vi.setSystemTime(start + (MAX_AGE_SECONDS - 1) * 1000);
    const withinMaxAge = {
      rotated: await deliverSignedWith('after-rotation'),
      previous: await deliverSignedWith('before-rotation'),
    };
    vi.setSystemTime(start + (MAX_AGE_SECONDS + 1) * 1000);
    const afterMaxAge = {
      rotated: await deliverSignedWith('after-rotation'),
      previous: await deliverSignedWith('before-rotation'),
    };

    // Assess
    expect(warm).toBe(202);
    expect(withinMaxAge).toEqual({ rotated: 401, previous: 202 });
    expect(afterMaxAge).toEqual({ rotated: 202, previous: 401 });
  });
});

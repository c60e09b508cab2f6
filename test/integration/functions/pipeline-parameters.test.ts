import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../functions/webhook/handler.ts';
import type { LocalServer } from '../../../local/aws-json-server.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../../local/servers.ts';
import { startSsmServer } from '../../../local/ssm-server.ts';
import { pipelineParameterName, pipelineParameterPath } from '../../../shared/naming.ts';
import { PIPELINE_PARAMETERS_ENV } from '../../../shared/pipeline/catalog-source.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const SECRET_NAME = 'esync/hooks/hmac-webhook';
const MAX_AGE_SECONDS = 120;
const events = path.join(import.meta.dirname, '..', '..', '..', 'events', 'apigw');
const hmacSample = JSON.parse(
  readFileSync(path.join(events, 'webhook-hmac.json'), 'utf8'),
) as APIGatewayProxyEventV2;

const hookPipeline = (name: string): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', mapping: 'json', key: ['id'], cursor: ['updated_at'] },
    triggers: { webhook: { signature: 'hmac', secret: SECRET_NAME } },
    target: { type: 'dynamodb' },
  });
const widgets = hookPipeline('widgets');
const gadgets = hookPipeline('gadgets');

let ssm: LocalServer;
let ssmClient: SSMClient;
let h: FunctionsHarness;
let delivery = 0;

beforeAll(async () => {
  // Only widgets' stack is deployed at first: its parameter is the only one under the path.
  ssm = await startSsmServer({
    parameters: { [pipelineParameterName('dev', 'widgets')]: JSON.stringify(widgets) },
    logger: { warn() {}, error() {} },
  });
  ssmClient = new SSMClient({
    region: LOCAL_REGION,
    endpoint: ssm.endpoint,
    credentials: LOCAL_CREDENTIALS,
  });
  // Queues and tables exist for both; the shared function learns of gadgets from SSM only.
  h = await startFunctionsHarness({
    secrets: { [SECRET_NAME]: 'hook-secret' },
    environment: {
      ESYNC_SECRETS_MAX_AGE_SECONDS: String(MAX_AGE_SECONDS),
      [PIPELINE_PARAMETERS_ENV]: pipelineParameterPath('dev'),
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    },
    pipelines: [widgets, gadgets],
  });
});
afterAll(async () => {
  vi.useRealTimers();
  ssmClient?.destroy();
  await h?.stop();
  await ssm?.stop();
});

/** A new signed delivery to `pipeline`'s webhook route; its status. */
async function deliverTo(pipeline: string): Promise<number> {
  delivery += 1;
  const body = JSON.stringify({ id: delivery, name: 'widget', updated_at: '2026-11-22T12:00:00Z' });
  const event: APIGatewayProxyEventV2 = {
    ...hmacSample,
    rawPath: `/webhooks/${pipeline}`,
    pathParameters: { pipeline },
    body,
    headers: {
      ...hmacSample.headers,
      'x-signature': createHmac('sha256', 'hook-secret').update(body).digest('hex'),
    },
  };
  const response = (await handler(event, h.context('webhook'))) as APIGatewayProxyStructuredResultV2;
  return response.statusCode ?? 0;
}

describe('a shared function that reads the pipelines from SSM parameters', () => {
  it('serves a pipeline published after it started once the max age has passed, without a redeploy', async () => {
    // Prepare: a warm container that has read the path once
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-12-01T10:00:00Z').getTime();
    vi.setSystemTime(start);
    const before = { widgets: await deliverTo('widgets'), gadgets: await deliverTo('gadgets') };

    // Act: gadgets' stack deploys and publishes its parameter
    await ssmClient.send(
      new PutParameterCommand({
        Name: pipelineParameterName('dev', 'gadgets'),
        Value: JSON.stringify(gadgets),
        Type: 'String',
      }),
    );
    vi.setSystemTime(start + (MAX_AGE_SECONDS - 1) * 1000);
    const withinMaxAge = await deliverTo('gadgets');
    vi.setSystemTime(start + (MAX_AGE_SECONDS + 1) * 1000);
    const afterMaxAge = await deliverTo('gadgets');

    // Assess
    expect(before).toEqual({ widgets: 202, gadgets: 404 });
    expect(withinMaxAge).toBe(404);
    expect(afterMaxAge).toBe(202);
    expect(await h.receiveAll(h.queueUrl('gadgets'), { atLeast: 1 })).toHaveLength(1);
  });
});

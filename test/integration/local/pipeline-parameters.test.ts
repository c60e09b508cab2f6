import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DeleteParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalStack, startLocalStack } from '../../../local/stack.ts';
import { createAwsClients, createSsmClient } from '../../../shared/aws/clients.ts';
import {
  ownedTargetTableName,
  pipelineParameterName,
  pipelineParameterPath,
} from '../../../shared/naming.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { callApi, waitForRun } from '../../support/e2e-stack.ts';

const SECRET = 'esync/hooks/hmac';
const hookPipeline = (name: string, maxBodyBytes?: number): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', mapping: 'json', key: ['id'], cursor: ['updated_at'] },
    triggers: { webhook: { signature: 'hmac', secret: SECRET, ...(maxBodyBytes && { maxBodyBytes }) } },
    target: { type: 'dynamodb' },
  });
const widgets = hookPipeline('widgets');
const gadgets = hookPipeline('gadgets');
/** A batch pipeline that needs no database: JSON Lines objects of the data bucket into DynamoDB. */
const orders = pipelineSchema.parse({
  name: 'orders',
  source: { type: 's3', prefix: 'incoming/orders/', format: 'jsonl', key: ['order_id'], cursor: [] },
  target: { type: 'dynamodb' },
});

let stack: LocalStack;
let ssm: SSMClient;
const project = mkdtempSync(path.join(tmpdir(), 'esync-parameters-'));
let delivery = 0;

beforeAll(async () => {
  mkdirSync(path.join(project, 'pipelines'));
  stack = await startLocalStack({
    pipelinesDir: path.join(project, 'pipelines'),
    pipelines: [widgets, gadgets, orders],
    catalog: 'parameters',
    iam: 'enforce',
    secrets: { [SECRET]: 'hook-secret' },
    schedules: false,
    writeDevFile: false,
    log: () => {},
  });
  // Built after the stack set AWS_ENDPOINT_URL_SSM, outside any function: the operator's client.
  ssm = await createSsmClient();
}, 240_000);
afterAll(async () => {
  vi.useRealTimers();
  ssm?.destroy();
  await stack?.stop();
  rmSync(project, { recursive: true, force: true });
});

/** Posts a signed delivery of about `size` bytes to the pipeline's webhook route; its status. */
async function deliverTo(pipeline: string, size = 100): Promise<number> {
  delivery += 1;
  const body = JSON.stringify({
    id: delivery,
    name: 'w'.repeat(Math.max(1, size - 80)),
    updated_at: '2026-12-07T12:00:00Z',
  });
  const response = await fetch(`${stack.apiUrl}/webhooks/${pipeline}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-signature': createHmac('sha256', 'hook-secret').update(body).digest('hex'),
    },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

const publish = (pipeline: Pipeline) =>
  ssm.send(
    new PutParameterCommand({
      Name: pipelineParameterName('dev', pipeline.name),
      Value: JSON.stringify(pipeline),
      Type: 'String',
      Overwrite: true,
    }),
  );

describe('the local stack with the pipelines in SSM parameters (catalog: parameters)', () => {
  it('publishes each pipeline where its stack would, and gives the path to the shared functions only', async () => {
    const published = await ssm.send(new GetParametersByPathCommand({ Path: pipelineParameterPath('dev') }));
    const webhook = stack.lambda.resolve('esync-dev-core-webhook');
    const load = stack.lambda.resolve('esync-dev-widgets-load-fn');

    expect(published.Parameters?.map((p) => [p.Name, JSON.parse(p.Value ?? '')])).toEqual([
      [pipelineParameterName('dev', 'gadgets'), JSON.parse(JSON.stringify(gadgets))],
      [pipelineParameterName('dev', 'orders'), JSON.parse(JSON.stringify(orders))],
      [pipelineParameterName('dev', 'widgets'), JSON.parse(JSON.stringify(widgets))],
    ]);
    expect(webhook.name).toBe('webhook');
    expect(load.name).toBe('load');
    expect(stack.env.ESYNC_PIPELINE_PARAMETERS).toBeUndefined();
  });

  it('lets a shared function read the stage’s path as its role allows, and nothing else', async () => {
    const readAs = (functionName: string, path: string) =>
      stack.iam.runAsFunction(functionName, () => ssm.send(new GetParametersByPathCommand({ Path: path })));

    const asWebhook = await readAs('esync-dev-core-webhook', pipelineParameterPath('dev'));

    expect(asWebhook.Parameters).toHaveLength(3);
    await expect(readAs('esync-dev-core-webhook', '/esync/prod/pipelines')).rejects.toThrow(
      'is not authorized to perform: ssm:GetParametersByPath on resource: arn:aws:ssm:us-east-1:000000000000:parameter/esync/prod/pipelines',
    );
    await expect(readAs('esync-dev-widgets-load-fn', pipelineParameterPath('dev'))).rejects.toThrow(
      'is not authorized to perform: ssm:GetParametersByPath',
    );
  });

  it('takes a delivery through the webhook, which reads the pipelines from SSM, to Load, whose pipelines are baked in', async () => {
    const clients = createAwsClients();
    const denialsBefore = stack.iam.denials.length;

    const status = await deliverTo('widgets');
    await stack.idle(60_000);
    const item = await clients.dynamodb.send(
      new GetItemCommand({
        TableName: ownedTargetTableName('dev', 'widgets'),
        Key: { pk: { S: String(delivery) } },
      }),
    );

    expect(status).toBe(202);
    expect(item.Item).toBeDefined();
    expect(stack.iam.denials.slice(denialsBefore)).toEqual([]);
  });

  it('runs a batch pipeline through the shared phases and the management API, each reading the pipelines from SSM', async () => {
    const clients = createAwsClients();
    const denialsBefore = stack.iam.denials.length;
    const lines = [1, 2, 3].map((id) => JSON.stringify({ order_id: `o-${id}`, total: id * 10 })).join('\n');
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: stack.env.ESYNC_DATA_BUCKET,
        Key: 'incoming/orders/batch-1.jsonl',
        Body: `${lines}\n`,
      }),
    );

    // The s3 source sees an object from the second after its upload's second: a bound, not a race.
    const uploadedSecond = Math.floor(Date.now() / 1000) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, uploadedSecond + 2100 - Date.now())));

    const started = await callApi<{ runId: string }>(stack, 'POST', '/pipelines/orders/runs', {});
    const run = await waitForRun(stack, started.body.runId, 180_000);

    expect(started.status).toBe(202);
    expect({ status: run.status, extracted: run.counts.extracted, loaded: run.counts.loaded }).toEqual({
      status: 'succeeded',
      extracted: 3,
      loaded: 3,
    });
    expect(stack.iam.denials.slice(denialsBefore)).toEqual([]);
  }, 240_000);

  it('picks up a pipeline removed, added back and changed in SSM once the catalog’s maximum age has passed, as on AWS', async () => {
    // Prepare: the webhook function has just read the path (the clock moved past any earlier read)
    const maxAgeMs = Number(stack.env.ESYNC_SECRETS_MAX_AGE_SECONDS) * 1000;
    vi.useFakeTimers({ toFake: ['Date'] });
    const read = Date.now() + maxAgeMs + 1000;
    vi.setSystemTime(read);
    const first = await deliverTo('gadgets');

    // Act: gadgets' stack is deleted, widgets' redeployed with a smaller body limit
    await ssm.send(new DeleteParameterCommand({ Name: pipelineParameterName('dev', 'gadgets') }));
    await publish(hookPipeline('widgets', 1024));
    vi.setSystemTime(read + maxAgeMs - 1000);
    const withinMaxAge = { gadgets: await deliverTo('gadgets'), widgets: await deliverTo('widgets', 2048) };
    vi.setSystemTime(read + maxAgeMs + 1000);
    const afterMaxAge = { gadgets: await deliverTo('gadgets'), widgets: await deliverTo('widgets', 2048) };
    // gadgets' stack is deployed again
    await publish(gadgets);
    const republishedWithinMaxAge = await deliverTo('gadgets');
    vi.setSystemTime(read + 2 * maxAgeMs + 2000);
    const republishedAfterMaxAge = await deliverTo('gadgets');

    // Assess
    expect(maxAgeMs).toBeGreaterThan(2000);
    expect(first).toBe(202);
    expect(withinMaxAge).toEqual({ gadgets: 202, widgets: 202 });
    expect(afterMaxAge).toEqual({ gadgets: 404, widgets: 413 });
    expect(republishedWithinMaxAge).toBe(404);
    expect(republishedAfterMaxAge).toBe(202);
  });
});

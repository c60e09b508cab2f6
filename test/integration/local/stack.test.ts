import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, ListExecutionsCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalStack,
  type LocalStackOptions,
  readDevFile,
  startLocalStack,
} from '../../../local/stack.ts';
import type { CfnTemplate } from '../../../local/template.ts';
import { createAwsClients } from '../../../shared/aws/clients.ts';
import { readRuntimeConfig } from '../../../shared/config.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const template = JSON.parse(readFileSync(path.join(fixtures, 'template.json'), 'utf8')) as CfnTemplate;
const pipelines: Pipeline[] = [
  pipelineSchema.parse({
    name: 'users-sync',
    // A polled source that also takes webhooks: only a github source does (validation refuses the rest).
    source: { type: 'github', owner: 'acme', repo: 'shop', key: ['kind', 'id'] },
    target: { type: 'dynamodb' },
    triggers: { webhook: { signature: 'github', secret: 'esync/demo/github' } },
  }),
  pipelineSchema.parse({
    name: 'inventory-cdc',
    source: { type: 'cdc', key: ['sku'] },
    target: { type: 'dynamodb' },
    triggers: { cdc: { pattern: { source: ['esync.cdc'] } } },
  }),
];

/** Listening servers and open sockets of this process, to prove that stop() leaves none behind. */
function networkHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap')
    .length;
}

describe('local stack', () => {
  let stack: LocalStack;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-stack-'));
  const lines: string[] = [];
  const handlesBefore = networkHandles();
  const endpointBefore = process.env.AWS_ENDPOINT_URL_SQS;

  const options: LocalStackOptions = {
    template,
    pipelines,
    functionsDir: path.join(fixtures, 'stack-functions'),
    dataDir,
    devFile: path.join(dataDir, 'dev.json'),
    waitOverrideMs: 10,
    secrets: { 'esync/demo/github': 'hush', 'esync/demo/users-db': { host: '127.0.0.1', port: 5432 } },
    log: (line) => lines.push(line),
    // The fixture is a hand-trimmed template (another account and region, no table or bucket
    // grants) for the emulation itself; IAM is tested on the synthesized stack (test/e2e/iam-enforcement.test.ts).
    iam: 'off',
  };

  beforeAll(async () => {
    stack = await startLocalStack(options);
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('points the unchanged SDK clients at the local servers through the environment', async () => {
    // Act
    const clients = createAwsClients();
    const secret = await clients.secretsManager.send(
      new GetSecretValueCommand({ SecretId: 'esync/demo/users-db' }),
    );

    // Assess
    expect(process.env.AWS_ENDPOINT_URL_SQS).toBe(stack.endpoints.sqs);
    expect(process.env.ESYNC_QUEUE_URL_PREFIX).toBe(`${stack.endpoints.sqs}/000000000000/`);
    expect(process.env.ESYNC_STATE_MACHINE_ARN_PREFIX).toBe(
      'arn:aws:states:us-east-1:000000000000:stateMachine:',
    );
    expect(JSON.parse(process.env.ESYNC_PIPELINES ?? '[]').map((p: Pipeline) => p.name)).toEqual([
      'users-sync',
      'inventory-cdc',
    ]);
    expect(JSON.parse(secret.SecretString ?? '{}')).toEqual({ host: '127.0.0.1', port: 5432 });
    // The local servers know no IAM: connections with `iam` log in with their secret's password.
    expect(readRuntimeConfig().databaseAuth).toBe('password');
  });

  it('writes dev.json with the API URL, endpoints and per-pipeline resources', () => {
    // Act
    const dev = readDevFile(path.join(dataDir, 'dev.json'));

    // Assess
    expect(dev).toMatchObject({ version: 1, pid: process.pid, stage: 'dev', apiUrl: stack.apiUrl, dataDir });
    expect(dev?.endpoints).toEqual(stack.endpoints);
    expect(dev?.pipelines).toContainEqual({
      name: 'users-sync',
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:esync-dev-users-sync-sm',
      loadQueueUrl: `${stack.endpoints.sqs}/000000000000/esync-dev-users-sync-load`,
      deadLetterQueueUrl: `${stack.endpoints.sqs}/000000000000/esync-dev-users-sync-load-dlq`,
      webhookUrl: `${stack.apiUrl}/webhooks/users-sync`,
    });
  });

  it('carries a webhook delivery through the HTTP API, the load queue and the Load function', async () => {
    // Act
    const response = await fetch(`${stack.apiUrl}/webhooks/users-sync`, {
      method: 'POST',
      body: 'delivery-1',
    });
    await stack.idle();
    const item = await createAwsClients().dynamodb.send(
      new GetItemCommand({
        TableName: 'esync-dev-core-state',
        Key: {
          pk: { S: 'msg#delivery-1' },
          sk: { S: 'arn:aws:sqs:us-east-1:000000000000:esync-dev-users-sync-load' },
        },
      }),
    );

    // Assess
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 'users-sync' });
    expect(item.Item).toBeDefined();
  });

  it('routes an event put on the bus to the queue its rule names and on to Load', async () => {
    // Act
    const put = await createAwsClients().eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'esync-dev-core-bus',
            Source: 'esync.cdc',
            DetailType: 'change',
            Detail: JSON.stringify({ table: 'inventory', sku: 'A-1' }),
          },
        ],
      }),
    );
    await stack.idle();
    const delivered = stack.eventBridge.events().at(-1);

    // Assess
    expect(put.FailedEntryCount).toBe(0);
    expect(delivered).toMatchObject({ rule: 'esync-dev-inventory-cdc-cdc-rule', outcome: 'delivered' });
    const mapping = stack.eventSources.get('esync-dev-inventory-cdc-load');
    expect(mapping?.stats.deleted).toBe(1);
  });

  it('runs the synthesized state machine started through SFNClient with the in-process handlers', async () => {
    // Prepare
    const sfn = createAwsClients().sfn;

    // Act
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: `${process.env.ESYNC_STATE_MACHINE_ARN_PREFIX}esync-dev-users-sync-sm`,
        input: '{}',
      }),
    );
    await stack.stepFunctions.whenDone(started.executionArn ?? '');
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));

    // Assess
    expect(described.status).toBe('SUCCEEDED');
    const history = stack.stepFunctions.execution(started.executionArn ?? '')?.events ?? [];
    expect(history.filter((e) => e.type === 'MapIterationSucceeded')).toHaveLength(2);
    expect(history.filter((e) => e.type === 'TaskSucceeded')).toHaveLength(3);
  });

  it('invokes an IAM route with the caller as the authorizer identity', async () => {
    // Act
    const response = await fetch(`${stack.apiUrl}/runs`, {
      headers: { 'x-esync-local-principal': 'arn:aws:iam::000000000000:user/ops' },
    });

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      routeKey: 'GET /runs',
      caller: 'arn:aws:iam::000000000000:user/ops',
    });
  });

  it('keeps items, dead letters and execution histories across a restart with the same data dir', async () => {
    // Prepare
    const dlqUrl = `${stack.endpoints.sqs}/000000000000/esync-dev-users-sync-load-dlq`;
    await createAwsClients().sqs.send(
      new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: 'dead letter' }),
    );
    const executions = await createAwsClients().sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: `${process.env.ESYNC_STATE_MACHINE_ARN_PREFIX}esync-dev-users-sync-sm`,
      }),
    );
    await stack.stop();

    // Act
    stack = await startLocalStack({ ...options, devFile: path.join(dataDir, 'dev.json') });
    const clients = createAwsClients();
    const letters = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: `${stack.endpoints.sqs}/000000000000/esync-dev-users-sync-load-dlq`,
      }),
    );
    const item = await clients.dynamodb.send(
      new GetItemCommand({
        TableName: 'esync-dev-core-state',
        Key: {
          pk: { S: 'msg#delivery-1' },
          sk: { S: 'arn:aws:sqs:us-east-1:000000000000:esync-dev-users-sync-load' },
        },
      }),
    );
    const described = await clients.sfn.send(
      new DescribeExecutionCommand({ executionArn: executions.executions?.[0]?.executionArn }),
    );

    // Assess
    expect(letters.Messages?.map((m) => m.Body)).toEqual(['dead letter']);
    expect(item.Item).toBeDefined();
    expect(described.status).toBe('SUCCEEDED');
  });

  it('stops without leaving servers or sockets open and restores the environment', async () => {
    // Act
    await stack.stop();
    // Client sockets close one event-loop turn after the servers drop them.
    for (let i = 0; i < 50 && networkHandles() > handlesBefore; i++)
      await new Promise((r) => setTimeout(r, 10));

    // Assess
    expect(networkHandles()).toBeLessThanOrEqual(handlesBefore);
    expect(process.env.AWS_ENDPOINT_URL_SQS).toBe(endpointBefore);
    expect(existsSync(path.join(dataDir, 'dev.json'))).toBe(false);
    expect(lines).toContain(`local stack ready: API ${stack.apiUrl}, 2 pipelines`);
  });
});

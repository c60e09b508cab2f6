import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionResources } from '../../../local/provision.ts';
import {
  type DynamoDbEngine,
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startLocalServers,
} from '../../../local/servers.ts';
import { type CfnTemplate, extractLocalResources, type LocalResources } from '../../../local/template.ts';
import { keys } from '../../../shared/state/keys.ts';
import { LedgerRepository } from '../../../shared/state/ledger.ts';
import { DYNAMODB_LOCAL_HOOK_TIMEOUT_MS, requireSystemServer } from '../../support/system-servers.ts';

const template = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures', 'template.json'), 'utf8'),
) as CfnTemplate;
const placement = {
  region: LOCAL_REGION,
  accountId: LOCAL_ACCOUNT_ID,
  stackName: 'EsyncFixture',
  queueUrlPrefix: 'http://127.0.0.1:9999/000000000000/',
};

describe('template extraction', () => {
  const resources = extractLocalResources(template, placement);

  it('reads queues with their redrive policies and visibility timeouts', () => {
    const load = resources.queues.find((q) => q.name === 'esync-dev-users-sync-load');
    expect(load).toEqual({
      logicalId: 'UsersLoad69D4A5A8',
      name: 'esync-dev-users-sync-load',
      fifo: false,
      visibilityTimeoutSeconds: 360,
      redrive: { deadLetterQueueName: 'esync-dev-users-sync-load-dlq', maxReceiveCount: 5 },
    });
    expect(resources.queues.map((q) => q.name)).toContain('esync-dev-inventory-cdc-cdc-dlq');
  });

  it('reads tables with keys, GSIs and TTL, from Table and TableV2 alike', () => {
    const state = resources.tables.find((t) => t.name === 'esync-dev-core-state');
    expect(state?.keySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(state?.globalSecondaryIndexes.map((g) => g.IndexName)).toEqual(['gsi1']);
    expect(state?.ttlAttribute).toBe('expiresAt');
    expect(resources.tables.find((t) => t.name === 'esync-dev-core-idempotency')?.ttlAttribute).toBe(
      'expiration',
    );
  });

  it('resolves the state machine definition with function ARNs in the local account', () => {
    const sm = resources.stateMachines[0];
    expect(sm?.name).toBe('esync-dev-users-sync-sm');
    expect(sm?.arn).toBe('arn:aws:states:us-east-1:000000000000:stateMachine:esync-dev-users-sync-sm');
    const definition = JSON.parse(sm?.definition ?? '{}');
    expect(definition.States.Discover.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(definition.States.Discover.Parameters.FunctionName).toBe(
      'arn:aws:lambda:us-east-1:000000000000:function:esync-dev-core-discover-fn',
    );
    expect(definition.States.ExecuteLarge.ItemReader.Parameters).toEqual({
      'Bucket.$': '$.plan.manifest.bucket',
      'Key.$': '$.plan.manifest.key',
    });
  });

  it('maps functions to their folders and event source mappings to queues', () => {
    expect(resources.functions.find((f) => f.folder === 'load')).toMatchObject({
      functionName: 'esync-dev-core-load-fn',
      timeoutSeconds: 60,
      memoryMb: 512,
      environment: { ESYNC_FUNCTION: 'load', ESYNC_STAGE: 'dev' },
    });
    expect(resources.eventSourceMappings).toContainEqual({
      logicalId: expect.any(String),
      queueName: 'esync-dev-inventory-cdc-load',
      functionFolder: 'load',
      functionName: 'esync-dev-core-load-fn',
      batchSize: 25,
      maximumBatchingWindowSeconds: 2,
      maximumConcurrency: 2,
      reportBatchItemFailures: true,
      enabled: true,
    });
  });

  it('reads bus rules with their targets, schedules of both kinds and HTTP routes', () => {
    expect(resources.eventRules).toEqual([
      {
        logicalId: 'InvRule1BAF345A',
        name: 'esync-dev-inventory-cdc-cdc-rule',
        eventBusName: 'esync-dev-core-bus',
        pattern: { source: ['esync.cdc'], 'detail-type': ['change'], detail: { table: ['inventory'] } },
        enabled: true,
        targets: [
          {
            kind: 'sqs',
            queueName: 'esync-dev-inventory-cdc-load',
            deadLetterQueueName: 'esync-dev-inventory-cdc-cdc-dlq',
          },
        ],
      },
    ]);
    expect(resources.schedules.map((s) => [s.expression, s.stateMachineName, s.input])).toEqual([
      ['cron(0 2 * * ? *)', 'esync-dev-users-sync-sm', '{"trigger":"schedule"}'],
      ['rate(1 hour)', 'esync-dev-users-sync-sm', '{"trigger":"schedule"}'],
    ]);
    expect(resources.httpRoutes).toEqual(
      expect.arrayContaining([
        {
          method: 'POST',
          path: '/webhooks/{pipeline}',
          functionFolder: 'webhook',
          functionName: 'esync-dev-core-webhook-fn',
          iam: false,
        },
        {
          method: 'GET',
          path: '/runs',
          functionFolder: 'api',
          functionName: 'esync-dev-core-api-fn',
          iam: true,
        },
      ]),
    );
  });

  it('names the function a state machine refers to when it is missing from the template', () => {
    const broken = structuredClone(template) as { Resources: Record<string, unknown> };
    delete broken.Resources.FnloadCACD121D;
    expect(() => extractLocalResources(broken as CfnTemplate, placement)).toThrow(/FnloadCACD121D/);
  });
});

const java = requireSystemServer('java');
const engines: Array<{ engine: DynamoDbEngine; run: boolean }> = [
  { engine: 'dynalite', run: true },
  { engine: 'dynamodb-local', run: java.available },
];

for (const { engine, run } of engines) {
  describe.runIf(run)(`provisioning on ${engine}`, () => {
    let servers: LocalServers;
    let resources: LocalResources;
    let sqs: SQSClient;
    let dynamodb: DynamoDBClient;
    let s3: S3Client;

    beforeAll(async () => {
      servers = await startLocalServers({ dynamodb: engine });
      const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
      sqs = new SQSClient({ ...common, endpoint: servers.endpoints.sqs });
      dynamodb = new DynamoDBClient({ ...common, endpoint: servers.endpoints.dynamodb });
      s3 = new S3Client({ ...common, endpoint: servers.endpoints.s3, forcePathStyle: true });
      resources = extractLocalResources(template, { ...placement, queueUrlPrefix: servers.queueUrlPrefix });
    }, DYNAMODB_LOCAL_HOOK_TIMEOUT_MS);

    afterAll(async () => {
      for (const client of [sqs, dynamodb, s3]) client?.destroy();
      await servers?.stop();
    });

    it('creates queues with redrive policies, tables with GSIs and buckets, and can run again', async () => {
      // Act
      const first = await provisionResources(resources, { sqs, dynamodb, s3 });
      const second = await provisionResources(resources, { sqs, dynamodb, s3 });

      // Assess
      const loadUrl = first.queueUrls['esync-dev-users-sync-load'];
      expect(loadUrl).toBe(`${servers.queueUrlPrefix}esync-dev-users-sync-load`);
      const attributes = (
        await sqs.send(new GetQueueAttributesCommand({ QueueUrl: loadUrl, AttributeNames: ['All'] }))
      ).Attributes;
      expect(attributes?.VisibilityTimeout).toBe('360');
      expect(JSON.parse(attributes?.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: first.queueArns['esync-dev-users-sync-load-dlq'],
        maxReceiveCount: 5,
      });
      const table = (await dynamodb.send(new DescribeTableCommand({ TableName: 'esync-dev-core-state' })))
        .Table;
      expect(table?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['gsi1']);
      expect(table?.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      await expect(
        s3.send(new HeadBucketCommand({ Bucket: 'esync-dev-core-data-111111111111' })),
      ).resolves.toBeDefined();
      expect(second.queueUrls).toEqual(first.queueUrls);
      if (engine === 'dynalite') {
        expect(first.notes).toContainEqual(
          expect.stringContaining('esync-dev-core-state: the server has no TTL'),
        );
      } else {
        expect(first.notes).toEqual([]);
        const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: 'esync-dev-core-state' }));
        expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiresAt');
      }
    });

    it('keeps the ledger’s pending index sparse: a message leaves it once completed or abandoned', async () => {
      // Prepare
      await provisionResources(resources, { sqs, dynamodb, s3 });
      const ledger = new LedgerRepository(DynamoDBDocumentClient.from(dynamodb), 'esync-dev-core-state');
      const scope = keys.ledgerScopeOfRun(`pending-${engine}`);
      const messages = ['a', 'b', 'c'].map((messageKey) => ({ messageKey, records: 2 }));
      await ledger.register(scope, messages, { partition: 'p', upTo: 6 });

      // Act
      await ledger.complete(scope, 'a', 2, {
        loaded: 2,
        skipped: 0,
        conflicts: 0,
        quarantined: 0,
        deadLettered: 0,
        excludedKeys: [],
      });
      await ledger.abandonReadAgain(scope, () => false);
      const pending = await ledger.pending(scope);
      await ledger.abandonReadAgain(scope, () => true);

      // Assess
      expect(pending).toEqual({ messages: 2, records: 4 });
      expect(await ledger.pending(scope)).toEqual({ messages: 0, records: 0 });
      // The loaded message is abandoned too: the run that abandons them reads all their rows again.
      expect(await ledger.totals(scope)).toMatchObject({ messages: 0, loaded: 0, pendingMessages: 0 });
    });
  });
}

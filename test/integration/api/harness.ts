import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createManagementHandler } from '../../../functions/api/handler.ts';
import { AwsServiceError, startAwsJsonServer } from '../../../local/aws-json-server.ts';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.ts';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startLocalServers,
} from '../../../local/servers.ts';
import type { AwsClients } from '../../../shared/aws/clients.ts';
import { type SecretsProvider, StaticSecretsProvider } from '../../../shared/aws/secrets.ts';
import type { RuntimeConfig } from '../../../shared/config.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import type { ConnectorContext } from '../../../shared/connectors/types.ts';
import { DEFAULT_RETRY } from '../../../shared/domain/retry.ts';
import {
  loadDlqName,
  loadQueueName,
  ownedTargetTableName,
  stateMachineName,
} from '../../../shared/naming.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { fixedCatalogSource } from '../../../shared/pipeline/catalog-source.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { createStateRepositories } from '../../../shared/state/index.ts';
import { MANAGEMENT_ROUTES } from '../../../shared/usecases/api/routes.ts';
import type { Deps, Log } from '../../../shared/usecases/deps.ts';
import { createKeyedTable, waitForTable } from '../../support/dynamodb-tables.ts';

/** A call the Step Functions or EventBridge stub received. */
export interface RecordedCall {
  readonly operation: string;
  readonly input: Record<string, unknown>;
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

export interface ApiHarness {
  readonly deps: Deps;
  readonly clients: AwsClients;
  readonly config: RuntimeConfig;
  readonly pipelines: Readonly<Record<'users' | 'lake' | 'orphan', Pipeline>>;
  /** StartExecution calls the Step Functions stub received. */
  readonly executions: RecordedCall[];
  /** PutEvents calls the EventBridge stub received. */
  readonly events: RecordedCall[];
  readonly logs: LogLine[];
  /** URLs of a pipeline's load queue and DLQ. */
  queues(pipeline: string): { load: string; dlq: string };
  stop(): Promise<void>;
}

const STAGE = 'dev';
const STATE_TABLE = 'esync-dev-core-state';
const DATA_BUCKET = 'esync-dev-core-data';

const pipelineInputs = {
  users: {
    name: 'users-sync',
    source: {
      type: 'postgres',
      connection: { secret: 'esync/users-db' },
      table: 'users',
      key: ['id'],
      cursor: ['updated_at'],
    },
    target: { type: 'dynamodb' },
    conflict: { strategy: 'manual' },
  },
  lake: {
    name: 'lake-sync',
    source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
    target: { type: 's3' },
  },
  // In the catalog, but never deployed: no queues, no state machine.
  orphan: {
    name: 'orphan-sync',
    source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
    target: { type: 'dynamodb' },
  },
} as const;

/**
 * Dependencies as createDeps builds them, minus the source connectors, which the management API
 * never opens (so these tests do not load every source driver).
 */
export function buildDeps(
  config: RuntimeConfig,
  clients: AwsClients,
  catalog: PipelineCatalog,
  log: Log,
): Deps {
  const noSecret = (name: string) =>
    Promise.reject(new Error(`no secret ${name} in the management API tests`));
  const secrets: SecretsProvider = { getString: noSecret, getJson: noSecret };
  const connectorContext = (pipeline: Pipeline): ConnectorContext => ({
    pipeline,
    clients,
    secrets,
    dataBucket: config.dataBucket,
    stage: config.stage,
    retry: pipeline.retry ?? DEFAULT_RETRY,
  });
  return {
    config,
    clients,
    catalog,
    catalogSource: fixedCatalogSource(catalog),
    secrets,
    state: createStateRepositories(clients.ddb, config.stateTable),
    log,
    now: () => new Date(),
    connectorContext,
    loadConnectors: (served) => TARGET_CONNECTORS.load(served.all().map((p) => p.target)),
    createSource: () => {
      throw new Error('the management API opens no source');
    },
    createTarget: (pipeline) => TARGET_CONNECTORS.create(pipeline.target, connectorContext(pipeline)),
  };
}

/** {@link buildDeps} serving `pipelines`, with a log that keeps nothing (tests that assert outcomes). */
export function quietDeps(h: Pick<ApiHarness, 'config' | 'clients'>, pipelines: Pipeline[]): Deps {
  return buildDeps(h.config, h.clients, new PipelineCatalog(pipelines), { info() {}, warn() {}, error() {} });
}

/** {@link quietDeps} whose targets read their connection secrets from `secrets`. */
export function depsWithSecrets(
  h: Pick<ApiHarness, 'config' | 'clients'>,
  pipelines: Pipeline[],
  secrets: Record<string, string>,
): Deps {
  const base = quietDeps(h, pipelines);
  const provider = new StaticSecretsProvider(secrets);
  const connectorContext = (p: Pipeline) => ({ ...base.connectorContext(p), secrets: provider });
  return {
    ...base,
    secrets: provider,
    connectorContext,
    createTarget: (p) => TARGET_CONNECTORS.create(p.target, connectorContext(p)),
  };
}

/**
 * The management API's dependencies against local servers speaking the real wire protocols:
 * DynamoDB (dynalite), SQS (local-aws-sqs) and S3 (s3rver) from the local stack, plus a
 * Step Functions and an EventBridge stub that record StartExecution and PutEvents.
 */
export async function startApiHarness(): Promise<ApiHarness> {
  // Deps built here create targets directly, outside a handler's currentDeps.
  await TARGET_CONNECTORS.loadAll();
  const servers = await startLocalServers();
  const executions: RecordedCall[] = [];
  const events: RecordedCall[] = [];
  const deployed = new Set([stateMachineName(STAGE, 'users-sync'), stateMachineName(STAGE, 'lake-sync')]);
  const smPrefix = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:`;
  const sfnStub = await startAwsJsonServer({
    targetPrefix: 'AWSStepFunctions',
    operations: {
      StartExecution: (input) => {
        executions.push({ operation: 'StartExecution', input });
        const arn = String(input.stateMachineArn);
        const name = arn.slice(smPrefix.length);
        if (!arn.startsWith(smPrefix) || !deployed.has(name))
          throw new AwsServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
        return {
          executionArn: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:execution:${name}:${String(input.name)}`,
          startDate: Date.now() / 1000,
        };
      },
      // No execution's history is kept here: as for a run whose history Step Functions dropped.
      GetExecutionHistory: (input) => {
        throw new AwsServiceError(
          'ExecutionDoesNotExist',
          `Execution Does Not Exist: '${String(input.executionArn)}'`,
        );
      },
    },
    logger: { warn() {}, error() {} },
  });
  const eventsStub = await startAwsJsonServer({
    targetPrefix: 'AWSEvents',
    operations: {
      PutEvents: (input) => {
        events.push({ operation: 'PutEvents', input });
        const entries = (input.Entries as unknown[]) ?? [];
        return {
          FailedEntryCount: 0,
          Entries: entries.map((_, i) => ({ EventId: `event-${events.length}-${i}` })),
        };
      },
    },
    logger: { warn() {}, error() {} },
  });

  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 } as const;
  const dynamodb = new DynamoDBClient({ ...common, endpoint: servers.endpoints.dynamodb });
  const clients: AwsClients = {
    dynamodb,
    ddb: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
    }),
    sqs: new SQSClient({ ...common, endpoint: servers.endpoints.sqs }),
    s3: new S3Client({
      ...common,
      endpoint: servers.endpoints.s3,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    sfn: new SFNClient({ ...common, endpoint: sfnStub.endpoint }),
    eventBridge: new EventBridgeClient({ ...common, endpoint: eventsStub.endpoint }),
    secretsManager: new SecretsManagerClient({ ...common, endpoint: eventsStub.endpoint }),
  };

  await dynamodb.send(
    new CreateTableCommand({
      TableName: STATE_TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  await waitForTable(dynamodb, STATE_TABLE);
  await createKeyedTable(dynamodb, ownedTargetTableName(STAGE, 'users-sync'));
  await clients.s3.send(new CreateBucketCommand({ Bucket: DATA_BUCKET }));
  for (const pipeline of ['users-sync', 'lake-sync']) {
    const dlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: loadDlqName(STAGE, pipeline) }));
    const dlqArn = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: loadQueueName(STAGE, pipeline),
        Attributes: {
          VisibilityTimeout: '30',
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlqArn.Attributes?.QueueArn,
            maxReceiveCount: 3,
          }),
        },
      }),
    );
  }

  const config: RuntimeConfig = {
    stage: STAGE,
    stateTable: STATE_TABLE,
    idempotencyTable: 'esync-dev-core-idempotency',
    dataBucket: DATA_BUCKET,
    eventBus: 'esync-dev-core-bus',
    queueUrlPrefix: servers.queueUrlPrefix,
    stateMachineArnPrefix: smPrefix,
    secretsMaxAgeSeconds: 300,
    databaseAuth: 'password',
    cliTarget: '--local',
    stageAlertWebhooks: [],
  };
  const pipelines = {
    users: pipelineSchema.parse(pipelineInputs.users),
    lake: pipelineSchema.parse(pipelineInputs.lake),
    orphan: pipelineSchema.parse(pipelineInputs.orphan),
  };
  const logs: LogLine[] = [];
  const log: Log = {
    info: (message, fields) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
  };
  const deps = buildDeps(config, clients, new PipelineCatalog(Object.values(pipelines)), log);
  return {
    deps,
    clients,
    config,
    pipelines,
    executions,
    events,
    logs,
    queues: (pipeline) => ({
      load: config.queueUrlPrefix + loadQueueName(STAGE, pipeline),
      dlq: config.queueUrlPrefix + loadDlqName(STAGE, pipeline),
    }),
    async stop() {
      for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
      await Promise.all([sfnStub.stop(), eventsStub.stop(), servers.stop()]);
    },
  };
}

/** The management routes behind the local HTTP gateway (SigV4 required), and a directory whose `--local` reaches it. */
export interface CliGateway {
  readonly gateway: HttpGateway;
  /** Working directory of CLI calls: its `.esync/dev.json` points `--local` at the gateway. */
  readonly devDir: string;
  stop(): Promise<void>;
}

export async function startCliGateway(deps: Deps, dirPrefix: string): Promise<CliGateway> {
  const handler = createManagementHandler(deps);
  const gateway = await startHttpGateway({
    routes: MANAGEMENT_ROUTES.map((r) => ({ method: r.method, path: r.template, iam: true, handler })),
    requireSigV4: true,
    logger: { warn() {}, error() {} },
  });
  const devDir = mkdtempSync(path.join(tmpdir(), dirPrefix));
  mkdirSync(path.join(devDir, '.esync'));
  writeFileSync(path.join(devDir, '.esync', 'dev.json'), JSON.stringify({ apiUrl: gateway.url }));
  return {
    gateway,
    devDir,
    async stop() {
      await gateway.stop();
      rmSync(devDir, { recursive: true, force: true });
    },
  };
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { provisionResources } from '../../local/provision.ts';
import { startSecretsServer } from '../../local/secrets-server.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION, startLocalServers } from '../../local/servers.ts';
import type { QueueSpec, TableSpec } from '../../local/template.ts';
import {
  idempotencyTableName,
  loadDlqName,
  loadQueueName,
  ownedTargetTableName,
  stateTableName,
} from '../../shared/naming.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import { type Pipeline, type PipelineInput, pipelineSchema } from '../../shared/pipeline/schema.ts';

/**
 * A minimal ESync deployment on the embedded servers, for the bad-input and log-safety suites:
 * SQS (local-aws-sqs), DynamoDB (dynalite), S3 (s3rver) and the Secrets Manager emulator, with the
 * state and idempotency tables, the data bucket, each pipeline's load queue and DLQ and, for
 * DynamoDB targets without a table, the owned target table. The process environment is set the
 * way the CDK stack sets a function's (ESYNC_*, AWS_ENDPOINT_URL_*), so the real handler modules
 * find everything through the code path they use in AWS; `stop()` restores it.
 */
export interface FuzzEnv {
  readonly stage: string;
  readonly pipelines: readonly Pipeline[];
  readonly dataBucket: string;
  /** The variables set in `process.env` while the environment runs. */
  readonly env: Readonly<Record<string, string>>;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  queueUrl(pipeline: string): string;
  /** Messages on a pipeline's load queue (visible and in flight). */
  countMessages(pipeline: string): Promise<number>;
  /** Receives and deletes every message on a pipeline's load queue; returns their bodies. */
  drain(pipeline: string): Promise<string[]>;
  /** Keys of the objects under a prefix of the data bucket. */
  listObjects(prefix: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface FuzzEnvOptions {
  /** Pipelines as written in YAML; validated with the pipeline schema. */
  readonly pipelines: readonly PipelineInput[];
  /** Secrets Manager contents: name → value. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** @default 'dev' */
  readonly stage?: string;
  /** Extra variables for the handlers (e.g. POWERTOOLS_LOG_LEVEL). */
  readonly extraEnv?: Readonly<Record<string, string>>;
}

const stateTable = (name: string): TableSpec => ({
  logicalId: 'StateTable',
  name,
  keySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'gsi1pk', AttributeType: 'S' },
    { AttributeName: 'gsi1sk', AttributeType: 'S' },
  ],
  globalSecondaryIndexes: [
    {
      IndexName: 'gsi1',
      KeySchema: [
        { AttributeName: 'gsi1pk', KeyType: 'HASH' },
        { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  localSecondaryIndexes: [],
});

const singleKeyTable = (logicalId: string, name: string, key: string): TableSpec => ({
  logicalId,
  name,
  keySchema: [{ AttributeName: key, KeyType: 'HASH' }],
  attributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
  globalSecondaryIndexes: [],
  localSecondaryIndexes: [],
});

/** Starts the servers, provisions the resources and points `process.env` at them. */
export async function startFuzzEnv(options: FuzzEnvOptions): Promise<FuzzEnv> {
  const stage = options.stage ?? 'dev';
  const pipelines = options.pipelines.map((p) => pipelineSchema.parse(p));
  const dataBucket = `esync-${stage}-core-data`;
  const servers = await startLocalServers();
  const secrets = await startSecretsServer({
    secrets: options.secrets ?? {},
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    logger: { warn() {}, error() {} },
  });
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS } as const;
  const sqs = new SQSClient({ ...common, endpoint: servers.endpoints.sqs });
  const dynamodb = new DynamoDBClient({ ...common, endpoint: servers.endpoints.dynamodb });
  const s3 = new S3Client({
    ...common,
    endpoint: servers.endpoints.s3,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  const queues: QueueSpec[] = pipelines.flatMap((p) => [
    { logicalId: `${p.name}-dlq`, name: loadDlqName(stage, p.name), fifo: false },
    {
      logicalId: `${p.name}-load`,
      name: loadQueueName(stage, p.name),
      fifo: false,
      visibilityTimeoutSeconds: 30,
      redrive: { deadLetterQueueName: loadDlqName(stage, p.name), maxReceiveCount: p.dlq.maxReceiveCount },
    },
  ]);
  const tables: TableSpec[] = [
    stateTable(stateTableName(stage)),
    singleKeyTable('IdempotencyTable', idempotencyTableName(stage), 'id'),
    ...pipelines
      .filter((p) => p.target.type === 'dynamodb' && p.target.table === undefined)
      .map((p) =>
        singleKeyTable(
          `${p.name}-target`,
          ownedTargetTableName(stage, p.name),
          p.target.type === 'dynamodb' ? p.target.keyAttribute : 'pk',
        ),
      ),
  ];
  await provisionResources(
    { queues, tables, buckets: [{ logicalId: 'DataBucket', name: dataBucket }] },
    {
      sqs,
      dynamodb,
      s3,
    },
  );

  const env: Record<string, string> = {
    ESYNC_STAGE: stage,
    ESYNC_STATE_TABLE: stateTableName(stage),
    ESYNC_IDEMPOTENCY_TABLE: idempotencyTableName(stage),
    ESYNC_DATA_BUCKET: dataBucket,
    ESYNC_EVENT_BUS: `esync-${stage}-core-bus`,
    ESYNC_QUEUE_URL_PREFIX: servers.queueUrlPrefix,
    ESYNC_STATE_MACHINE_ARN_PREFIX: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:`,
    ESYNC_PIPELINES: serializeCatalog(pipelines),
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: servers.endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: servers.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: servers.endpoints.s3,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...options.extraEnv,
  };
  const saved = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    saved.set(key, process.env[key]);
    process.env[key] = value;
  }
  for (const key of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) {
    saved.set(key, process.env[key]);
    delete process.env[key];
  }

  const queueUrl = (pipeline: string) => `${servers.queueUrlPrefix}${loadQueueName(stage, pipeline)}`;
  let stopped: Promise<void> | undefined;
  return {
    stage,
    pipelines,
    dataBucket,
    env,
    sqs,
    s3,
    dynamodb,
    queueUrl,
    async countMessages(pipeline) {
      const out = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl(pipeline),
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
    async drain(pipeline) {
      const bodies: string[] = [];
      for (;;) {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl(pipeline),
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            VisibilityTimeout: 300,
          }),
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) return bodies;
        bodies.push(...messages.map((m) => m.Body ?? ''));
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl(pipeline),
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
    },
    async listObjects(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await s3.send(
          new ListObjectsV2Command({ Bucket: dataBucket, Prefix: prefix, ContinuationToken: token }),
        );
        keys.push(...(out.Contents ?? []).map((o) => o.Key ?? ''));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
    stop() {
      stopped ??= (async () => {
        sqs.destroy();
        dynamodb.destroy();
        s3.destroy();
        await secrets.stop();
        await servers.stop();
        for (const [key, value] of saved) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      })();
      return stopped;
    },
  };
}

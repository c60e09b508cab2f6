import { createServer, request as httpRequest, type Server } from 'node:http';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import type { LocalServer } from '../../../local/aws-json-server.ts';
import { type EventBridgeServer, startEventBridgeServer } from '../../../local/eventbridge-server.ts';
import { createLambdaContext } from '../../../local/lambda-context.ts';
import { startSecretsServer } from '../../../local/secrets-server.ts';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startLocalServers,
} from '../../../local/servers.ts';
import { type AwsClients, createAwsClients } from '../../../shared/aws/clients.ts';
import {
  eventBusName,
  idempotencyTableName,
  loadDlqName,
  loadQueueName,
  ownedTargetTableName,
  stateTableName,
} from '../../../shared/naming.ts';
import { serializeCatalog } from '../../../shared/pipeline/catalog.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { createDeps, type Deps } from '../../../shared/usecases/deps.ts';

/**
 * The environment of the Lambda functions, provisioned on the local servers that speak the AWS
 * wire protocols (SQS, DynamoDB, S3, Secrets Manager, EventBridge) the way the CDK stack lays it
 * out: the state table (pk/sk, gsi1), the idempotency table (id), the data bucket, the ESync bus,
 * and per pipeline a load queue with its DLQ and the target table ESync owns. The handlers are
 * the deployed modules, unchanged: they read this environment on their first call and reach the
 * servers through `AWS_ENDPOINT_URL_<SERVICE>`.
 *
 * DynamoDB traffic passes a proxy that can answer chosen requests with a 500, so a test can make
 * the target unreachable for the records of one message only.
 */
export interface FunctionsHarness {
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  /** Clients built like the handlers build theirs, from the same environment. */
  readonly clients: AwsClients;
  /** Dependencies built like the handlers build theirs (state repositories, catalog, connectors). */
  readonly deps: Deps;
  readonly dataBucket: string;
  queueUrl(pipeline: string): string;
  queueArn(pipeline: string): string;
  targetTable(pipeline: string): string;
  /**
   * Receives every visible message of a queue, with the system attributes the SQS event source
   * passes on (ApproximateReceiveCount...). With `atLeast`, waits (up to 10 s) until that many
   * arrived, e.g. messages whose visibility timeout is about to run out. With `visibilitySeconds`,
   * one receive of up to 10 messages.
   */
  receiveAll(
    queueUrl: string,
    options?: { visibilitySeconds?: number; atLeast?: number },
  ): Promise<Message[]>;
  /** Deletes received messages, as the event source does after a successful batch. */
  deleteMessages(queueUrl: string, messages: readonly Message[]): Promise<void>;
  /** The event the SQS event source hands to the Load function for these messages. */
  sqsEvent(pipeline: string, messages: readonly Message[]): SQSEvent;
  /** A Lambda context whose remaining time counts down from `timeoutSeconds`. */
  context(functionName: string, timeoutSeconds?: number): Context;
  /** An object of the data bucket, parsed as JSON. */
  readJson<T = unknown>(key: string): Promise<T>;
  readText(key: string): Promise<string>;
  /** The ledger items of a scope (`RUN#<runId>` or `STREAM#<pipeline>#<day>`). */
  ledger(scope: string): Promise<Record<string, unknown>[]>;
  /** Events put on the ESync bus since the start, read from a queue a catch-all rule feeds. */
  busEvents(): Promise<{ 'detail-type': string; detail: Record<string, unknown> }[]>;
  /**
   * Until cleared, DynamoDB requests on `table` whose body contains `marker` (a record key) fail
   * with a 500, as when that table's partition is unavailable; with `throttled`, with a 400
   * ThrottlingException, as when the table sheds load.
   */
  failDynamoDbRequests(fault: DynamoDbFault | undefined): void;
  stop(): Promise<void>;
}

export interface FunctionsHarnessOptions {
  /** Pipeline definitions, validated here as the CDK app validates the YAML files. */
  readonly pipelines: readonly unknown[];
  /** Secrets by name. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Further variables of the functions' environment, e.g. `ESYNC_SECRETS_MAX_AGE_SECONDS`. */
  readonly environment?: Readonly<Record<string, string>>;
}

const STAGE = 'dev';
const DATA_BUCKET = `esync-${STAGE}-core-data`;
const OBSERVER_QUEUE = `esync-${STAGE}-core-observer`;

export interface DynamoDbFault {
  readonly table: string;
  readonly containing: string;
  readonly throttled?: boolean;
}

/** DynamoDB's answer to a request the fault proxy fails. */
function faultAnswer(fault: DynamoDbFault): { status: number; type: string; message: string } {
  if (fault.throttled)
    return { status: 400, type: 'ThrottlingException', message: 'injected by the test: rate exceeded' };
  return {
    status: 500,
    type: 'InternalServerError',
    message: 'injected by the test: the target is unreachable',
  };
}

/** Whether a DynamoDB request names `table`: as its TableName, or quoted in a PartiQL statement. */
const onTable = (body: Buffer, table: string) =>
  body.includes(JSON.stringify(table)) || body.includes(JSON.stringify(`"${table}"`).slice(1, -1));

/** An HTTP proxy in front of DynamoDB that fails the requests on a table carrying a marker. */
async function startDynamoDbFaultProxy(
  upstream: string,
): Promise<{ endpoint: string; fail(fault: DynamoDbFault | undefined): void; stop(): Promise<void> }> {
  const target = new URL(upstream);
  let fault: DynamoDbFault | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (fault && onTable(body, fault.table) && body.includes(fault.containing)) {
        const answer = faultAnswer(fault);
        res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: `com.amazonaws.dynamodb.v20120810#${answer.type}`,
            message: answer.message,
          }),
        );
        return;
      }
      const forward = httpRequest(
        {
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      forward.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    fail(value) {
      fault = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts the servers, provisions the resources and sets the functions' environment in this process. */
export async function startFunctionsHarness(options: FunctionsHarnessOptions): Promise<FunctionsHarness> {
  const pipelines = options.pipelines.map((p) => pipelineSchema.parse(p));
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  const stops: Array<() => Promise<void>> = [];
  const savedEnv = new Map<string, string | undefined>();
  const setEnv = (values: Record<string, string>) => {
    for (const [key, value] of Object.entries(values)) {
      if (!savedEnv.has(key)) savedEnv.set(key, process.env[key]);
      process.env[key] = value;
    }
  };
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
    for (const [key, value] of savedEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };

  try {
    const servers: LocalServers = await startLocalServers();
    stops.push(() => servers.stop());
    const proxy = await startDynamoDbFaultProxy(servers.endpoints.dynamodb);
    stops.push(() => proxy.stop());
    const secrets: LocalServer = await startSecretsServer({
      secrets: options.secrets ?? {},
      logger: { warn() {}, error() {} },
    });
    stops.push(() => secrets.stop());

    setEnv({
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_SQS: servers.endpoints.sqs,
      AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
      AWS_ENDPOINT_URL_S3: servers.endpoints.s3,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      // s3rver corrupts streamed uploads that carry the SDK's default flexible checksums.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    });
    const provisioning = createAwsClients();
    stops.push(async () => {
      for (const client of Object.values(provisioning)) (client as { destroy(): void }).destroy();
    });

    await provisioning.dynamodb.send(
      new CreateTableCommand({
        TableName: stateTableName(STAGE),
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
    await provisioning.dynamodb.send(
      new CreateTableCommand({
        TableName: idempotencyTableName(STAGE),
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    for (const p of pipelines)
      if (p.target.type === 'dynamodb' && p.target.table === undefined)
        await provisioning.dynamodb.send(
          new CreateTableCommand({
            TableName: ownedTargetTableName(STAGE, p.name),
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [{ AttributeName: p.target.keyAttribute, AttributeType: 'S' }],
            KeySchema: [{ AttributeName: p.target.keyAttribute, KeyType: 'HASH' }],
          }),
        );
    await provisioning.s3.send(new CreateBucketCommand({ Bucket: DATA_BUCKET }));

    const queueArnOf = async (url: string | undefined) =>
      (
        await provisioning.sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
        )
      ).Attributes?.QueueArn ?? '';
    for (const p of pipelines) {
      const dlq = await provisioning.sqs.send(
        new CreateQueueCommand({ QueueName: loadDlqName(STAGE, p.name) }),
      );
      await provisioning.sqs.send(
        new CreateQueueCommand({
          QueueName: loadQueueName(STAGE, p.name),
          Attributes: {
            // The stack derives it as 6x the Load timeout; tests receive with their own visibility.
            VisibilityTimeout: String(6 * p.load.timeoutSeconds),
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: await queueArnOf(dlq.QueueUrl),
              maxReceiveCount: p.dlq.maxReceiveCount,
            }),
          },
        }),
      );
    }
    const observer = await provisioning.sqs.send(new CreateQueueCommand({ QueueName: OBSERVER_QUEUE }));
    const observerUrl = observer.QueueUrl ?? '';

    const eventBridge: EventBridgeServer = await startEventBridgeServer({
      rules: [
        {
          name: 'observe-esync-events',
          eventBusName: eventBusName(STAGE),
          pattern: { source: ['esync'] },
          targets: [{ queueUrl: observerUrl }],
        },
        // As the stack's CDC route: the pipeline's pattern on the ESync bus, to its load queue.
        ...pipelines.flatMap((p) =>
          p.triggers.cdc
            ? [
                {
                  name: `esync-${STAGE}-${p.name}-cdc-rule`,
                  eventBusName: eventBusName(STAGE),
                  pattern: p.triggers.cdc.pattern,
                  targets: [{ queueUrl: servers.queueUrlPrefix + loadQueueName(STAGE, p.name) }],
                },
              ]
            : [],
        ),
      ],
      sqs: provisioning.sqs,
      accountId: LOCAL_ACCOUNT_ID,
      region: LOCAL_REGION,
      logger: { warn() {}, error() {} },
    });
    stops.push(() => eventBridge.stop());

    setEnv({
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
      ESYNC_STAGE: STAGE,
      ESYNC_STATE_TABLE: stateTableName(STAGE),
      ESYNC_IDEMPOTENCY_TABLE: idempotencyTableName(STAGE),
      ESYNC_DATA_BUCKET: DATA_BUCKET,
      ESYNC_EVENT_BUS: eventBusName(STAGE),
      ESYNC_QUEUE_URL_PREFIX: servers.queueUrlPrefix,
      ESYNC_STATE_MACHINE_ARN_PREFIX: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:`,
      ESYNC_PIPELINES: serializeCatalog(pipelines),
      ...options.environment,
    });
    const clients = createAwsClients();
    stops.push(async () => {
      for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
    });
    const deps = createDeps({ clients });

    const queueUrl = (pipeline: string) => servers.queueUrlPrefix + loadQueueName(STAGE, pipeline);
    const seenEvents: { 'detail-type': string; detail: Record<string, unknown> }[] = [];

    const harness: FunctionsHarness = {
      pipelines: byName,
      clients,
      deps,
      dataBucket: DATA_BUCKET,
      queueUrl,
      queueArn: (pipeline) =>
        `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${loadQueueName(STAGE, pipeline)}`,
      targetTable: (pipeline) => ownedTargetTableName(STAGE, pipeline),
      async receiveAll(url, receive = {}) {
        const all: Message[] = [];
        const deadline = Date.now() + 10_000;
        for (;;) {
          const out = await clients.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: url,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 0,
              // local-aws-sqs honours the deprecated AttributeNames only.
              AttributeNames: ['All'],
              MessageAttributeNames: ['All'],
              ...(receive.visibilitySeconds === undefined
                ? {}
                : { VisibilityTimeout: receive.visibilitySeconds }),
            }),
          );
          const batch = out.Messages ?? [];
          all.push(...batch);
          // A short visibility may run out during a sweep and hand the same message back twice.
          if (receive.visibilitySeconds !== undefined && batch.length > 0) return all;
          if (batch.length > 0) continue;
          if (all.length >= (receive.atLeast ?? 0) || Date.now() > deadline) return all;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      async deleteMessages(url, messages) {
        for (let i = 0; i < messages.length; i += 10)
          await clients.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.slice(i, i + 10).map((m, j) => ({
                Id: String(i + j),
                ReceiptHandle: m.ReceiptHandle,
              })),
            }),
          );
      },
      sqsEvent(pipeline, messages) {
        return {
          Records: messages.map(
            (m): SQSRecord => ({
              messageId: m.MessageId ?? '',
              receiptHandle: m.ReceiptHandle ?? '',
              body: m.Body ?? '',
              attributes: { ...m.Attributes } as unknown as SQSRecordAttributes,
              messageAttributes: {},
              md5OfBody: m.MD5OfBody ?? '',
              eventSource: 'aws:sqs',
              eventSourceARN: harness.queueArn(pipeline),
              awsRegion: LOCAL_REGION,
            }),
          ),
        };
      },
      context: (functionName, timeoutSeconds = 60) =>
        createLambdaContext({
          functionName: `esync-${STAGE}-core-${functionName}`,
          timeoutSeconds,
          region: LOCAL_REGION,
          accountId: LOCAL_ACCOUNT_ID,
        }),
      async readText(key) {
        const out = await clients.s3.send(new GetObjectCommand({ Bucket: DATA_BUCKET, Key: key }));
        return (await out.Body?.transformToString('utf8')) ?? '';
      },
      async readJson<T>(key: string) {
        return JSON.parse(await harness.readText(key)) as T;
      },
      async ledger(scope) {
        const out = await clients.ddb.send(
          new QueryCommand({
            TableName: stateTableName(STAGE),
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
            ExpressionAttributeValues: { ':pk': scope, ':msg': 'MSG#' },
            ConsistentRead: true,
          }),
        );
        return (out.Items ?? []) as Record<string, unknown>[];
      },
      async busEvents() {
        const messages = await harness.receiveAll(observerUrl);
        await harness.deleteMessages(observerUrl, messages);
        for (const m of messages) seenEvents.push(JSON.parse(m.Body ?? '{}'));
        return [...seenEvents];
      },
      failDynamoDbRequests: (fault) => proxy.fail(fault),
      stop: stopAll,
    };
    return harness;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

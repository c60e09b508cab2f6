import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ConfigError } from '../shared/errors.ts';
import type { LocalResources, QueueSpec, TableSpec } from './template.ts';

export interface ProvisionClients {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
}

export interface ProvisionResult {
  /** Queue URL by queue name. */
  readonly queueUrls: Record<string, string>;
  /** Queue ARN by queue name, as the local SQS server reports it. */
  readonly queueArns: Record<string, string>;
  readonly tables: readonly string[];
  readonly buckets: readonly string[];
  /** What could not be reproduced locally (e.g. TTL on dynalite). */
  readonly notes: readonly string[];
}

/**
 * Creates the template's queues, tables and buckets on the local servers with the same names and
 * settings as in AWS. Running it again against existing resources updates queue attributes and
 * leaves tables and buckets (and their data) as they are.
 */
export async function provisionResources(
  resources: Pick<LocalResources, 'queues' | 'tables' | 'buckets'>,
  clients: ProvisionClients,
): Promise<ProvisionResult> {
  const notes: string[] = [];
  const { queueUrls, queueArns } = await provisionQueues(resources.queues, clients.sqs);
  for (const table of resources.tables) notes.push(...(await provisionTable(table, clients.dynamodb)));
  for (const bucket of resources.buckets) await provisionBucket(bucket.name, clients.s3);
  return {
    queueUrls,
    queueArns,
    tables: resources.tables.map((t) => t.name),
    buckets: resources.buckets.map((b) => b.name),
    notes,
  };
}

/** Orders queues so that each dead-letter queue exists before the queues that redrive to it. */
function dependencyOrder(queues: readonly QueueSpec[]): QueueSpec[] {
  const byName = new Map(queues.map((q) => [q.name, q]));
  const ordered: QueueSpec[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (queue: QueueSpec) => {
    const seen = state.get(queue.name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new ConfigError(`queue ${queue.name} is part of a dead-letter cycle`);
    state.set(queue.name, 'visiting');
    const dlq = queue.redrive && byName.get(queue.redrive.deadLetterQueueName);
    if (queue.redrive && !dlq)
      throw new ConfigError(
        `queue ${queue.name} redrives to ${queue.redrive.deadLetterQueueName}, which the template does not define`,
      );
    if (dlq) visit(dlq);
    state.set(queue.name, 'done');
    ordered.push(queue);
  };
  for (const queue of queues) visit(queue);
  return ordered;
}

async function provisionQueues(queues: readonly QueueSpec[], sqs: SQSClient) {
  const queueUrls: Record<string, string> = {};
  const queueArns: Record<string, string> = {};
  for (const queue of dependencyOrder(queues)) {
    const attributes: Record<string, string> = {};
    if (queue.fifo) attributes.FifoQueue = 'true';
    if (queue.contentBasedDeduplication !== undefined)
      attributes.ContentBasedDeduplication = String(queue.contentBasedDeduplication);
    if (queue.visibilityTimeoutSeconds !== undefined)
      attributes.VisibilityTimeout = String(queue.visibilityTimeoutSeconds);
    if (queue.messageRetentionSeconds !== undefined)
      attributes.MessageRetentionPeriod = String(queue.messageRetentionSeconds);
    if (queue.delaySeconds !== undefined) attributes.DelaySeconds = String(queue.delaySeconds);
    if (queue.redrive)
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: queueArns[queue.redrive.deadLetterQueueName],
        maxReceiveCount: queue.redrive.maxReceiveCount,
      });
    let url: string;
    try {
      url =
        (await sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: attributes })))
          .QueueUrl ?? '';
    } catch (error) {
      if (!/QueueAlreadyExists|QueueNameExists/.test((error as Error).name))
        throw new ConfigError(`creating queue ${queue.name} failed: ${(error as Error).message}`, {
          cause: error,
        });
      // Created by an earlier run with other settings: the template's settings win.
      url = (await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }))).QueueUrl ?? '';
      const { FifoQueue: _fifo, ...mutable } = attributes;
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: mutable }));
    }
    const arn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn;
    queueUrls[queue.name] = url;
    queueArns[queue.name] = arn ?? '';
  }
  return { queueUrls, queueArns };
}

async function provisionTable(table: TableSpec, dynamodb: DynamoDBClient): Promise<string[]> {
  const input: CreateTableCommandInput = {
    TableName: table.name,
    KeySchema: [...table.keySchema],
    AttributeDefinitions: [...table.attributeDefinitions],
    BillingMode: 'PAY_PER_REQUEST',
    ...(table.globalSecondaryIndexes.length > 0 && {
      GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((g) => ({
        IndexName: g.IndexName,
        KeySchema: g.KeySchema,
        Projection: g.Projection as never,
      })),
    }),
    ...(table.localSecondaryIndexes.length > 0 && {
      LocalSecondaryIndexes: table.localSecondaryIndexes.map((l) => ({
        IndexName: l.IndexName,
        KeySchema: l.KeySchema,
        Projection: l.Projection as never,
      })),
    }),
  };
  let created = true;
  try {
    await dynamodb.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name !== 'ResourceInUseException')
      throw new ConfigError(`creating table ${table.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    created = false;
  }
  await waitUntilActive(table.name, dynamodb);
  const notes: string[] = [];
  if (!created) {
    const existing = (await dynamodb.send(new DescribeTableCommand({ TableName: table.name }))).Table;
    const have = new Set((existing?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
    const missing = table.globalSecondaryIndexes
      .filter((g) => !have.has(g.IndexName))
      .map((g) => g.IndexName);
    if (missing.length > 0)
      notes.push(
        `table ${table.name} exists without index ${missing.join(', ')}: delete the data dir to recreate it`,
      );
  }
  if (table.ttlAttribute) {
    try {
      await dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: table.name,
          TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
        }),
      );
    } catch (error) {
      const name = (error as Error).name;
      if (
        /UnknownOperation|NotImplemented|UnrecognizedClient/.test(name) ||
        /unknown operation/i.test((error as Error).message)
      )
        notes.push(
          `table ${table.name}: the server has no TTL, items past ${table.ttlAttribute} are not deleted`,
        );
      else if (!/already enabled/i.test((error as Error).message))
        throw new ConfigError(`enabling TTL on ${table.name} failed: ${(error as Error).message}`, {
          cause: error,
        });
    }
  }
  return notes;
}

/** Like AWS, a new table accepts reads and writes only once ACTIVE (dynalite: a moment later). */
async function waitUntilActive(name: string, dynamodb: DynamoDBClient): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const table = (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table;
    const indexes = table?.GlobalSecondaryIndexes ?? [];
    if (
      table?.TableStatus === 'ACTIVE' &&
      indexes.every((g) => g.IndexStatus === undefined || g.IndexStatus === 'ACTIVE')
    )
      return;
    if (Date.now() > deadline) throw new ConfigError(`table ${name} did not become ACTIVE within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function provisionBucket(name: string, s3: S3Client): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } catch (error) {
    if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test((error as Error).name))
      throw new ConfigError(`creating bucket ${name} failed: ${(error as Error).message}`, { cause: error });
  }
}

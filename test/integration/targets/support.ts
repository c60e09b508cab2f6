import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalEndpoints } from '../../../local/servers.ts';
import type { AwsClients } from '../../../shared/aws/clients.ts';
import { StaticSecretsProvider } from '../../../shared/aws/secrets.ts';
import type { ConnectorContext, TargetWrite } from '../../../shared/connectors/types.ts';
import type { RetryOptions } from '../../../shared/domain/retry.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';

/** SDK clients pointed at the local servers, as the stack's endpoint variables would point them. */
export function localClients(endpoints: LocalEndpoints) {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 } as const;
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb });
  return {
    dynamodb,
    ddb: DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs }),
    s3: new S3Client({
      ...common,
      endpoint: endpoints.s3,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    sfn: new SFNClient(common),
    eventBridge: new EventBridgeClient(common),
    secretsManager: new SecretsManagerClient(common),
  };
}

/** Fast retries so tests of transient failures take milliseconds. */
export const FAST_RETRY: RetryOptions = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5, jitter: 'none' };

/** A connector context for a webhook-fed pipeline writing to `target`. */
export function targetContext(
  target: PipelineInput['target'],
  clients: AwsClients,
  options: {
    secrets?: Record<string, string | Record<string, unknown>>;
    name?: string;
    dataBucket?: string;
    /** `load.writeConcurrency` of the pipeline. */
    writeConcurrency?: number;
    /** `retention.historyDays` of the pipeline. */
    historyDays?: number;
  } = {},
): ConnectorContext {
  const pipeline = pipelineSchema.parse({
    name: options.name ?? 'users-sync',
    source: { type: 'webhook', key: ['id'] },
    target,
    triggers: { webhook: { signature: 'github', secret: 'webhook-secret' } },
    ...(options.writeConcurrency === undefined
      ? {}
      : { load: { writeConcurrency: options.writeConcurrency } }),
    ...(options.historyDays === undefined ? {} : { retention: { historyDays: options.historyDays } }),
  } satisfies PipelineInput);
  return {
    pipeline,
    clients,
    secrets: new StaticSecretsProvider(options.secrets ?? {}),
    dataBucket: options.dataBucket ?? 'esync-data',
    stage: 'dev',
    retry: FAST_RETRY,
  };
}

/** An upsert of `data` under `key` at source position `position`. */
export function upsert(
  key: string,
  position: number,
  data: Record<string, unknown>,
  messageKey = 'msg-1',
): TargetWrite {
  return {
    key,
    op: 'upsert',
    version: positionVersion(position),
    hash: contentHash(data),
    data,
    messageKey,
    ts: new Date(Date.UTC(2025, 0, 1, 0, 0, position)).toISOString(),
  };
}

/** A delete of `key` at source position `position`. */
export function remove(key: string, position: number, messageKey = 'msg-1'): TargetWrite {
  return {
    key,
    op: 'delete',
    version: positionVersion(position),
    hash: 'deleted',
    data: null,
    messageKey,
    ts: new Date(Date.UTC(2025, 0, 1, 0, 0, position)).toISOString(),
  };
}

/** Collects every page of an async iterable. */
export async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

import type { TargetConfig } from '../../pipeline/schema.ts';
import { type ConnectorRegistry, connectorRegistry } from '../connector-modules.ts';
import type { TargetConnector } from '../types.ts';

/**
 * Every target type, each imported with the first pipeline that names it (a function serving
 * DynamoDB targets never loads `pg`). Connectors connect lazily: creating one sends nothing, so
 * it is cheap at cold start and in tests.
 */
export const TARGET_CONNECTORS: ConnectorRegistry<TargetConfig, TargetConnector> = connectorRegistry(
  'target',
  {
    dynamodb: async () => (await import('./dynamodb/dynamodb-target.ts')).createDynamoDbTarget,
    s3: async () => (await import('./s3/s3-target.ts')).createS3LakeTarget,
    postgres: async () => (await import('./postgres/postgres-target.ts')).createPostgresTarget,
    http: async () => (await import('./http/http-target.ts')).createHttpTarget,
    custom: async () => (await import('../custom/create.ts')).createCustomTarget,
  },
);

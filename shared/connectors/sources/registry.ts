import type { SourceConfig } from '../../pipeline/schema.ts';
import { type ConnectorRegistry, connectorRegistry } from '../connector-modules.ts';
import type { SourceConnector } from '../types.ts';

/**
 * Every source type, each imported with the first pipeline that names it, so a function serving
 * PostgreSQL pipelines never loads mysql2 or the GitHub client. Creating a source opens nothing:
 * connections are made on first use and released by `close()`.
 */
export const SOURCE_CONNECTORS: ConnectorRegistry<SourceConfig, SourceConnector> = connectorRegistry(
  'source',
  {
    postgres: async () => (await import('./postgres/source.ts')).createPostgresSource,
    mysql: async () => (await import('./mysql/source.ts')).createMysqlSource,
    s3: async () => (await import('./s3/source.ts')).createS3Source,
    github: async () => (await import('./github/source.ts')).createGithubSource,
    http: async () => (await import('./http/source.ts')).createHttpSource,
    dynamodb: async () => (await import('./dynamodb/source.ts')).createDynamodbSource,
    webhook: async () => (await import('./webhook/source.ts')).createWebhookSource,
    cdc: async () => (await import('./cdc/source.ts')).createCdcSource,
    kafka: async () => (await import('./kafka/source.ts')).createKafkaSource,
    custom: async () => (await import('../custom/create.ts')).createCustomSource,
  },
);

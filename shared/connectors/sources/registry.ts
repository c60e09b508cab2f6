import type { SourceConfig } from '../../pipeline/schema.ts';
import { createCustomSource } from '../custom/create.ts';
import type { ConnectorContext, SourceConnector, SourceFactory } from '../types.ts';
import { createCdcSource } from './cdc/source.ts';
import { createDynamodbSource } from './dynamodb/source.ts';
import { createGithubSource } from './github/source.ts';
import { createHttpSource } from './http/source.ts';
import { createKafkaSource } from './kafka/source.ts';
import { createMysqlSource } from './mysql/source.ts';
import { createPostgresSource } from './postgres/source.ts';
import { createS3Source } from './s3/source.ts';
import { createWebhookSource } from './webhook/source.ts';

/** Every source type's factory; the mapped type makes a missing source type a compile error. */
export const SOURCE_FACTORIES: { readonly [T in SourceConfig['type']]: SourceFactory<T> } = {
  postgres: createPostgresSource,
  mysql: createMysqlSource,
  s3: createS3Source,
  github: createGithubSource,
  http: createHttpSource,
  dynamodb: createDynamodbSource,
  webhook: createWebhookSource,
  cdc: createCdcSource,
  kafka: createKafkaSource,
  custom: createCustomSource,
};

/**
 * Creates the source a pipeline names. Creating one opens nothing: connections are made on
 * first use and released by `close()`.
 */
export function createSource(config: SourceConfig, context: ConnectorContext): SourceConnector {
  switch (config.type) {
    case 'postgres':
      return SOURCE_FACTORIES.postgres(config, context);
    case 'mysql':
      return SOURCE_FACTORIES.mysql(config, context);
    case 's3':
      return SOURCE_FACTORIES.s3(config, context);
    case 'github':
      return SOURCE_FACTORIES.github(config, context);
    case 'http':
      return SOURCE_FACTORIES.http(config, context);
    case 'dynamodb':
      return SOURCE_FACTORIES.dynamodb(config, context);
    case 'webhook':
      return SOURCE_FACTORIES.webhook(config, context);
    case 'cdc':
      return SOURCE_FACTORIES.cdc(config, context);
    case 'kafka':
      return SOURCE_FACTORIES.kafka(config, context);
    case 'custom':
      return SOURCE_FACTORIES.custom(config, context);
  }
}

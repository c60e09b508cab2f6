import type { TargetConfig } from '../../pipeline/schema.ts';
import { createCustomTarget } from '../custom/create.ts';
import type { ConnectorContext, TargetConnector } from '../types.ts';
import { createDynamoDbTarget } from './dynamodb/dynamodb-target.ts';
import { createHttpTarget } from './http/http-target.ts';
import { createPostgresTarget } from './postgres/postgres-target.ts';
import { createS3LakeTarget } from './s3/s3-target.ts';

/**
 * Creates the target connector a pipeline's `target` block names. Connectors connect lazily:
 * creating one sends nothing, so it is cheap at cold start and in tests.
 */
export function createTarget(config: TargetConfig, context: ConnectorContext): TargetConnector {
  switch (config.type) {
    case 'dynamodb':
      return createDynamoDbTarget(config, context);
    case 's3':
      return createS3LakeTarget(config, context);
    case 'postgres':
      return createPostgresTarget(config, context);
    case 'http':
      return createHttpTarget(config, context);
    case 'custom':
      return createCustomTarget(config, context);
  }
}

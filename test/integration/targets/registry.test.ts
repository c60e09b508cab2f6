import { describe, expect, it } from 'vitest';
import { DynamoDbTarget } from '../../../shared/connectors/targets/dynamodb/dynamodb-target.ts';
import { HttpTarget } from '../../../shared/connectors/targets/http/http-target.ts';
import { PostgresTarget } from '../../../shared/connectors/targets/postgres/postgres-target.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import { S3LakeTarget } from '../../../shared/connectors/targets/s3/s3-target.ts';
import type { PipelineInput } from '../../../shared/pipeline/schema.ts';
import { localClients, targetContext } from './support.ts';

const clients = localClients({
  sqs: 'http://127.0.0.1:1',
  dynamodb: 'http://127.0.0.1:1',
  s3: 'http://127.0.0.1:1',
});

describe('TARGET_CONNECTORS', () => {
  it.each([
    [{ type: 'dynamodb' }, DynamoDbTarget],
    [{ type: 's3' }, S3LakeTarget],
    [{ type: 'postgres', connection: { secret: 'db' }, table: 'users' }, PostgresTarget],
    [{ type: 'http', url: 'https://api.example.com/users/{key}' }, HttpTarget],
  ] as const)('creates the %o target without connecting', async (target, expected) => {
    // Prepare
    const context = targetContext(target as PipelineInput['target'], clients);

    // Act
    const connector = await TARGET_CONNECTORS.loadAndCreate(context.pipeline.target, context);

    // Assess
    expect(connector).toBeInstanceOf(expected);
  });
});

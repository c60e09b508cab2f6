import { describe, expect, it } from 'vitest';
import { type IamModel, LOCAL_SECRET_SUFFIX } from '../../../local/iam/model.ts';
import { requiredPermissions } from '../../../local/iam/requests.ts';

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/EncryptionKey';
const QUEUE = 'arn:aws:sqs:us-east-1:000000000000:esync-dev-users-sync-load';
const model: IamModel = {
  region: 'us-east-1',
  accountId: '000000000000',
  functionRoles: new Map(),
  stateMachineRoles: new Map(),
  rolesByArn: new Map(),
  resourcePolicies: [],
  queueKeys: new Map([[QUEUE, KEY]]),
  bucketKeys: new Map([['esync-dev-data', KEY]]),
  secretNames: new Set(['esync-dev-mask-key']),
};
const scope = { model, secretNames: new Set(['esync-dev-mask-key', 'esync/demo/users-db']) };
const permissions = (client: string, command: string, input: Record<string, unknown>) =>
  requiredPermissions(client, command, input, scope) ?? [];

describe('the IAM permissions an SDK call needs', () => {
  it('authorizes a DynamoDB batch per table and a query on an index by the index ARN', () => {
    expect(
      permissions('DynamoDBClient', 'BatchWriteItemCommand', { RequestItems: { a: [], b: [] } }).map(
        (p) => p.resource,
      ),
    ).toEqual([
      'arn:aws:dynamodb:us-east-1:000000000000:table/a',
      'arn:aws:dynamodb:us-east-1:000000000000:table/b',
    ]);
    expect(permissions('DynamoDBClient', 'QueryCommand', { TableName: 'state', IndexName: 'gsi1' })).toEqual([
      {
        action: 'dynamodb:Query',
        resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/state/index/gsi1',
      },
    ]);
  });

  it('authorizes each PartiQL statement of a batch by its verb on the table it names', () => {
    expect(
      permissions('DynamoDBClient', 'BatchExecuteStatementCommand', {
        Statements: [
          { Statement: `INSERT INTO "users-target" VALUE {'pk': ?}` },
          { Statement: 'UPDATE "other" SET x = ? WHERE pk = ?' },
          { Statement: 'EXISTS(SELECT * FROM t)' },
        ],
      }),
    ).toEqual([
      {
        action: 'dynamodb:PartiQLInsert',
        resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/users-target',
      },
      { action: 'dynamodb:PartiQLUpdate', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/other' },
      { action: 'dynamodb:PartiQL*', resource: '*' },
    ]);
  });

  it('authorizes an SQS batch as its single-message action, with the queue key through SQS', () => {
    expect(
      permissions('SQSClient', 'SendMessageBatchCommand', {
        QueueUrl: `http://127.0.0.1:1/000000000000/${QUEUE.split(':').pop()}`,
      }),
    ).toEqual([
      { action: 'sqs:SendMessage', resource: QUEUE },
      {
        action: 'kms:GenerateDataKey',
        resource: KEY,
        context: { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com', 'kms:CallerAccount': '000000000000' },
      },
    ]);
    expect(permissions('SQSClient', 'DeleteMessageBatchCommand', { QueueUrl: QUEUE })).toEqual([
      { action: 'sqs:DeleteMessage', resource: QUEUE },
    ]);
  });

  it('authorizes S3 listings on the bucket and object calls on the object, with the bucket key', () => {
    expect(
      permissions('S3Client', 'ListObjectsV2Command', { Bucket: 'esync-dev-data', Prefix: 'plans/' }),
    ).toEqual([
      {
        action: 's3:ListBucket',
        resource: 'arn:aws:s3:::esync-dev-data',
        context: { 's3:prefix': 'plans/' },
      },
    ]);
    expect(
      permissions('S3Client', 'GetObjectCommand', { Bucket: 'esync-dev-data', Key: 'plans/1.json' }),
    ).toEqual([
      { action: 's3:GetObject', resource: 'arn:aws:s3:::esync-dev-data/plans/1.json' },
      expect.objectContaining({ action: 'kms:Decrypt', resource: KEY }),
    ]);
    expect(permissions('S3Client', 'HeadObjectCommand', { Bucket: 'other', Key: 'k' })).toEqual([
      { action: 's3:GetObject', resource: 'arn:aws:s3:::other/k' },
    ]);
  });

  it('names a secret by its full ARN, suffix included, however the call gives it', () => {
    const arn = (secretId: string) =>
      permissions('SecretsManagerClient', 'GetSecretValueCommand', { SecretId: secretId })[0]?.resource;
    const prefix = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:';
    expect(arn('esync/demo/users-db')).toBe(`${prefix}esync/demo/users-db-${LOCAL_SECRET_SUFFIX}`);
    expect(arn(`${prefix}esync-dev-mask-key`)).toBe(`${prefix}esync-dev-mask-key-${LOCAL_SECRET_SUFFIX}`);
    expect(arn(`${prefix}esync-dev-mask-key-AbC123`)).toBe(
      `${prefix}esync-dev-mask-key-${LOCAL_SECRET_SUFFIX}`,
    );
  });

  it('authorizes PutEvents once per bus its entries name', () => {
    expect(
      permissions('EventBridgeClient', 'PutEventsCommand', {
        Entries: [{ EventBusName: 'esync-dev' }, {}, { EventBusName: 'esync-dev' }],
      }),
    ).toEqual([
      { action: 'events:PutEvents', resource: 'arn:aws:events:us-east-1:000000000000:event-bus/esync-dev' },
      { action: 'events:PutEvents', resource: 'arn:aws:events:us-east-1:000000000000:event-bus/default' },
    ]);
  });

  it('authorizes GetParametersByPath on the path itself and a parameter call on each parameter it names', () => {
    const parameter = (name: string) => `arn:aws:ssm:us-east-1:000000000000:parameter/${name}`;

    expect(permissions('SSMClient', 'GetParametersByPathCommand', { Path: '/esync/dev/pipelines' })).toEqual([
      { action: 'ssm:GetParametersByPath', resource: parameter('esync/dev/pipelines') },
    ]);
    expect(
      permissions('SSMClient', 'GetParameterCommand', { Name: '/esync/dev/pipelines/users-sync' }),
    ).toEqual([{ action: 'ssm:GetParameter', resource: parameter('esync/dev/pipelines/users-sync') }]);
    expect(permissions('SSMClient', 'GetParametersCommand', { Names: ['/a/b', 'bare'] })).toEqual([
      { action: 'ssm:GetParameters', resource: parameter('a/b') },
      { action: 'ssm:GetParameters', resource: parameter('bare') },
    ]);
    expect(permissions('SSMClient', 'PutParameterCommand', { Name: '/esync/dev/pipelines/x' })).toEqual([
      { action: 'ssm:PutParameter', resource: parameter('esync/dev/pipelines/x') },
    ]);
  });

  it('knows no permissions for a client it does not map, so the caller can tell', () => {
    expect(requiredPermissions('LambdaClient', 'InvokeCommand', {}, scope)).toBeUndefined();
  });
});

import { type IamModel, secretArn } from './model.ts';

/** An action on a resource that one SDK call needs, with the condition keys the service adds. */
export interface RequiredPermission {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string>>;
}

/** What the mapping needs beyond the template. */
export interface RequestScope {
  readonly model: IamModel;
  /** Every secret name the local stack serves (template and pipeline secrets). */
  readonly secretNames: ReadonlySet<string>;
}

type Input = Readonly<Record<string, unknown>>;
type Mapper = (operation: string, input: Input, scope: RequestScope) => RequiredPermission[];

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/**
 * The IAM permissions an SDK call needs, as the service authorizes it: the action (batch
 * operations need the single-item action), the resource ARN the call names, and the KMS
 * permissions an encrypted queue or bucket adds (with `kms:ViaService`). Undefined for a client
 * this mapping does not know.
 */
export function requiredPermissions(
  clientName: string,
  commandName: string,
  input: Input,
  scope: RequestScope,
): RequiredPermission[] | undefined {
  const mapper = MAPPERS[clientName.replace(/Client$/, '')];
  return mapper?.(commandName.replace(/Command$/, ''), input, scope);
}

const MAPPERS: Readonly<Record<string, Mapper>> = {
  DynamoDB: dynamodb,
  SQS: sqs,
  S3: s3,
  SFN: sfn,
  EventBridge: eventBridge,
  SecretsManager: secretsManager,
  SSM: ssm,
};

function tableArn(scope: RequestScope, table: string, index?: string): string {
  const base = table.startsWith('arn:')
    ? table
    : `arn:aws:dynamodb:${scope.model.region}:${scope.model.accountId}:table/${table}`;
  return index ? `${base}/index/${index}` : base;
}

const TRANSACT_ACTIONS: Readonly<Record<string, string>> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

function dynamodb(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  const action = (name: string) => `dynamodb:${name}`;
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem')
    return Object.keys((input.RequestItems as Input | undefined) ?? {}).map((table) => ({
      action: action(operation),
      resource: tableArn(scope, table),
    }));
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems')
    return ((input.TransactItems as Array<Record<string, Input>> | undefined) ?? []).flatMap((item) =>
      Object.entries(item).map(([kind, body]) => ({
        action: action(TRANSACT_ACTIONS[kind] ?? kind),
        resource: tableArn(scope, str(body.TableName)),
      })),
    );
  if (operation === 'BatchExecuteStatement' || operation === 'ExecuteStatement')
    return partiqlPermissions(operation === 'ExecuteStatement' ? [input] : input.Statements, scope);
  if (operation === 'ListTables') return [{ action: action(operation), resource: '*' }];
  return [
    {
      action: action(operation),
      resource: tableArn(
        scope,
        str(input.TableName),
        typeof input.IndexName === 'string' ? input.IndexName : undefined,
      ),
    },
  ];
}

/**
 * PartiQL is authorized per statement, by its verb (`dynamodb:PartiQLInsert`, …) on the table it
 * names; a statement whose verb or table cannot be read needs `dynamodb:PartiQL*` on `*`.
 */
function partiqlPermissions(statements: unknown, scope: RequestScope): RequiredPermission[] {
  const list = Array.isArray(statements) ? (statements as Input[]) : [];
  return list.map((statement) => {
    const text = str(statement.Statement);
    const verb = /^\s*(SELECT|INSERT|UPDATE|DELETE)\b/i.exec(text)?.[1];
    const table = /^\s*(?:SELECT\b.*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"((?:[^"]|"")+)"/is.exec(
      text,
    )?.[1];
    if (!verb || !table) return { action: 'dynamodb:PartiQL*', resource: '*' };
    const action = `dynamodb:PartiQL${verb[0]?.toUpperCase()}${verb.slice(1).toLowerCase()}`;
    return { action, resource: tableArn(scope, table.replaceAll('""', '"')) };
  });
}

/** SQS authorizes each batch entry as the single-message action. */
const SQS_BATCH: Readonly<Record<string, string>> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

function sqs(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  const { region, accountId } = scope.model;
  const queueArn = (nameOrUrl: string) =>
    nameOrUrl.startsWith('arn:')
      ? nameOrUrl
      : `arn:aws:sqs:${region}:${accountId}:${nameOrUrl.split('/').pop()}`;
  const action = SQS_BATCH[operation] ?? operation;
  if (operation === 'ListQueues') return [{ action: 'sqs:ListQueues', resource: '*' }];
  if (operation === 'StartMessageMoveTask' || operation === 'ListMessageMoveTasks') {
    const source = queueArn(str(input.SourceArn));
    return [
      { action: `sqs:${operation}`, resource: source },
      ...(operation === 'StartMessageMoveTask'
        ? ['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes'].map((a) => ({
            action: `sqs:${a}`,
            resource: source,
          }))
        : []),
      ...(typeof input.DestinationArn === 'string'
        ? [{ action: 'sqs:SendMessage', resource: input.DestinationArn }]
        : []),
    ];
  }
  if (operation === 'CancelMessageMoveTask') return [];
  const queue = queueArn(str(input.QueueUrl ?? input.QueueName));
  const permissions: RequiredPermission[] = [{ action: `sqs:${action}`, resource: queue }];
  const key = scope.model.queueKeys.get(queue);
  const kms = (kmsAction: string) => ({
    action: `kms:${kmsAction}`,
    resource: key ?? '',
    context: { 'kms:ViaService': `sqs.${region}.amazonaws.com`, 'kms:CallerAccount': accountId },
  });
  if (key && action === 'SendMessage') permissions.push(kms('GenerateDataKey'));
  if (key && action === 'ReceiveMessage') permissions.push(kms('Decrypt'));
  return permissions;
}

/** S3 actions that differ from the operation's name. */
const S3_ACTIONS: Readonly<Record<string, string>> = {
  HeadObject: 'GetObject',
  GetObject: 'GetObject',
  PutObject: 'PutObject',
  CreateMultipartUpload: 'PutObject',
  UploadPart: 'PutObject',
  CompleteMultipartUpload: 'PutObject',
  DeleteObject: 'DeleteObject',
  ListObjectsV2: 'ListBucket',
  ListObjects: 'ListBucket',
  HeadBucket: 'ListBucket',
  ListMultipartUploads: 'ListBucketMultipartUploads',
  AbortMultipartUpload: 'AbortMultipartUpload',
};
const S3_BUCKET_ACTIONS = new Set(['ListBucket', 'ListBucketMultipartUploads']);

function s3(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  const { region, accountId } = scope.model;
  const bucket = str(input.Bucket);
  const object = (key: string) => `arn:aws:s3:::${bucket}/${key}`;
  if (operation === 'ListBuckets') return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
  if (operation === 'DeleteObjects')
    return ((input.Delete as { Objects?: Array<{ Key?: string }> } | undefined)?.Objects ?? []).map((o) => ({
      action: 's3:DeleteObject',
      resource: object(o.Key ?? ''),
    }));
  const action = S3_ACTIONS[operation] ?? operation;
  if (S3_BUCKET_ACTIONS.has(action))
    return [
      {
        action: `s3:${action}`,
        resource: `arn:aws:s3:::${bucket}`,
        ...(typeof input.Prefix === 'string' && { context: { 's3:prefix': input.Prefix } }),
      },
    ];
  const permissions: RequiredPermission[] = [{ action: `s3:${action}`, resource: object(str(input.Key)) }];
  if (operation === 'CopyObject') {
    const source = decodeURIComponent(str(input.CopySource)).replace(/^\//, '');
    permissions.push({ action: 's3:GetObject', resource: `arn:aws:s3:::${source}` });
  }
  const key = scope.model.bucketKeys.get(bucket);
  const kmsAction =
    operation === 'GetObject' ? 'Decrypt' : action === 'PutObject' ? 'GenerateDataKey' : undefined;
  if (key && kmsAction)
    permissions.push({
      action: `kms:${kmsAction}`,
      resource: key,
      context: { 'kms:ViaService': `s3.${region}.amazonaws.com`, 'kms:CallerAccount': accountId },
    });
  return permissions;
}

function sfn(operation: string, input: Input): RequiredPermission[] {
  const resource = str(input.executionArn ?? input.stateMachineArn ?? input.mapRunArn) || '*';
  return [{ action: `states:${operation}`, resource }];
}

function eventBridge(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  const { region, accountId } = scope.model;
  const busArn = (nameOrArn: string) =>
    nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `arn:aws:events:${region}:${accountId}:event-bus/${nameOrArn || 'default'}`;
  if (operation === 'PutEvents') {
    const buses = new Set(
      ((input.Entries as Array<{ EventBusName?: string }> | undefined) ?? []).map((e) =>
        busArn(e.EventBusName ?? ''),
      ),
    );
    return [...buses].map((resource) => ({ action: 'events:PutEvents', resource }));
  }
  return [{ action: `events:${operation}`, resource: busArn(str(input.EventBusName ?? input.Name)) }];
}

function secretsManager(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  if (operation === 'ListSecrets' || operation === 'CreateSecret')
    return [{ action: `secretsmanager:${operation}`, resource: '*' }];
  return [
    {
      action: `secretsmanager:${operation}`,
      resource: secretArn(scope.model, str(input.SecretId), scope.secretNames),
    },
  ];
}

/**
 * Parameter Store authorizes a call on the parameters it names, and GetParametersByPath on the
 * path itself (`parameter/esync/dev/pipelines`), not on each parameter it returns.
 */
function ssm(operation: string, input: Input, scope: RequestScope): RequiredPermission[] {
  const { region, accountId } = scope.model;
  const parameterArn = (name: string) =>
    `arn:aws:ssm:${region}:${accountId}:parameter/${name.replace(/^\//, '')}`;
  const action = `ssm:${operation}`;
  if (operation === 'GetParametersByPath') return [{ action, resource: parameterArn(str(input.Path)) }];
  if (operation === 'GetParameters' || operation === 'DeleteParameters')
    return ((input.Names as unknown[] | undefined) ?? []).map((name) => ({
      action,
      resource: parameterArn(str(name)),
    }));
  if (operation === 'DescribeParameters') return [{ action, resource: '*' }];
  return [{ action, resource: parameterArn(str(input.Name)) }];
}

import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { rereadsAtSource } from '../../shared/connectors/sources/rereaders.ts';
import type { IamLogin } from '../../shared/connectors/sql/iam-token.ts';
import { keepsHistory } from '../../shared/connectors/targets/change-archive.ts';
import { connectsToDatabase } from '../../shared/pipeline/database-connections.ts';
import type { Pipeline, SourceConfig, TargetConfig } from '../../shared/pipeline/schema.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import type { AccessGrantee } from './access-roles.ts';
import { grantOn } from './function-access.ts';
import { DATA_PREFIXES } from './storage.ts';

const TABLE_READ_ACTIONS = [
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
];
const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

const OBJECTS_REASON =
  'Objects under this prefix are named per record, day and message at run time; the grant is limited to the pipeline’s prefix.';

/** Secrets Manager names a source reads with. */
export function sourceSecretNames(source: SourceConfig): string[] {
  switch (source.type) {
    case 'postgres':
    case 'mysql':
      return [source.connection.secret];
    case 'github':
      return source.token ? [source.token.secret] : [];
    case 'http':
      return source.auth ? [source.auth.secret] : [];
    default:
      return [];
  }
}

/** Secrets Manager names a target writes with. */
export function targetSecretNames(target: TargetConfig): string[] {
  switch (target.type) {
    case 'postgres':
      return [target.connection.secret];
    case 'http':
      return target.auth ? [target.auth.secret] : [];
    default:
      return [];
  }
}

/**
 * Lets `fn` log in through an RDS Proxy with IAM authentication as the connection's `iam` user:
 * `rds-db:connect` on that proxy and user only.
 */
export function grantDatabaseLogin(fn: AccessGrantee, iam: IamLogin | undefined): void {
  if (!iam) return;
  const login = Arn.format(
    {
      service: 'rds-db',
      resource: 'dbuser',
      resourceName: `${iam.proxy}/${iam.user}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    },
    Stack.of(fn.executionRole),
  );
  grantOn(fn, ['rds-db:connect'], [login]);
}

export interface PipelineAccessProps {
  readonly pipeline: Pipeline;
  readonly dataBucket: s3.IBucket;
  /** The table ESync owns for a DynamoDB target that names none. @default - none: the target names its table */
  readonly ownedTargetTable?: dynamodb.ITable;
}

/**
 * Grants on what a pipeline reads and writes outside ESync's own resources: its source and target
 * (tables, buckets, prefixes) and the Secrets Manager secrets it names, by name.
 */
export class PipelineAccess extends Construct {
  readonly #props: PipelineAccessProps;
  readonly #secrets = new Map<string, secretsmanager.ISecret>();
  readonly #imported = new Map<string, Construct>();

  constructor(scope: Construct, id: string, props: PipelineAccessProps) {
    super(scope, id);
    this.#props = props;
  }

  /** Lets `fn` read the pipeline's source. */
  grantSourceRead(fn: AccessGrantee): void {
    const { source } = this.#props.pipeline;
    this.#grantSecrets(fn, sourceSecretNames(source));
    if (connectsToDatabase(source)) grantDatabaseLogin(fn, source.connection.iam);
    if (source.type === 's3')
      this.#grantObjects(fn, this.#bucket(source.bucket), source.prefix, ['s3:GetObject']);
    if (source.type === 'dynamodb')
      grantOn(
        fn,
        ['dynamodb:DescribeTable', 'dynamodb:Scan'],
        [this.#table('SourceTable', source.table).tableArn],
      );
  }

  /** Lets `fn` read a record again at the pipeline's source, where its API answers for one (its token). */
  grantSourceRereads(fn: AccessGrantee): void {
    const { source } = this.#props.pipeline;
    if (rereadsAtSource(source)) this.#grantSecrets(fn, sourceSecretNames(source));
  }

  /** Lets `fn` read, or read and write, the pipeline's target. */
  grantTarget(fn: AccessGrantee, mode: 'read' | 'write'): void {
    const { target, name } = this.#props.pipeline;
    this.#grantSecrets(fn, targetSecretNames(target));
    if (connectsToDatabase(target)) grantDatabaseLogin(fn, target.connection.iam);
    if (target.type === 'dynamodb') {
      const table = this.#props.ownedTargetTable ?? this.#table('TargetTable', target.table ?? '');
      // With batchInserts (the default), keys expected absent are PartiQL INSERTs (BatchExecuteStatement).
      const writeActions = [
        ...TABLE_WRITE_ACTIONS,
        ...(target.batchInserts ? ['dynamodb:PartiQLInsert'] : []),
      ];
      grantOn(fn, mode === 'write' ? [...TABLE_READ_ACTIONS, ...writeActions] : TABLE_READ_ACTIONS, [
        table.tableArn,
      ]);
    }
    const actions = mode === 'write' ? ['s3:GetObject', 's3:PutObject'] : ['s3:GetObject'];
    if (target.type === 's3')
      this.#grantObjects(fn, this.#bucket(target.bucket), `${target.prefix}${name}/`, actions);
    // Whoever writes the target archives the changes it applied, when the pipeline keeps history (change-archive.ts).
    // Each archive object is put with its history tier's tag, which takes s3:PutObjectTagging.
    if (keepsHistory(this.#props.pipeline))
      this.#grantObjects(
        fn,
        this.#props.dataBucket,
        `${DATA_PREFIXES.archive.prefix}${name}/`,
        mode === 'write' ? [...actions, 's3:PutObjectTagging'] : actions,
      );
  }

  /** Lets `fn` read the webhook signing secret, when the pipeline takes webhooks. */
  grantWebhookSecret(fn: AccessGrantee): void {
    const webhook = this.#props.pipeline.triggers.webhook;
    if (webhook) this.#grantSecrets(fn, [webhook.secret]);
  }

  /** Lets `fn` read the URL secrets of the pipeline's chat webhooks (`alerts.notify.webhooks`). */
  grantAlertWebhookSecrets(fn: AccessGrantee): void {
    this.#grantSecrets(
      fn,
      this.#props.pipeline.alerts.notify.webhooks.map((w) => w.secret),
    );
  }

  #grantSecrets(fn: AccessGrantee, names: readonly string[]): void {
    for (const name of names) {
      let secret = this.#secrets.get(name);
      if (!secret) {
        secret = secretsmanager.Secret.fromSecretNameV2(this, `Secret${this.#secrets.size}`, name);
        this.#secrets.set(name, secret);
      }
      secret.grantRead(fn);
    }
  }

  #grantObjects(fn: AccessGrantee, bucket: s3.IBucket, prefix: string, actions: readonly string[]): void {
    // HeadBucket and listing a prefix both need ListBucket on the bucket itself.
    grantOn(fn, ['s3:ListBucket'], [bucket.bucketArn]);
    const objects = bucket.arnForObjects(`${prefix}*`);
    grantOn(fn, actions, [objects]);
    acknowledgeWildcardResource(fn.executionRole, objects, OBJECTS_REASON);
  }

  #bucket(name: string | undefined): s3.IBucket {
    if (name === undefined) return this.#props.dataBucket;
    return this.#import(`Bucket-${name}`, () =>
      s3.Bucket.fromBucketName(this, `Bucket${this.#imported.size}`, name),
    );
  }

  #table(id: string, name: string): dynamodb.ITable {
    return this.#import(id, () => Table.fromTableName(this, id, name));
  }

  #import<T extends Construct>(key: string, create: () => T): T {
    let found = this.#imported.get(key);
    if (!found) {
      found = create();
      this.#imported.set(key, found);
    }
    return found as T;
  }
}

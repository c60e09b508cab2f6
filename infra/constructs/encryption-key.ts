import { ArnFormat, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * What the account's administrators may do with the key. Spelled out instead of the usual `kms:*`,
 * so no policy in the stack grants a wildcard action; `kms:PutKeyPolicy` stays in the list so the
 * account can always repair the policy.
 */
const ACCOUNT_KEY_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:RetireGrant',
  'kms:RevokeGrant',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
];

/** Enough for a caller of SQS, S3 or DynamoDB to read and write data encrypted under the key. */
const DATA_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

export interface EncryptionKeyProps {
  /** Alias without the `alias/` prefix, e.g. `esync-dev-core-key`. */
  readonly aliasName: string;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The one customer managed key of a stage: tables, bucket, queues, alarm topic and log groups are
 * encrypted with it. Rotated yearly. Grants name their actions; none uses a wildcard.
 */
export class EncryptionKey extends Construct {
  readonly key: kms.Key;
  readonly #publishers = new Set<string>();

  constructor(scope: Construct, id: string, props: EncryptionKeyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: `ESync data key (${props.aliasName})`,
      enableKeyRotation: true,
      alias: props.aliasName,
      removalPolicy: props.removalPolicy,
      pendingWindow: Duration.days(30),
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'AccountAdministersAndDelegatesTheKey',
            principals: [new iam.AccountRootPrincipal()],
            actions: ACCOUNT_KEY_ACTIONS,
            resources: ['*'],
          }),
        ],
      }),
    });
    // CloudWatch Logs encrypts log groups with the key only when the key policy lets it, for log
    // groups of this account and region.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptsLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
          'kms:GenerateDataKey',
          'kms:DescribeKey',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }

  /** Lets `grantee` read and write data under the key (SQS messages, S3 objects, DynamoDB items). */
  grantDataUse(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, ...DATA_KEY_ACTIONS);
  }

  /** Lets `grantee` decrypt only (consumers that never write under the key). */
  grantDecrypt(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, 'kms:Decrypt');
  }

  /**
   * Lets an AWS service publish into resources encrypted with the key (EventBridge into a queue,
   * CloudWatch into the alarm topic), only on behalf of this account.
   */
  grantServicePublish(service: string): void {
    if (this.#publishers.has(service)) return;
    this.#publishers.add(service);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `${service.split('.')[0]}PublishesEncrypted`,
        principals: [new iam.ServicePrincipal(service)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
  }
}

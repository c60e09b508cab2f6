import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  HISTORY_DAY_TIERS,
  HISTORY_TIER_TAG,
  LONGEST_HISTORY_TIER_DAYS,
} from '../../shared/pipeline/history-tiers.ts';

/** Prefixes of the data bucket and how long their objects live. */
export const DATA_PREFIXES = {
  /** Plans too large for a Step Functions payload; Cleanup deletes them, the rule is a safety net. */
  manifests: { prefix: 'manifests/', expireDays: 7 },
  /**
   * The partitions of each plan not yet verified, for a stopped run's successor to resume;
   * Cleanup deletes a verified plan's. Kept as long as its progress items (shared/state/progress.ts).
   */
  plans: { prefix: 'plans/', expireDays: 30 },
  /**
   * Record batches too large for an SQS message. Kept one day longer than SQS keeps a message
   * (14 days at most), so no queued message ever points at an expired payload.
   */
  claimCheck: { prefix: 'claim-check/', expireDays: 15 },
  /** Invalid records with their reasons, for a person to inspect. */
  quarantine: { prefix: 'quarantine/', expireDays: 90, infrequentAccessDays: 30 },
  /** Run and verify reports (JSON and Markdown). */
  reports: { prefix: 'reports/', expireDays: 400, infrequentAccessDays: 30 },
  /**
   * Change archive of every target (what `esync history` reads): `archive/<pipeline>/...`, kept
   * by the tier its tag names (`retention.historyDays` rounded up, history-tiers.ts); an object
   * without that tag goes after the longest tier.
   */
  archive: { prefix: 'archive/' },
} as const;

export interface StorageProps {
  readonly stateTableName: string;
  readonly idempotencyTableName: string;
  readonly encryptionKey: kms.IKey;
  readonly removalPolicy: RemovalPolicy;
  /** DynamoDB deletion protection on both tables. */
  readonly deletionProtection: boolean;
}

/**
 * The state every pipeline shares: the state table (checkpoints, runs, ledger, conflicts, audit;
 * layout in shared/state/keys.ts), the Powertools idempotency table and the data bucket. All are
 * encrypted with the stage's key and billed on demand.
 */
export class Storage extends Construct {
  readonly stateTable: dynamodb.Table;
  readonly idempotencyTable: dynamodb.Table;
  readonly dataBucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const tableDefaults = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy,
      deletionProtection: props.deletionProtection,
    } as const;

    this.stateTable = new dynamodb.Table(this, 'StateTable', {
      ...tableDefaults,
      tableName: props.stateTableName,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
    });
    this.stateTable.addGlobalSecondaryIndex({
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
    });

    // Key and TTL attribute names are the ones Powertools' DynamoDBPersistenceLayer uses by default.
    this.idempotencyTable = new dynamodb.Table(this, 'IdempotencyTable', {
      ...tableDefaults,
      tableName: props.idempotencyTableName,
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiration',
    });

    // Server access logs cannot be delivered to a KMS-encrypted bucket, hence S3-managed keys here.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the destination of the data bucket’s server access logs; logging it into itself would loop.',
    });

    this.dataBucket = new s3.Bucket(this, 'DataBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      removalPolicy: props.removalPolicy,
      lifecycleRules: dataLifecycleRules(),
    });
  }
}

/**
 * The data bucket's lifecycle: one rule per prefix, and for the change archive one rule per
 * history tier matched by the objects' tag, none per pipeline, so the rules (and the core stack)
 * stay the same whatever pipelines the stage has. Where rules overlap (a tagged archive object
 * also matches the untagged catch-all), S3 applies the shorter expiration.
 */
function dataLifecycleRules(): s3.LifecycleRule[] {
  const { manifests, plans, claimCheck, quarantine, reports, archive } = DATA_PREFIXES;
  const ia = (days: number) => [
    { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(days) },
  ];
  return [
    { id: 'manifests', prefix: manifests.prefix, expiration: Duration.days(manifests.expireDays) },
    { id: 'plans', prefix: plans.prefix, expiration: Duration.days(plans.expireDays) },
    { id: 'claim-check', prefix: claimCheck.prefix, expiration: Duration.days(claimCheck.expireDays) },
    {
      id: 'quarantine',
      prefix: quarantine.prefix,
      expiration: Duration.days(quarantine.expireDays),
      transitions: ia(quarantine.infrequentAccessDays),
    },
    {
      id: 'reports',
      prefix: reports.prefix,
      expiration: Duration.days(reports.expireDays),
      transitions: ia(reports.infrequentAccessDays),
    },
    ...HISTORY_DAY_TIERS.map((days) => ({
      id: `archive-${days}d`,
      prefix: archive.prefix,
      tagFilters: { [HISTORY_TIER_TAG]: String(days) },
      expiration: Duration.days(days),
    })),
    // Archive objects written before the tiers, without the tag: the longest tier.
    {
      id: 'archive-untagged',
      prefix: archive.prefix,
      expiration: Duration.days(LONGEST_HISTORY_TIER_DAYS),
    },
    // Versioning keeps overwritten and expired objects as noncurrent versions; they go after a week.
    {
      id: 'noncurrent-versions',
      noncurrentVersionExpiration: Duration.days(7),
      abortIncompleteMultipartUploadAfter: Duration.days(2),
    },
    { id: 'expired-delete-markers', expiredObjectDeleteMarker: true },
  ];
}

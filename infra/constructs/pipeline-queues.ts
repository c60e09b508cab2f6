import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { loadDlqName, loadQueueName } from '../../shared/naming.ts';
import { SQS_MAX_MESSAGE_BYTES } from '../../shared/pipeline/load-batching.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import type { EncryptionKey } from './encryption-key.ts';

/** The longest SQS keeps a message; the claim-check lifecycle rule outlives it by a day. */
export const QUEUE_RETENTION = Duration.days(14);

/**
 * AWS's guidance for an SQS event source: at least six times the function timeout (plus the
 * batching window), so a batch retried inside the function is not redelivered meanwhile.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface PipelineQueuesProps {
  readonly stage: string;
  readonly pipeline: Pipeline;
  /** Timeout of the function consuming the load queue. */
  readonly loadTimeout: Duration;
  readonly encryptionKey: EncryptionKey;
  /** Whether dead letters outlive the stack (retained in staging and prod). */
  readonly deadLetterRemovalPolicy: RemovalPolicy;
}

/**
 * A pipeline's load queue and its dead-letter queue. A message that fails `dlq.maxReceiveCount`
 * receives moves to the DLQ (the Load function counts it as dead-lettered on its last receive).
 */
export class PipelineQueues extends Construct {
  readonly loadQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: PipelineQueuesProps) {
    super(scope, id);
    const { pipeline, stage } = props;
    const timeoutSeconds = props.loadTimeout.toSeconds();
    const visibility = VISIBILITY_TIMEOUT_FACTOR * timeoutSeconds + pipeline.load.batchingWindowSeconds;
    if (visibility > 43_200)
      throw new Error(
        `pipeline ${pipeline.name}: a load timeout of ${timeoutSeconds} s needs a visibility timeout of ${visibility} s, above the SQS maximum of 43200 s`,
      );
    const common = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey.key,
      enforceSSL: true,
      retentionPeriod: QUEUE_RETENTION,
      // Named, as a queue made before SQS took 1 MiB keeps 256 KiB: Extract packs up to
      // `batch.maxBytes` (1 MiB at most), and the DLQ must take whatever the load queue moves to it.
      maxMessageSizeBytes: SQS_MAX_MESSAGE_BYTES,
    } as const;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...common,
      queueName: loadDlqName(stage, pipeline.name),
      removalPolicy: props.deadLetterRemovalPolicy,
    });
    this.loadQueue = new sqs.Queue(this, 'LoadQueue', {
      ...common,
      queueName: loadQueueName(stage, pipeline.name),
      visibilityTimeout: Duration.seconds(visibility),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: pipeline.dlq.maxReceiveCount },
    });
  }

  /**
   * Lets the role `roleArn` send to the load queue through the queue's policy: the grant comes
   * and goes with this pipeline's stack, and the sender's own role names no queue.
   */
  admitSender(roleArn: string): void {
    this.loadQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ArnPrincipal(roleArn)],
        actions: ['sqs:SendMessage'],
        resources: [this.loadQueue.queueArn],
      }),
    );
  }
}

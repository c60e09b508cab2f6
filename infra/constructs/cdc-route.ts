import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EncryptionKey } from './encryption-key.ts';
import { QUEUE_RETENTION } from './pipeline-queues.ts';

export interface CdcRouteProps {
  /** `esync-<stage>-<pipeline>-cdc-rule`. */
  readonly ruleName: string;
  /** `esync-<stage>-<pipeline>-cdc-dlq`. */
  readonly deadLetterQueueName: string;
  readonly pipelineName: string;
  readonly bus: events.IEventBus;
  /** The pipeline's `triggers.cdc.pattern`, in EventBridge's own JSON form. */
  readonly eventPattern: Readonly<Record<string, unknown>>;
  readonly loadQueue: sqs.IQueue;
  readonly encryptionKey: EncryptionKey;
}

/**
 * How EventBridge retries a rule's target before it gives the event to the target's DLQ: for a
 * day (185 attempts is EventBridge's most).
 */
export const RULE_TARGET_RETRY = { attempts: 185, maxEventAge: Duration.hours(24) } as const;

/**
 * The dead-letter queue of a rule's target: encrypted with the stage key, which EventBridge may
 * use to write into it, TLS only.
 */
export function ruleTargetDeadLetterQueue(
  scope: Construct,
  queueName: string,
  key: EncryptionKey,
): sqs.Queue {
  const queue = new sqs.Queue(scope, 'DeadLetterQueue', {
    queueName,
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key.key,
    enforceSSL: true,
    retentionPeriod: QUEUE_RETENTION,
  });
  key.grantServicePublish('events.amazonaws.com');
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is the dead-letter queue of the EventBridge rule target (DeadLetterConfig), not of another queue.',
  });
  return queue;
}

/**
 * Routes a pipeline's change events from the ESync bus to its load queue. An event EventBridge
 * cannot deliver (after its retries) lands in the route's own DLQ instead of being dropped.
 *
 * The rule is the L1 resource: the pattern arrives in EventBridge's JSON form (`detail-type`,
 * `$or`, any field), which the L2 `EventPattern` type cannot express in full, and the queue
 * grants below name their actions (the L2 SQS target grants `kms:GenerateDataKey*`).
 */
export class CdcRoute extends Construct {
  readonly rule: events.CfnRule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: CdcRouteProps) {
    super(scope, id);
    this.deadLetterQueue = ruleTargetDeadLetterQueue(this, props.deadLetterQueueName, props.encryptionKey);

    this.rule = new events.CfnRule(this, 'Rule', {
      name: props.ruleName,
      description: `Change events of pipeline ${props.pipelineName} to its load queue`,
      eventBusName: props.bus.eventBusName,
      eventPattern: props.eventPattern,
      state: 'ENABLED',
      targets: [
        {
          id: 'load-queue',
          arn: props.loadQueue.queueArn,
          deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
          retryPolicy: {
            maximumRetryAttempts: RULE_TARGET_RETRY.attempts,
            maximumEventAgeInSeconds: RULE_TARGET_RETRY.maxEventAge.toSeconds(),
          },
        },
      ],
    });

    const fromThisRule = new iam.ServicePrincipal('events.amazonaws.com').withConditions({
      ArnEquals: { 'aws:SourceArn': this.rule.attrArn },
    });
    props.loadQueue.grant(fromThisRule, 'sqs:SendMessage');
    this.deadLetterQueue.grant(fromThisRule, 'sqs:SendMessage');
  }
}

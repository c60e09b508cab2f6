import { Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CORE, resourceName } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { assumeAccessRoles } from './access-roles.ts';
import {
  type CoreResources,
  grantPipelineParameters,
  pipelinesApart,
  stageFunctionProps,
} from './core-functions.ts';
import { EsyncFunction } from './esync-function.ts';
import { grantOn } from './function-access.ts';
import { QUEUE_RETENTION } from './pipeline-queues.ts';

/** Lambda's retries of an alarm the formatter could not post (a chat service answering 5xx or too late). */
export const ALERT_RETRY_ATTEMPTS = 2;

/** A pipeline and the alarms that notify its chat webhooks. */
export interface AlertingPipeline {
  readonly pipeline: Pipeline;
  readonly alarms: readonly cloudwatch.Alarm[];
}

export interface AlertWebhooksProps {
  readonly core: CoreResources;
  /** The stage's alarm topic, which every pipeline alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  /** Every pipeline of the stage; those with `alerts.notify.webhooks` are subscribed. */
  readonly pipelines: readonly AlertingPipeline[];
}

/**
 * Chat alerts: the formatter function `esync-<stage>-core-alert-webhook` posts each alarm of the
 * stage's alarm topic to its pipeline's webhooks and the stage's, with the newest failed run's
 * error for a runs-failed alarm. It reads their URL secrets (by name: the URLs never enter the
 * template) and queries the state table's runs index, nothing else.
 *
 * In one stack it is subscribed with a filter that passes only the alarms of pipelines that name
 * webhooks (no filter when the stage names webhooks of its own, `core.alerts`), and granted their
 * secrets. With the pipelines in stacks of their own it is always there and subscribed without a
 * filter (an alarm of a pipeline without webhooks is posted nowhere), and reads a pipeline's URL
 * secrets through that pipeline's access role `esync-<stage>-<pipeline>-alerts`, in the
 * pipeline's stack (SyncPipeline): the core stack holds nothing of any pipeline's alerts.
 *
 * An alarm is never dropped silently: a post that fails fails the invocation, which Lambda retries
 * {@link ALERT_RETRY_ATTEMPTS} times; then the invocation record (the alarm and the error) goes to
 * the DLQ `esync-<stage>-core-alert-dlq`, where also goes a message SNS could not deliver to the
 * function at all.
 */
export class AlertWebhooks extends Construct {
  readonly function: EsyncFunction;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AlertWebhooksProps) {
    super(scope, id);
    const { core } = props;
    const apart = pipelinesApart(core);
    const alerting = props.pipelines.filter((p) => p.pipeline.alerts.notify.webhooks.length > 0);
    const stageSecrets = core.alerts.notify.webhooks.map((w) => w.secret);
    if (!apart && alerting.length === 0 && stageSecrets.length === 0)
      throw new Error('AlertWebhooks needs webhooks in the stage’s alerts.notify or in a pipeline’s');
    this.function = this.formatter(core, stageSecrets);
    if (apart) assumeAccessRoles(this.function, core.stage, 'alert-webhook');
    const pipelineSecrets = apart
      ? []
      : alerting.flatMap((p) => p.pipeline.alerts.notify.webhooks.map((w) => w.secret));
    for (const [i, name] of [...new Set([...stageSecrets, ...pipelineSecrets])].entries())
      secretsmanager.Secret.fromSecretNameV2(this, `UrlSecret${i}`, name).grantRead(this.function);
    this.deadLetterQueue = this.addDeadLetterQueue(core);
    const alarmNames =
      apart || stageSecrets.length > 0
        ? undefined
        : alerting.flatMap((p) =>
            p.alarms.map((a) => (a.node.defaultChild as cloudwatch.CfnAlarm).alarmName ?? ''),
          );
    core.key.grantServicePublish('sns.amazonaws.com');
    props.alarmTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.function, {
        deadLetterQueue: this.deadLetterQueue,
        ...(alarmNames && {
          filterPolicyWithMessageBody: {
            AlarmName: sns.FilterOrPolicy.filter(
              sns.SubscriptionFilter.stringFilter({ allowlist: alarmNames }),
            ),
          },
        }),
      }),
    );
  }

  /** The formatter function, with its one index query and the stage's key. */
  private formatter(core: CoreResources, stageSecrets: readonly string[]): EsyncFunction {
    const shared = stageFunctionProps(core);
    const fn = new EsyncFunction(this, 'Formatter', {
      handlerName: 'alert-webhook',
      functionName: resourceName(core.stage, CORE, 'alert-webhook'),
      description: 'AlertWebhook: posts pipeline alarms to their chat webhooks',
      timeout: Duration.seconds(30),
      memorySize: 256,
      ...shared,
      environment: { ...shared.environment, ESYNC_STAGE_ALERT_WEBHOOKS: stageSecrets.join(',') },
    });
    // The newest failed run's error, which CloudWatch's alarm message cannot hold: one index query.
    grantOn(fn, ['dynamodb:Query'], [`${core.storage.stateTable.tableArn}/index/gsi1`]);
    core.key.grantDataUse(fn);
    if (core.pipelineCatalog === undefined) grantPipelineParameters(fn, core.stage);
    return fn;
  }

  /**
   * Where alarms that could not be posted end: the formatter's on-failure destination and its
   * SNS subscription's DLQ.
   */
  private addDeadLetterQueue(core: CoreResources): sqs.Queue {
    const queue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: resourceName(core.stage, CORE, 'alert-dlq'),
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: core.key.key,
      enforceSSL: true,
      retentionPeriod: QUEUE_RETENTION,
    });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is where alarms that could not be posted end: the formatter’s on-failure destination and its SNS subscription’s DLQ, not the source queue of another DLQ.',
    });
    // The L2 SqsDestination would grant kms:GenerateDataKey* and kms:ReEncrypt*: the grants
    // below name their actions (the stage key's data use, in formatter()).
    const queueArn = queue.queueArn;
    this.function.configureAsyncInvoke({
      retryAttempts: ALERT_RETRY_ATTEMPTS,
      onFailure: { bind: () => ({ destination: queueArn }) },
    });
    grantOn(this.function, ['sqs:SendMessage'], [queueArn]);
    return queue;
  }
}

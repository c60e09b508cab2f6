import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ALARM_ROLES } from '../../shared/alerts/alarm-message.ts';
import { resourceName } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';

/**
 * The custom metrics the alarms read: Embedded Metric Format in namespace `ESync`, emitted by the
 * Load function through Powertools Metrics, whose dimensions are `service` (its service name,
 * `esync-load`) and `pipeline`. An alarm matches only that exact dimension set.
 *
 * - `RecordsProcessed`: records of the messages handled (the denominator of both rates);
 * - `RecordsFailed`, `RecordsQuarantined`, `RecordsDeadLettered`: records that did not reach the
 *   target; their sum over `RecordsProcessed` is the failure rate;
 * - `Conflicts`: records in conflict; over `RecordsProcessed`, the conflict rate;
 * - `RecordsLoaded`, `RecordsSkipped`: throughput, on the dashboard.
 */
export const ESYNC_METRICS = {
  namespace: 'ESync',
  loadService: 'esync-load',
  processed: 'RecordsProcessed',
  loaded: 'RecordsLoaded',
  skipped: 'RecordsSkipped',
  failed: 'RecordsFailed',
  quarantined: 'RecordsQuarantined',
  deadLettered: 'RecordsDeadLettered',
  conflicts: 'Conflicts',
} as const;

/** Rates are judged over this window: long enough to hold a few batches, short enough to page soon. */
const RATE_PERIOD = Duration.minutes(5);

export interface PipelineObservabilityProps {
  readonly stage: string;
  readonly pipeline: Pipeline;
  readonly loadQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The CDC route's DLQ, when the pipeline takes CDC events. @default - none: no CDC alarm or graph */
  readonly cdcDeadLetterQueue?: sqs.IQueue;
  readonly loadFunction: lambda.IFunction;
  readonly stateMachine: sfn.IStateMachine;
  readonly alarmTopic: sns.ITopic;
  /** Existing SNS topics (ARNs) the stage's `alerts.notify.snsTopics` name: every alarm notifies them. */
  readonly stageTopics: readonly string[];
}

/** CloudWatch takes at most 5 actions for each state of an alarm. */
const MAX_ALARM_ACTIONS = 5;

/** Unlabelled: an alarm on a labelled metric is rendered as a metric query instead of the metric. */
const queueDepth = (queue: sqs.IQueue) =>
  queue.metricApproximateNumberOfMessagesVisible({
    period: Duration.minutes(1),
    statistic: cloudwatch.Stats.MAXIMUM,
  });

type PipelineMetrics = ReturnType<typeof pipelineMetrics>;

/** The metrics and rates a pipeline's alarms and dashboard read. */
function pipelineMetrics(props: PipelineObservabilityProps) {
  const metric = (metricName: string, label: string) =>
    new cloudwatch.Metric({
      namespace: ESYNC_METRICS.namespace,
      metricName,
      dimensionsMap: { service: ESYNC_METRICS.loadService, pipeline: props.pipeline.name },
      statistic: cloudwatch.Stats.SUM,
      period: RATE_PERIOD,
      label,
    });
  const counts = {
    processed: metric(ESYNC_METRICS.processed, 'processed'),
    loaded: metric(ESYNC_METRICS.loaded, 'loaded'),
    skipped: metric(ESYNC_METRICS.skipped, 'skipped (stale or duplicate)'),
    failed: metric(ESYNC_METRICS.failed, 'failed'),
    quarantined: metric(ESYNC_METRICS.quarantined, 'quarantined'),
    deadLettered: metric(ESYNC_METRICS.deadLettered, 'dead-lettered'),
    conflicts: metric(ESYNC_METRICS.conflicts, 'conflicts'),
  };
  const { processed, failed, quarantined, deadLettered, conflicts } = counts;
  const sm = props.stateMachine;
  return {
    ...counts,
    // No record processed is a rate of 0, not missing data.
    failureRate: new cloudwatch.MathExpression({
      label: 'failure rate',
      expression:
        'IF(processed > 0, (FILL(failed, 0) + FILL(quarantined, 0) + FILL(deadLettered, 0)) / processed, 0)',
      usingMetrics: { processed, failed, quarantined, deadLettered },
      period: RATE_PERIOD,
    }),
    conflictRate: new cloudwatch.MathExpression({
      label: 'conflict rate',
      expression: 'IF(processed > 0, FILL(conflicts, 0) / processed, 0)',
      usingMetrics: { processed, conflicts },
      period: RATE_PERIOD,
    }),
    runsFailed: new cloudwatch.MathExpression({
      label: 'failed or timed-out runs',
      expression: 'FILL(failedRuns, 0) + FILL(timedOutRuns, 0)',
      usingMetrics: {
        failedRuns: sm.metricFailed({ period: RATE_PERIOD }),
        timedOutRuns: sm.metricTimedOut({ period: RATE_PERIOD }),
      },
      period: RATE_PERIOD,
    }),
    oldestMessageAge: props.loadQueue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
    dlqDepth: queueDepth(props.deadLetterQueue),
    cdcDlqDepth: props.cdcDeadLetterQueue && queueDepth(props.cdcDeadLetterQueue),
  };
}

/**
 * A pipeline's alarms (dead letters, failure rate, conflict rate, age of the oldest queued
 * message, failed runs), all notifying the alarm topic when they fire and when they recover, and
 * its dashboard: throughput, latency, errors, conflicts, queue and DLQ depth.
 */
export class PipelineObservability extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  readonly #notify: actions.SnsAction[];

  constructor(scope: Construct, id: string, props: PipelineObservabilityProps) {
    super(scope, id);
    this.#notify = this.notifyActions(props);
    const metrics = pipelineMetrics(props);
    this.addAlarms(props, metrics);
    this.subscribeEmails(props.alarmTopic, props.pipeline.alerts.notify.emails);
    this.dashboard = this.addDashboard(props, metrics);
  }

  /**
   * The stage's alarm topic, and the stage's and the pipeline's own topics, which get its alarms
   * straight from CloudWatch.
   */
  private notifyActions({
    pipeline,
    stageTopics,
    alarmTopic,
  }: PipelineObservabilityProps): actions.SnsAction[] {
    const topics = [...new Set([...stageTopics, ...pipeline.alerts.notify.snsTopics])];
    if (topics.length + 1 > MAX_ALARM_ACTIONS)
      throw new Error(
        `pipeline ${pipeline.name}: its alarms would notify ${topics.length} SNS topics (the stage's alerts.notify.snsTopics and its own) beside the alarm topic; CloudWatch takes at most ${MAX_ALARM_ACTIONS - 1}: ${topics.join(', ')}`,
      );
    return [
      new actions.SnsAction(alarmTopic),
      ...topics.map((arn, i) => new actions.SnsAction(sns.Topic.fromTopicArn(this, `NotifyTopic${i}`, arn))),
    ];
  }

  private addAlarms({ pipeline, stage }: PipelineObservabilityProps, m: PipelineMetrics): void {
    const name = (role: string) => resourceName(stage, pipeline.name, role);
    const once = { threshold: 0, evaluationPeriods: 1 };
    this.alarm('DeadLetters', {
      alarmName: name(ALARM_ROLES.deadLetters),
      alarmDescription: `Messages of ${pipeline.name} are in its load DLQ: inspect and redrive with esync dlq.`,
      metric: m.dlqDepth,
      ...once,
    });
    if (m.cdcDlqDepth)
      this.alarm('CdcDeadLetters', {
        alarmName: name(ALARM_ROLES.cdcDeadLetters),
        alarmDescription: `EventBridge could not deliver change events of ${pipeline.name} to its load queue.`,
        metric: m.cdcDlqDepth,
        ...once,
      });
    this.alarm('FailureRate', {
      alarmName: name(ALARM_ROLES.failureRate),
      alarmDescription: `More than ${pipeline.alerts.failureRate * 100}% of the records of ${pipeline.name} failed, were quarantined or dead-lettered.`,
      metric: m.failureRate,
      threshold: pipeline.alerts.failureRate,
      evaluationPeriods: 1,
    });
    this.alarm('ConflictRate', {
      alarmName: name(ALARM_ROLES.conflictRate),
      alarmDescription: `More than ${pipeline.alerts.conflictRate * 100}% of the records of ${pipeline.name} were in conflict.`,
      metric: m.conflictRate,
      threshold: pipeline.alerts.conflictRate,
      evaluationPeriods: 1,
    });
    this.alarm('Latency', {
      alarmName: name(ALARM_ROLES.latency),
      alarmDescription: `The oldest load message of ${pipeline.name} waited longer than ${pipeline.alerts.latencyMs} ms for 3 minutes.`,
      metric: m.oldestMessageAge,
      threshold: pipeline.alerts.latencyMs / 1000,
      evaluationPeriods: 3,
    });
    this.alarm('RunsFailed', {
      alarmName: name(ALARM_ROLES.runsFailed),
      alarmDescription: `A run of ${pipeline.name} failed or timed out; see esync runs show.`,
      metric: m.runsFailed,
      ...once,
    });
  }

  /** Throughput, latency, errors, conflicts, queue and DLQ depth, runs. */
  private addDashboard(props: PipelineObservabilityProps, m: PipelineMetrics): cloudwatch.Dashboard {
    const { loadFunction: fn, stateMachine: sm } = props;
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    return new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: resourceName(props.stage, props.pipeline.name, 'dashboard'),
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          graph('Throughput (records)', [m.processed, m.loaded, m.skipped]),
          graph('Latency', [
            m.oldestMessageAge.with({ label: 'oldest queued message (s)' }),
            fn.metricDuration({ statistic: cloudwatch.Stats.p(95), label: 'Load p95 (ms)' }),
          ]),
          graph('Errors', [
            m.failed,
            m.quarantined,
            m.deadLettered,
            fn.metricErrors({ label: 'Load errors' }),
            fn.metricThrottles({ label: 'Load throttles' }),
          ]),
        ],
        [
          graph('Conflicts', [m.conflicts, m.conflictRate]),
          graph('Queue depth', [
            queueDepth(props.loadQueue).with({ label: 'visible' }),
            props.loadQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight' }),
          ]),
          graph('DLQ depth', [
            m.dlqDepth.with({ label: 'dead letters' }),
            ...(m.cdcDlqDepth ? [m.cdcDlqDepth.with({ label: 'undelivered change events' })] : []),
          ]),
        ],
        [
          graph(
            'Runs',
            [
              sm.metricSucceeded({ label: 'succeeded' }),
              sm.metricFailed({ label: 'failed' }),
              sm.metricTimedOut({ label: 'timed out' }),
            ],
            12,
          ),
          graph(
            'Run duration (ms)',
            [sm.metricTime({ statistic: cloudwatch.Stats.p(95), label: 'p95' })],
            12,
          ),
        ],
      ],
    });
  }

  /**
   * Email subscriptions of the stage's alarm topic that pass only this pipeline's alarms (SNS
   * filters the CloudWatch message body on its `AlarmName`, listed exactly: a prefix would let
   * `users` hear `users-sync`).
   */
  private subscribeEmails(topic: sns.ITopic, emails: readonly string[]): void {
    const alarmNames = this.alarms.map((a) => (a.node.defaultChild as cloudwatch.CfnAlarm).alarmName ?? '');
    for (const [i, email] of emails.entries())
      new sns.Subscription(this, `NotifyEmail${i}`, {
        topic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: email,
        filterPolicyWithMessageBody: {
          AlarmName: sns.FilterOrPolicy.filter(
            sns.SubscriptionFilter.stringFilter({ allowlist: alarmNames }),
          ),
        },
      });
  }

  private alarm(
    id: string,
    props: Pick<
      cloudwatch.AlarmProps,
      'alarmName' | 'alarmDescription' | 'metric' | 'threshold' | 'evaluationPeriods'
    >,
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      ...props,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(...this.#notify);
    alarm.addOkAction(...this.#notify);
    this.alarms.push(alarm);
  }
}

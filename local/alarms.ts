import { randomUUID } from 'node:crypto';
import type { AlarmMessage } from '../shared/alerts/alarm-message.ts';
import { ALARM_ROLES } from '../shared/alerts/alarm-message.ts';
import { accounted, type RunCounts } from '../shared/domain/run-counts.ts';
import { loadDlqName, resourceName, stateMachineName } from '../shared/naming.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';
import type { ExecutionStatusChange } from './stepfunctions-server.ts';
import type { AlarmSpec, TopicFunctionSubscriptionSpec } from './template.ts';

/** The execution ends that CloudWatch's runs-failed alarm counts (ExecutionsFailed + ExecutionsTimedOut). */
const FAILED_RUN_STATUSES = new Set(['FAILED', 'TIMED_OUT']);
/** The execution ends after which a run's counts are final: the rates are judged from them. */
const ENDED_RUN_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT']);
/** A failure cause is cut to this in the alarm's reason, as CloudWatch keeps reasons short. */
const MAX_CAUSE_LENGTH = 400;

/** What the local stack holds that the alarms are judged from, instead of CloudWatch metrics. */
export interface LocalAlarmReadings {
  /** Messages visible in a queue of the stack, by name (what the deployed alarm reads). */
  queueDepth(queueName: string): Promise<number>;
  /** A run's counts, or undefined when its record is not found. */
  runCounts(runId: string): Promise<RunCounts | undefined>;
}

export interface LocalAlarmsOptions {
  readonly stage: string;
  readonly pipelines: readonly Pick<Pipeline, 'name' | 'alerts'>[];
  readonly alarms: readonly AlarmSpec[];
  readonly subscriptions: readonly TopicFunctionSubscriptionSpec[];
  readonly readings: LocalAlarmReadings;
  /** Delivers an SNS event to a subscribed function, as SNS would (with the topic as the caller). */
  readonly deliver: (subscription: TopicFunctionSubscriptionSpec, event: unknown) => Promise<unknown>;
  /** Sends the record of an invocation that failed every attempt to the function's on-failure queue. */
  readonly keepFailed: (queueName: string, record: FailedInvocationRecord) => Promise<void>;
  /** Pause before each retry (Lambda waits a minute, then two). @default 500 */
  readonly retryDelayMs?: number;
  readonly log: (line: string) => void;
}

/** Lambda's retries of a failed asynchronous invocation when its EventInvokeConfig sets none. */
const DEFAULT_RETRY_ATTEMPTS = 2;

/** What Lambda sends to an on-failure destination: the event, the error and how often it was tried. */
export interface FailedInvocationRecord {
  readonly timestamp: string;
  readonly requestContext: {
    readonly functionArn: string;
    readonly condition: 'RetriesExhausted';
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responsePayload: { readonly errorType: string; readonly errorMessage: string };
}

const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;

/**
 * The pipeline alarms the local stack judges itself, without CloudWatch, from its own state:
 *
 * - `runs-failed`: an execution that fails or times out fires it, the next success recovers it;
 * - `failure-rate` and `conflict-rate`: judged when a run ends, from its counts (records
 *   quarantined or dead-lettered, and conflicts, over the records with an outcome) against the
 *   pipeline's `alerts.failureRate` and `alerts.conflictRate`;
 * - `dlq-depth` and `cdc-dlq-depth`: judged each time {@link checkQueues} runs, from the depth of
 *   the pipeline's load DLQ and CDC DLQ.
 *
 * `latency` is not judged: it needs the age of the oldest queued message over 3 minutes, which the
 * local queues do not report. A change of state is printed and sent, as CloudWatch's message, to
 * the functions subscribed to the topics the alarm notifies (the chat formatter).
 */
export class LocalAlarms {
  readonly #options: LocalAlarmsOptions;
  readonly #firing = new Set<string>();
  readonly #deliveries = new Set<Promise<void>>();

  constructor(options: LocalAlarmsOptions) {
    this.#options = options;
  }

  /** Judges an execution's status change; a change of alarm state is delivered in the background. */
  onExecutionStatus(detail: ExecutionStatusChange): void {
    const { stage, pipelines } = this.#options;
    const pipeline = pipelines.find((p) =>
      detail.stateMachineArn.endsWith(`:${stateMachineName(stage, p.name)}`),
    );
    if (!pipeline) return;
    if (FAILED_RUN_STATUSES.has(detail.status)) {
      const cause = [detail.error, detail.cause].filter(Boolean).join(': ').slice(0, MAX_CAUSE_LENGTH);
      this.#judge(
        pipeline.name,
        ALARM_ROLES.runsFailed,
        true,
        `run ${detail.name} ${detail.status}${cause ? `: ${cause}` : ''}`,
      );
    } else if (detail.status === 'SUCCEEDED') {
      this.#judge(pipeline.name, ALARM_ROLES.runsFailed, false, `run ${detail.name} SUCCEEDED`);
    }
    if (ENDED_RUN_STATUSES.has(detail.status)) this.#track(this.#judgeRates(pipeline, detail.name));
  }

  /** Judges every pipeline's DLQ alarms from the depth of its DLQs. */
  async checkQueues(): Promise<void> {
    const { stage, pipelines, readings } = this.#options;
    const checks = pipelines.flatMap((p) => [
      {
        pipeline: p.name,
        role: ALARM_ROLES.deadLetters,
        queue: loadDlqName(stage, p.name),
        what: 'load DLQ',
      },
      {
        pipeline: p.name,
        role: ALARM_ROLES.cdcDeadLetters,
        queue: resourceName(stage, p.name, 'cdc-dlq'),
        what: 'CDC DLQ',
      },
    ]);
    for (const check of checks) {
      if (!this.#alarm(check.pipeline, check.role)) continue;
      const depth = await readings.queueDepth(check.queue);
      this.#judge(
        check.pipeline,
        check.role,
        depth > 0,
        `${depth} messages in the ${check.what} ${check.queue}`,
      );
    }
  }

  /** Resolves when every delivery under way has ended. */
  async whenDelivered(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.all(this.#deliveries);
  }

  async #judgeRates(pipeline: LocalAlarmsOptions['pipelines'][number], runId: string): Promise<void> {
    const counts = await this.#options.readings.runCounts(runId);
    if (!counts) return;
    const failed = counts.quarantined + counts.deadLettered;
    const processed = accounted(counts);
    if (processed === 0) return;
    const { failureRate, conflictRate } = pipeline.alerts;
    const rate = (n: number, what: string, limit: number) =>
      `run ${runId}: ${n} of ${processed} records ${what} (${percent(n / processed)}; the limit is ${percent(limit)})`;
    this.#judge(
      pipeline.name,
      ALARM_ROLES.failureRate,
      failed / processed > failureRate,
      rate(failed, 'quarantined or dead-lettered', failureRate),
    );
    this.#judge(
      pipeline.name,
      ALARM_ROLES.conflictRate,
      counts.conflicts / processed > conflictRate,
      rate(counts.conflicts, 'in conflict', conflictRate),
    );
  }

  #alarm(pipeline: string, role: string): AlarmSpec | undefined {
    const name = resourceName(this.#options.stage, pipeline, role);
    return this.#options.alarms.find((a) => a.name === name);
  }

  /** Fires an alarm that breaches and is not firing; recovers one that no longer breaches. */
  #judge(pipeline: string, role: string, breaching: boolean, reason: string): void {
    const alarm = this.#alarm(pipeline, role);
    if (!alarm) return;
    if (breaching && !this.#firing.has(alarm.name)) {
      this.#firing.add(alarm.name);
      this.#change(alarm, 'ALARM', reason);
    } else if (!breaching && this.#firing.delete(alarm.name)) {
      this.#change(alarm, 'OK', reason);
    }
  }

  #track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => this.#options.log(`warn: alarms not judged: ${(error as Error).message}`))
      .finally(() => this.#deliveries.delete(tracked));
    this.#deliveries.add(tracked);
  }

  /**
   * Invokes the subscribed function as Lambda runs an asynchronous invocation: retried after a
   * failure, then, when every attempt failed, its record kept in the on-failure queue, so an alarm
   * is never dropped silently.
   */
  async #deliver(
    alarm: AlarmSpec,
    subscription: TopicFunctionSubscriptionSpec,
    event: unknown,
  ): Promise<void> {
    const { log, deliver, keepFailed, retryDelayMs = 500 } = this.#options;
    const attempts = 1 + (subscription.retryAttempts ?? DEFAULT_RETRY_ATTEMPTS);
    let error: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
      try {
        await deliver(subscription, event);
        log(`alarm: ${alarm.name} delivered to ${subscription.functionName}`);
        return;
      } catch (caught) {
        error = caught as Error;
      }
    }
    const where = subscription.deadLetterQueueName;
    log(
      `warn: alarm ${alarm.name} not delivered by ${subscription.functionName} in ${attempts} attempts: ${error?.message}; ${where ? `kept in ${where}` : 'no on-failure queue: dropped'}`,
    );
    if (!where) return;
    await keepFailed(where, {
      timestamp: new Date().toISOString(),
      requestContext: {
        functionArn: subscription.functionName,
        condition: 'RetriesExhausted',
        approximateInvokeCount: attempts,
      },
      requestPayload: event,
      responsePayload: { errorType: error?.name ?? 'Error', errorMessage: error?.message ?? '' },
    });
  }

  #change(alarm: AlarmSpec, state: 'ALARM' | 'OK', reason: string): void {
    const { log, subscriptions } = this.#options;
    log(`alarm: ${alarm.name} ${state === 'ALARM' ? 'would fire' : 'would recover'}: ${reason}`);
    const message: AlarmMessage = {
      AlarmName: alarm.name,
      AlarmDescription: alarm.description ?? null,
      NewStateValue: state,
      NewStateReason: reason,
      StateChangeTime: new Date().toISOString(),
    };
    const targets = subscriptions.filter(
      (s) =>
        alarm.alarmActions.includes(s.topicArn) &&
        (s.alarmNames === undefined || s.alarmNames.includes(alarm.name)),
    );
    for (const subscription of targets) {
      const subject = `${state}: "${alarm.name}"`;
      const event = { Records: [snsRecord(subscription.topicArn, subject, JSON.stringify(message))] };
      this.#track(this.#deliver(alarm, subscription, event));
    }
  }
}

/**
 * The record SNS hands a subscribed function, with the fields AWS sends (Powertools' SnsSchema
 * reads them): the subscription, the message id and time, the unsubscribe URL. No signature: the
 * local stack has no SNS key to sign with, and AWS's own are optional to a function (Lambda is
 * invoked by SNS under IAM, not by a signed request).
 */
export function snsRecord(topicArn: string, subject: string, message: string) {
  const region = topicArn.split(':')[3] ?? 'us-east-1';
  const subscriptionArn = `${topicArn}:${randomUUID()}`;
  return {
    EventSource: 'aws:sns',
    EventVersion: '1.0',
    EventSubscriptionArn: subscriptionArn,
    Sns: {
      Type: 'Notification',
      MessageId: randomUUID(),
      TopicArn: topicArn,
      Subject: subject,
      Message: message,
      Timestamp: new Date().toISOString(),
      UnsubscribeUrl: `https://sns.${region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(subscriptionArn)}`,
      MessageAttributes: {},
    },
  };
}

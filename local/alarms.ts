import type { AlarmMessage } from '../shared/alerts/alarm-message.ts';
import { ALARM_ROLES } from '../shared/alerts/alarm-message.ts';
import { resourceName, stateMachineName } from '../shared/naming.ts';
import type { ExecutionStatusChange } from './stepfunctions-server.ts';
import type { AlarmSpec, TopicFunctionSubscriptionSpec } from './template.ts';

/** The execution ends that CloudWatch's runs-failed alarm counts (ExecutionsFailed + ExecutionsTimedOut). */
const FAILED_RUN_STATUSES = new Set(['FAILED', 'TIMED_OUT']);
/** A failure cause is cut to this in the alarm's reason, as CloudWatch keeps reasons short. */
const MAX_CAUSE_LENGTH = 400;

export interface LocalAlarmsOptions {
  readonly stage: string;
  readonly pipelineNames: readonly string[];
  readonly alarms: readonly AlarmSpec[];
  readonly subscriptions: readonly TopicFunctionSubscriptionSpec[];
  /** Delivers an SNS event to a subscribed function, as SNS would (with the topic as the caller). */
  readonly deliver: (subscription: TopicFunctionSubscriptionSpec, event: unknown) => Promise<unknown>;
  readonly log: (line: string) => void;
}

/**
 * The one alarm the local stack evaluates, without CloudWatch: a pipeline's `runs-failed`, which
 * fires when one of its executions fails or times out and recovers when the next one succeeds.
 * Its state change is printed and sent, as CloudWatch's message, to the functions subscribed to
 * the topics the alarm notifies (the chat formatter), with the execution's error as the reason.
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
    const { stage, pipelineNames } = this.#options;
    const pipeline = pipelineNames.find((p) =>
      detail.stateMachineArn.endsWith(`:${stateMachineName(stage, p)}`),
    );
    if (!pipeline) return;
    const alarm = this.#options.alarms.find(
      (a) => a.name === resourceName(stage, pipeline, ALARM_ROLES.runsFailed),
    );
    if (!alarm) return;
    if (FAILED_RUN_STATUSES.has(detail.status)) {
      this.#firing.add(alarm.name);
      const cause = [detail.error, detail.cause].filter(Boolean).join(': ').slice(0, MAX_CAUSE_LENGTH);
      this.#change(alarm, 'ALARM', `run ${detail.name} ${detail.status}${cause ? `: ${cause}` : ''}`);
    } else if (detail.status === 'SUCCEEDED' && this.#firing.delete(alarm.name)) {
      this.#change(alarm, 'OK', `run ${detail.name} SUCCEEDED`);
    }
  }

  /** Resolves when every delivery under way has ended. */
  async whenDelivered(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.all(this.#deliveries);
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
      const event = {
        Records: [
          {
            EventSource: 'aws:sns',
            EventVersion: '1.0',
            Sns: { Type: 'Notification', TopicArn: subscription.topicArn, Message: JSON.stringify(message) },
          },
        ],
      };
      const delivery = this.#options
        .deliver(subscription, event)
        .then(
          () => log(`alarm: ${alarm.name} delivered to ${subscription.functionName}`),
          (error: unknown) =>
            log(
              `warn: alarm ${alarm.name} not delivered by ${subscription.functionName}: ${(error as Error).message}`,
            ),
        )
        .finally(() => this.#deliveries.delete(delivery));
      this.#deliveries.add(delivery);
    }
  }
}

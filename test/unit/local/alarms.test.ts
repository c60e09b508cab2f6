import { SnsSchema } from '@aws-lambda-powertools/parser/schemas/sns';
import { describe, expect, it } from 'vitest';
import { type FailedInvocationRecord, LocalAlarms } from '../../../local/alarms.ts';
import type { ExecutionStatusChange } from '../../../local/stepfunctions-server.ts';
import { type RunCounts, zeroCounts } from '../../../shared/domain/run-counts.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:esync-dev-core-alarms';
const SM_PREFIX = 'arn:aws:states:us-east-1:000000000000:stateMachine:';

const pipeline = (name: string) =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target: { type: 's3' },
    triggers: { webhook: { signature: 'standard-webhooks', secret: 'esync/test/hook' } },
    alerts: { failureRate: 0.05, conflictRate: 0.1 },
  });

const ROLES = ['runs-failed', 'failure-rate', 'conflict-rate', 'dlq-depth', 'cdc-dlq-depth'];

/** Local state as the alarms read it: queue depths by name, run counts by run id. */
interface State {
  readonly depths: Map<string, number>;
  readonly counts: Map<string, RunCounts>;
  /** How many deliveries still fail before they succeed. */
  failures: number;
}

function setup() {
  const lines: string[] = [];
  const delivered: Array<{ functionName: string; message: Record<string, unknown> }> = [];
  const events: unknown[] = [];
  const state: State = { depths: new Map(), counts: new Map(), failures: 0 };
  const kept: Array<{ queueName: string; record: FailedInvocationRecord }> = [];
  const alarms = new LocalAlarms({
    stage: 'dev',
    pipelines: [pipeline('users'), pipeline('users-sync')],
    alarms: [
      { name: 'esync-dev-users-sync-runs-failed', description: 'A run failed.', alarmActions: [TOPIC] },
      { name: 'esync-dev-users-runs-failed', alarmActions: [TOPIC] },
      ...ROLES.slice(1).map((role) => ({ name: `esync-dev-users-sync-${role}`, alarmActions: [TOPIC] })),
    ],
    readings: {
      queueDepth: async (name) => state.depths.get(name) ?? 0,
      runCounts: async (runId) => state.counts.get(runId),
    },
    subscriptions: [
      {
        topicArn: TOPIC,
        functionName: 'esync-dev-core-alert-webhook',
        alarmNames: ROLES.map((role) => `esync-dev-users-sync-${role}`),
        retryAttempts: 2,
        deadLetterQueueName: 'esync-dev-core-alert-dlq',
      },
    ],
    retryDelayMs: 0,
    keepFailed: async (queueName, record) => {
      kept.push({ queueName, record });
    },
    deliver: async (subscription, event) => {
      if (state.failures > 0) {
        state.failures--;
        throw new Error('the webhook of secret "esync/test/chat" answered HTTP 503');
      }
      events.push(event);
      const record = (event as { Records: Array<{ Sns: { Message: string } }> }).Records[0];
      delivered.push({
        functionName: subscription.functionName,
        message: JSON.parse(record?.Sns.Message ?? '{}'),
      });
    },
    log: (line) => lines.push(line),
  });
  return { alarms, lines, delivered, events, state, kept };
}

const end = (
  pipeline: string,
  status: ExecutionStatusChange['status'],
  error: string | null = null,
  runId = 'run-1',
) =>
  ({
    executionArn: `${SM_PREFIX}esync-dev-${pipeline}-sm:${runId}`,
    stateMachineArn: `${SM_PREFIX}esync-dev-${pipeline}-sm`,
    name: runId,
    status,
    startDate: 0,
    stopDate: 1,
    input: '{}',
    output: null,
    error,
    cause: error && 'the cause',
  }) satisfies ExecutionStatusChange;

describe('LocalAlarms', () => {
  it('fires runs-failed on a failed run: printed, and sent as CloudWatch’s message to the subscribed function', async () => {
    const { alarms, lines, delivered } = setup();

    alarms.onExecutionStatus(end('users-sync', 'FAILED', 'EsyncRunFailed'));
    await alarms.whenDelivered();

    expect(lines[0]).toBe(
      'alarm: esync-dev-users-sync-runs-failed would fire: run run-1 FAILED: EsyncRunFailed: the cause',
    );
    expect(delivered).toEqual([
      {
        functionName: 'esync-dev-core-alert-webhook',
        message: expect.objectContaining({
          AlarmName: 'esync-dev-users-sync-runs-failed',
          AlarmDescription: 'A run failed.',
          NewStateValue: 'ALARM',
        }),
      },
    ]);
  });

  it('hands the function an SNS event with the fields AWS sends, which Powertools’ SnsSchema reads', async () => {
    const { alarms, events } = setup();

    alarms.onExecutionStatus(end('users-sync', 'FAILED', 'EsyncRunFailed'));
    await alarms.whenDelivered();

    const parsed = SnsSchema.parse(events[0]);
    expect(parsed.Records[0]).toMatchObject({
      EventSource: 'aws:sns',
      EventSubscriptionArn: expect.stringMatching(new RegExp(`^${TOPIC}:[0-9a-f-]{36}$`)),
      Sns: {
        Type: 'Notification',
        TopicArn: TOPIC,
        Subject: 'ALARM: "esync-dev-users-sync-runs-failed"',
        MessageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        UnsubscribeUrl: expect.stringMatching(
          /^https:\/\/sns\.us-east-1\.amazonaws\.com\/\?Action=Unsubscribe&/,
        ),
      },
    });
  });

  it('recovers on the next successful run, once, and ignores a success while it is not firing', async () => {
    const { alarms, delivered } = setup();

    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED'));
    alarms.onExecutionStatus(end('users-sync', 'TIMED_OUT', 'States.Timeout'));
    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED'));
    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED'));
    await alarms.whenDelivered();

    expect(delivered.map((d) => d.message.NewStateValue)).toEqual(['ALARM', 'OK']);
  });

  it('counts neither a stopped run nor a running one, as CloudWatch’s failed and timed-out metrics do not', async () => {
    const { alarms, lines } = setup();

    alarms.onExecutionStatus(end('users-sync', 'ABORTED'));
    alarms.onExecutionStatus(end('users-sync', 'RUNNING'));
    await alarms.whenDelivered();

    expect(lines).toEqual([]);
  });

  it('prints an alarm whose topic has no matching subscription without delivering it, and tells pipelines apart', async () => {
    const { alarms, lines, delivered } = setup();

    alarms.onExecutionStatus(end('users', 'FAILED', 'X'));
    await alarms.whenDelivered();

    expect(lines).toEqual(['alarm: esync-dev-users-runs-failed would fire: run run-1 FAILED: X: the cause']);
    expect(delivered).toEqual([]);
  });

  it('fires failure-rate when a run ends with more records quarantined or dead-lettered than the pipeline allows, and recovers on the next run within it', async () => {
    // Prepare: 100 records with an outcome, 6 of them failed (above 5%), then 2 (below).
    const { alarms, lines, delivered, state } = setup();
    state.counts.set('r1', { ...zeroCounts(), extracted: 100, loaded: 94, quarantined: 4, deadLettered: 2 });
    state.counts.set('r2', { ...zeroCounts(), extracted: 100, loaded: 98, quarantined: 2 });

    // Act
    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED', null, 'r1'));
    await alarms.whenDelivered();
    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED', null, 'r2'));
    await alarms.whenDelivered();

    // Assess
    expect(lines.filter((l) => l.includes('failure-rate would'))).toEqual([
      'alarm: esync-dev-users-sync-failure-rate would fire: run r1: 6 of 100 records quarantined or dead-lettered (6%; the limit is 5%)',
      'alarm: esync-dev-users-sync-failure-rate would recover: run r2: 2 of 100 records quarantined or dead-lettered (2%; the limit is 5%)',
    ]);
    expect(delivered.map((d) => [d.message.AlarmName, d.message.NewStateValue])).toEqual([
      ['esync-dev-users-sync-failure-rate', 'ALARM'],
      ['esync-dev-users-sync-failure-rate', 'OK'],
    ]);
  });

  it('fires conflict-rate when a failed run ends with more conflicts than the pipeline allows', async () => {
    const { alarms, lines, state } = setup();
    state.counts.set('r1', { ...zeroCounts(), extracted: 10, loaded: 8, conflicts: 2 });

    alarms.onExecutionStatus(end('users-sync', 'FAILED', 'X', 'r1'));
    await alarms.whenDelivered();

    expect(lines).toContainEqual(
      'alarm: esync-dev-users-sync-conflict-rate would fire: run r1: 2 of 10 records in conflict (20%; the limit is 10%)',
    );
    expect(lines.some((l) => l.includes('failure-rate'))).toBe(false);
  });

  it('judges no rate of a run without records, nor of a run whose record is missing', async () => {
    const { alarms, lines, state } = setup();
    state.counts.set('r1', zeroCounts());

    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED', null, 'r1'));
    alarms.onExecutionStatus(end('users-sync', 'SUCCEEDED', null, 'r-missing'));
    await alarms.whenDelivered();

    expect(lines).toEqual([]);
  });

  it('fires dlq-depth while the load DLQ holds messages and recovers once it is empty, judging only alarms the stack has', async () => {
    // Prepare: users has no dlq-depth alarm in this template, so its DLQ is not judged.
    const { alarms, lines, delivered, state } = setup();
    state.depths.set('esync-dev-users-sync-load-dlq', 3);
    state.depths.set('esync-dev-users-load-dlq', 5);

    // Act
    await alarms.checkQueues();
    await alarms.checkQueues();
    state.depths.set('esync-dev-users-sync-load-dlq', 0);
    await alarms.checkQueues();
    await alarms.whenDelivered();

    // Assess
    expect(lines.filter((l) => l.includes(' would '))).toEqual([
      'alarm: esync-dev-users-sync-dlq-depth would fire: 3 messages in the load DLQ esync-dev-users-sync-load-dlq',
      'alarm: esync-dev-users-sync-dlq-depth would recover: 0 messages in the load DLQ esync-dev-users-sync-load-dlq',
    ]);
    expect(delivered.map((d) => d.message.NewStateValue)).toEqual(['ALARM', 'OK']);
  });

  it('fires cdc-dlq-depth while the CDC DLQ holds change events EventBridge could not deliver', async () => {
    const { alarms, lines, state } = setup();
    state.depths.set('esync-dev-users-sync-cdc-dlq', 1);

    await alarms.checkQueues();
    await alarms.whenDelivered();

    expect(lines.filter((l) => l.includes(' would '))).toEqual([
      'alarm: esync-dev-users-sync-cdc-dlq-depth would fire: 1 messages in the CDC DLQ esync-dev-users-sync-cdc-dlq',
    ]);
  });

  it('retries a delivery that failed, as Lambda retries an asynchronous invocation, and is done when one attempt succeeds', async () => {
    const { alarms, delivered, kept, state } = setup();
    state.failures = 2;

    alarms.onExecutionStatus(end('users-sync', 'FAILED', 'X'));
    await alarms.whenDelivered();

    expect(delivered).toHaveLength(1);
    expect(kept).toEqual([]);
  });

  it('keeps the alarm with its error in the on-failure queue when every attempt failed, never dropping it silently', async () => {
    // Prepare: the chat service answers 503 to the first try and both retries.
    const { alarms, lines, delivered, kept, state } = setup();
    state.failures = 3;

    // Act
    alarms.onExecutionStatus(end('users-sync', 'FAILED', 'X'));
    await alarms.whenDelivered();

    // Assess
    expect(delivered).toEqual([]);
    expect(kept).toHaveLength(1);
    const { queueName, record } = kept[0] ?? { queueName: '', record: undefined };
    expect(queueName).toBe('esync-dev-core-alert-dlq');
    expect(record?.requestContext).toMatchObject({
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    });
    expect(record?.responsePayload.errorMessage).toContain('answered HTTP 503');
    const payload = record?.requestPayload as { Records: Array<{ Sns: { Message: string } }> } | undefined;
    const message = payload?.Records[0]?.Sns.Message;
    expect(JSON.parse(message ?? '{}')).toMatchObject({ AlarmName: 'esync-dev-users-sync-runs-failed' });
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^warn: alarm esync-dev-users-sync-runs-failed not delivered .* in 3 attempts: .*kept in esync-dev-core-alert-dlq$/,
      ),
    );
  });
});

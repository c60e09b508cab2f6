import { describe, expect, it } from 'vitest';
import { LocalAlarms } from '../../../local/alarms.ts';
import type { ExecutionStatusChange } from '../../../local/stepfunctions-server.ts';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:esync-dev-core-alarms';
const SM_PREFIX = 'arn:aws:states:us-east-1:000000000000:stateMachine:';

function setup() {
  const lines: string[] = [];
  const delivered: Array<{ functionName: string; message: Record<string, unknown> }> = [];
  const alarms = new LocalAlarms({
    stage: 'dev',
    pipelineNames: ['users', 'users-sync'],
    alarms: [
      { name: 'esync-dev-users-sync-runs-failed', description: 'A run failed.', alarmActions: [TOPIC] },
      { name: 'esync-dev-users-runs-failed', alarmActions: [TOPIC] },
    ],
    subscriptions: [
      {
        topicArn: TOPIC,
        functionName: 'esync-dev-core-alert-webhook',
        alarmNames: ['esync-dev-users-sync-runs-failed'],
      },
    ],
    deliver: async (subscription, event) => {
      const record = (event as { Records: Array<{ Sns: { Message: string } }> }).Records[0];
      delivered.push({
        functionName: subscription.functionName,
        message: JSON.parse(record?.Sns.Message ?? '{}'),
      });
    },
    log: (line) => lines.push(line),
  });
  return { alarms, lines, delivered };
}

const end = (pipeline: string, status: ExecutionStatusChange['status'], error: string | null = null) =>
  ({
    executionArn: `${SM_PREFIX}esync-dev-${pipeline}-sm:run-1`,
    stateMachineArn: `${SM_PREFIX}esync-dev-${pipeline}-sm`,
    name: 'run-1',
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
});

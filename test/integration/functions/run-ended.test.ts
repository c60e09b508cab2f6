import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/run-ended/handler.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { ExecutionStatusEvent } from '../../../shared/usecases/contracts.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const PIPELINE = 'users-sync';
const sample = JSON.parse(
  readFileSync(
    path.join(import.meta.dirname, '..', '..', '..', 'events', 'sfn', 'execution-status-change.json'),
    'utf8',
  ),
) as ExecutionStatusEvent;

let h: FunctionsHarness;

beforeAll(async () => {
  h = await startFunctionsHarness({
    pipelines: [
      {
        name: PIPELINE,
        source: { type: 's3', prefix: 'incoming/users/', format: 'jsonl', key: ['id'], cursor: [] },
        target: { type: 'dynamodb' },
      },
    ],
  });
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

/** The status change of a new run's execution, as the sample event with this status. */
function statusChange(status: ExecutionStatusEvent['detail']['status'], error?: string, cause?: string) {
  const runId = `${PIPELINE}-${randomUUID().slice(0, 8)}`;
  const executionArn = `arn:aws:states:us-east-1:000000000000:execution:esync-dev-${PIPELINE}-sm:${runId}`;
  const event = {
    ...sample,
    detail: {
      ...sample.detail,
      executionArn,
      stateMachineArn: `arn:aws:states:us-east-1:000000000000:stateMachine:esync-dev-${PIPELINE}-sm`,
      name: runId,
      status,
      error: error ?? null,
      cause: cause ?? null,
    },
  };
  return { runId, executionArn, event };
}

const invoke = (event: unknown) =>
  handler(JSON.parse(JSON.stringify(event)), h.context('run-ended')) as Promise<{ ended: boolean }>;

/** A running run whose Extract sent two messages of 10 records, one of them loaded. */
async function runningRun(runId: string, executionArn: string): Promise<void> {
  await h.deps.state.runs.create(
    {
      runId,
      pipeline: PIPELINE,
      trigger: 'api',
      executionArn,
      startedAt: new Date().toISOString(),
    },
    90,
  );
  await h.deps.state.runs.setPhase(runId, 'AwaitLoad', {
    startedAt: new Date().toISOString(),
    status: 'running',
  });
  const scope = keys.ledgerScopeOfRun(runId);
  await h.deps.state.ledger.register(scope, [
    { messageKey: 'm1', records: 10 },
    { messageKey: 'm2', records: 10, fieldsDiscarded: 4 },
  ]);
  await h.deps.state.ledger.complete(scope, 'm1', 10, {
    loaded: 8,
    skipped: 1,
    conflicts: 0,
    quarantined: 1,
    deadLettered: 0,
    excludedKeys: [],
  });
}

describe('run-ended', () => {
  it('ends a running run whose execution timed out, with the cause and the ledger’s counts', async () => {
    // Prepare
    const { runId, executionArn, event } = statusChange('TIMED_OUT');
    await runningRun(runId, executionArn);

    // Act
    const out = await invoke(event);

    // Assess
    const run = await h.deps.state.runs.get(runId);
    expect(out).toEqual({ ended: true });
    expect(run).toMatchObject({
      status: 'timed-out',
      failure: { error: 'States.Timeout', cause: 'the execution ran past its timeout' },
      counts: { extracted: 20, loaded: 8, skipped: 1, quarantined: 1, conflicts: 0, deadLettered: 0 },
      fieldsDiscarded: 4,
      phases: { AwaitLoad: { status: 'failed' } },
    });
    expect(run.endedAt).toBe(new Date(sample.detail.stopDate ?? 0).toISOString());
    expect(await h.busEvents()).toContainEqual(
      expect.objectContaining({
        'detail-type': 'esync.run.timed-out',
        detail: expect.objectContaining({ runId }),
      }),
    );
  });

  it('ends a stopped run as aborted with the error and cause given to StopExecution', async () => {
    // Prepare
    const { runId, executionArn, event } = statusChange(
      'ABORTED',
      'Operator.Stopped',
      'stopped from the console',
    );
    await runningRun(runId, executionArn);

    // Act
    await invoke(event);

    // Assess
    expect(await h.deps.state.runs.get(runId)).toMatchObject({
      status: 'aborted',
      failure: { error: 'Operator.Stopped', cause: 'stopped from the console' },
    });
  });

  it('shows no phase running when a stopped execution’s Lambda starts its phase after the run ended', async () => {
    // Prepare
    const { runId, executionArn, event } = statusChange('ABORTED', 'Operator.Stopped', 'stopped');
    await runningRun(runId, executionArn);
    await invoke(event);

    // Act
    await h.deps.state.runs.setPhase(runId, 'Verify', {
      startedAt: new Date().toISOString(),
      status: 'running',
    });

    // Assess
    const run = await h.deps.state.runs.get(runId);
    expect(run.status).toBe('aborted');
    expect(run.phases).toEqual({ AwaitLoad: expect.objectContaining({ status: 'failed' }) });
  });

  it('refuses a phase start for a run that does not exist', async () => {
    const starting = h.deps.state.runs.setPhase('no-such-run', 'Discover', {
      startedAt: new Date().toISOString(),
      status: 'running',
    });
    await expect(starting).rejects.toThrow();
  });

  it('leaves a run that its own RecordFailure already ended as it is', async () => {
    // Prepare
    const { runId, executionArn, event } = statusChange('FAILED', 'EsyncRunFailed', 'A phase failed');
    await runningRun(runId, executionArn);
    await h.deps.state.runs.update(runId, {
      status: 'failed',
      failure: { error: 'ConnectorError', cause: 'connection refused' },
    });

    // Act
    const out = await invoke(event);

    // Assess
    expect(out).toEqual({ ended: false });
    expect(await h.deps.state.runs.get(runId)).toMatchObject({
      status: 'failed',
      failure: { error: 'ConnectorError', cause: 'connection refused' },
    });
  });

  it('records a run stopped before Discover created its record', async () => {
    // Prepare
    const { runId, event } = statusChange('ABORTED');

    // Act
    await invoke(event);

    // Assess
    expect(await h.deps.state.runs.get(runId)).toMatchObject({
      pipeline: PIPELINE,
      status: 'aborted',
      failure: { error: 'States.Aborted' },
      counts: { extracted: 0 },
    });
  });

  it('rejects an event that is not a Step Functions status change, naming the field', async () => {
    await expect(invoke({ ...sample, source: 'esync' })).rejects.toThrow(/source/);
  });
});

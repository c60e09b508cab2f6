import { runCountsOf } from '../domain/run-counts.ts';
import { pipelineOfStateMachineArn } from '../naming.ts';
import { keys } from '../state/keys.ts';
import type { PhaseRecord, RunRecord, RunStatus } from '../state/runs.ts';
import type { ExecutionStatusEvent } from './contracts.ts';
import type { Deps } from './deps.ts';
import { emitRunEvent } from './run-events.ts';

type Detail = ExecutionStatusEvent['detail'];
type EndStatus = Exclude<Detail['status'], 'RUNNING' | 'PENDING_REDRIVE'>;

/** How each end of an execution reads on the run, and the error named when the event gives none. */
const ENDS: Readonly<Record<EndStatus, { status: RunStatus; error: string; cause: string }>> = {
  SUCCEEDED: { status: 'succeeded', error: '', cause: '' },
  FAILED: { status: 'failed', error: 'States.Runtime', cause: 'the execution failed' },
  TIMED_OUT: { status: 'timed-out', error: 'States.Timeout', cause: 'the execution ran past its timeout' },
  ABORTED: { status: 'aborted', error: 'States.Aborted', cause: 'the execution was stopped' },
};

const isEnd = (status: Detail['status']): status is EndStatus => status in ENDS;

/** Phases still `running` when the execution ended: they ended with it, failed. */
function closePhases(run: RunRecord, endedAt: string, error: string): Partial<Record<string, PhaseRecord>> {
  return Object.fromEntries(
    Object.entries(run.phases).map(([name, phase]) => [
      name,
      phase?.status === 'running'
        ? { ...phase, endedAt, status: 'failed', detail: { ...phase.detail, error } }
        : phase,
    ]),
  );
}

/**
 * Records the end of a run's execution from its Step Functions status change: a run still
 * `running` (its execution stopped, timed out, or failed where RecordFailure could not run)
 * becomes `aborted`, `timed-out`, `failed` or `succeeded`, with the cause and with its counts
 * summed from the message ledger. A run that already ended is left as it is. The run id is the
 * execution name; a run that never got its record (stopped before Discover) gets one.
 */
export async function recordExecutionEnd(deps: Deps, detail: Detail): Promise<{ ended: boolean }> {
  if (!isEnd(detail.status)) return { ended: false };
  const end = ENDS[detail.status];
  const runId = detail.name;
  const pipeline = pipelineOfStateMachineArn(detail.stateMachineArn, deps.config.stage);
  const endedAt = new Date(detail.stopDate ?? deps.now().getTime()).toISOString();
  await deps.state.runs.create(
    {
      runId,
      pipeline,
      trigger: 'unknown',
      executionArn: detail.executionArn,
      startedAt: new Date(detail.startDate ?? deps.now().getTime()).toISOString(),
    },
    deps.catalog.retentionOf(pipeline).runDays,
  );
  const run = await deps.state.runs.get(runId);
  if (run.status !== 'running') return { ended: false };
  const totals = await deps.state.ledger.totals(keys.ledgerScopeOfRun(runId));
  const counts = runCountsOf(totals);
  const failure =
    end.status === 'succeeded'
      ? undefined
      : { error: detail.error || end.error, cause: (detail.cause || end.cause).slice(0, 2000) };
  const ended = await deps.state.runs.endIfRunning(runId, {
    status: end.status,
    endedAt,
    counts,
    ties: totals.ties,
    tiesReread: totals.tiesReread,
    ...(totals.fieldsDiscarded > 0 && { fieldsDiscarded: totals.fieldsDiscarded }),
    ...(failure && { failure, phases: closePhases(run, endedAt, failure.error) }),
  });
  if (ended && failure) {
    await emitRunEvent(deps, `esync.run.${end.status}`, { pipeline, runId, error: failure.error });
    deps.log.error('run ended', { pipeline, runId, status: end.status, error: failure.error });
  }
  return { ended };
}

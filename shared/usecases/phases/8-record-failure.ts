import type { RunRef } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { emitRunEvent } from '../run-events.ts';
import { forgetVerifiedRun } from '../unchanged-messages.ts';

/**
 * RecordFailure: the run failed; record the cause, leave the checkpoint untouched, forget the
 * last verified run (the next run sends every message), tell the bus.
 */
export async function recordFailure(
  deps: Deps,
  input: RunRef & { error: { Error?: string; Cause?: string } },
): Promise<{ recorded: boolean }> {
  const errorName = input.error.Error ?? 'UnknownError';
  let cause = input.error.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) cause = parsed.errorMessage;
  } catch {
    // Cause is plain text when the error did not come from a Lambda task.
  }
  const existing = await deps.state.runs.find(input.runId);
  if (!existing)
    await deps.state.runs.create(
      {
        runId: input.runId,
        pipeline: input.pipeline,
        trigger: 'unknown',
        executionArn: input.executionArn,
        startedAt: deps.now().toISOString(),
      },
      deps.catalog.retentionOf(input.pipeline).runDays,
    );
  await deps.state.runs.update(input.runId, {
    status: 'failed',
    endedAt: deps.now().toISOString(),
    failure: { error: errorName, cause: cause.slice(0, 2000) },
  });
  await forgetVerifiedRun(deps, input.pipeline);
  await emitRunEvent(deps, 'esync.run.failed', {
    pipeline: input.pipeline,
    runId: input.runId,
    error: errorName,
    cause: cause.slice(0, 500),
  });
  deps.log.error('run failed', { pipeline: input.pipeline, runId: input.runId, error: errorName });
  return { recorded: true };
}

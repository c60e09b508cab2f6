import type { Phase } from '../../state/runs.ts';
import type { Deps } from '../deps.ts';

/** Runs `body` as one phase of a run, recording its start, end and detail on the run record. */
export async function inPhase<T extends object>(
  deps: Deps,
  runId: string,
  phase: Phase,
  body: () => Promise<T>,
): Promise<T> {
  const startedAt = deps.now().toISOString();
  await deps.state.runs.setPhase(runId, phase, { startedAt, status: 'running' });
  try {
    const result = await body();
    await deps.state.runs.setPhase(runId, phase, {
      startedAt,
      endedAt: deps.now().toISOString(),
      status: 'succeeded',
      detail: summarize(result),
    });
    return result;
  } catch (error) {
    await deps.state.runs.setPhase(runId, phase, {
      startedAt,
      endedAt: deps.now().toISOString(),
      status: 'failed',
      detail: { error: (error as Error).name, message: (error as Error).message },
    });
    throw error;
  }
}

/** Keeps only scalar fields of a phase result for the run record (no arrays of partitions). */
function summarize(result: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result).filter(([, v]) => v === null || typeof v !== 'object'));
}

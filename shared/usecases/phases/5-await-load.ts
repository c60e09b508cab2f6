import type { z } from 'zod';
import { accounted, runCountsOf } from '../../domain/run-counts.ts';
import { EsyncError } from '../../errors.ts';
import { keys } from '../../state/keys.ts';
import type { awaitLoadOutputSchema, RunRef } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { forgetPlan } from '../resume.ts';

/** Load made no progress for too long: messages are stuck (a target down, a bug). */
export class LoadStalledError extends EsyncError {}

export interface AwaitLoadOptions {
  /** Fail the run when nothing moved for this long. @default 15 minutes */
  readonly stallTimeoutMs?: number;
}

/**
 * AwaitLoad: sums the run's ledger. Execute is over when every registered message has an
 * outcome; the state machine waits and asks again until then.
 */
export async function awaitLoad(
  deps: Deps,
  input: RunRef,
  options: AwaitLoadOptions = {},
): Promise<z.infer<typeof awaitLoadOutputSchema>> {
  const totals = await deps.state.ledger.totals(keys.ledgerScopeOfRun(input.runId));
  const run = await deps.state.runs.get(input.runId);
  const now = deps.now();
  const counts = runCountsOf(totals);
  const done = totals.pendingMessages === 0 && (await pendingOfEarlierRuns(deps, run)) === 0;
  const progressed = accounted(counts) !== accounted(run.counts) || !run.phases.AwaitLoad;
  const since = progressed
    ? now.toISOString()
    : ((run.phases.AwaitLoad?.detail?.lastProgressAt as string) ?? now.toISOString());
  await deps.state.runs.update(input.runId, {
    counts,
    ties: totals.ties,
    tiesReread: totals.tiesReread,
    ...(totals.fieldsDiscarded > 0 && { fieldsDiscarded: totals.fieldsDiscarded }),
  });
  // The Execute Map has no task of its own to record it. It ran from Plan's end to the first
  // AwaitLoad, which the state machine reaches only once every Extract has returned.
  if (!run.phases.AwaitLoad && !run.phases.Execute)
    await deps.state.runs.setPhase(input.runId, 'Execute', {
      startedAt: run.phases.Plan?.endedAt ?? now.toISOString(),
      endedAt: now.toISOString(),
      status: 'succeeded',
      detail: { extracted: totals.extracted, messages: totals.messages },
    });
  await deps.state.runs.setPhase(input.runId, 'AwaitLoad', {
    startedAt: run.phases.AwaitLoad?.startedAt ?? now.toISOString(),
    status: done ? 'succeeded' : 'running',
    ...(done ? { endedAt: now.toISOString() } : {}),
    detail: { ...counts, pendingMessages: totals.pendingMessages, lastProgressAt: since },
  });
  if (!done && now.getTime() - Date.parse(since) > (options.stallTimeoutMs ?? 15 * 60_000)) {
    // A message registered but never sent (an Extract cut between the two) stays pending for
    // good: the next run plans anew rather than wait for it again.
    if (run.planId) await forgetPlan(deps, input.pipeline, run.planId);
    throw new LoadStalledError(
      `${totals.pendingMessages} messages of run ${input.runId} made no progress since ${since}; see the load DLQ and the Load function's logs`,
    );
  }
  return {
    done,
    extracted: totals.extracted,
    accounted: accounted(counts),
    pendingMessages: totals.pendingMessages,
  };
}

/** Messages of the earlier runs of a resumed plan still on the queue: part of this run's window. */
async function pendingOfEarlierRuns(deps: Deps, run: { readonly earlierRuns?: readonly string[] }) {
  let pending = 0;
  for (const earlier of run.earlierRuns ?? [])
    pending += (await deps.state.ledger.totals(keys.ledgerScopeOfRun(earlier))).pendingMessages;
  return pending;
}

import type { z } from 'zod';
import { awaitLoadWaitSeconds } from '../../domain/await-load-wait.ts';
import { type RunCounts, runCountsOf } from '../../domain/run-counts.ts';
import { EsyncError } from '../../errors.ts';
import { keys } from '../../state/keys.ts';
import type { RunRecord } from '../../state/runs.ts';
import type { awaitLoadOutputSchema, RunRef } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { forgetPlan } from '../resume.ts';

/** Load made no progress for too long: messages are stuck (a target down, a bug). */
export class LoadStalledError extends EsyncError {}

export interface AwaitLoadOptions {
  /** Fail the run when nothing moved for this long. @default 15 minutes */
  readonly stallTimeoutMs?: number;
}

/** Where Load stands at one poll. */
interface Standing {
  readonly done: boolean;
  readonly extracted: number;
  /**
   * Extracted records no longer pending (with an outcome, or dead-lettered unseen): the same
   * figure whether the poll read the pending index or summed the whole ledger.
   */
  readonly accounted: number;
  readonly pendingMessages: number;
  readonly pendingOfEarlierRuns: number;
  /** The run's counts, when this poll summed the whole ledger. */
  readonly counts?: Required<RunCounts>;
}

/**
 * AwaitLoad: is every registered message of the run (and of the earlier runs of a resumed plan)
 * accounted for? The first poll and every poll that finds nothing pending sum the whole ledger
 * (a consistent Query), which alone decides `done` and records the run's counts; the polls in
 * between read only the messages still pending (the ledger's pending index), so waiting costs
 * what is left, not what the run holds. The state machine waits and asks again until done.
 */
export async function awaitLoad(
  deps: Deps,
  input: RunRef,
  options: AwaitLoadOptions = {},
): Promise<z.infer<typeof awaitLoadOutputSchema>> {
  const run = await deps.state.runs.get(input.runId);
  const now = deps.now();
  const standing =
    (run.phases.AwaitLoad && (await stillPending(deps, run))) || (await summed(deps, run, now));
  const last = run.phases.AwaitLoad?.detail;
  const progressed =
    !last ||
    standing.accounted !== last.accounted ||
    standing.pendingMessages !== last.pendingMessages ||
    standing.pendingOfEarlierRuns !== (last.pendingOfEarlierRuns ?? 0);
  const since = progressed
    ? now.toISOString()
    : ((last?.lastProgressAt as string | undefined) ?? now.toISOString());
  const { done, extracted, accounted, pendingMessages, pendingOfEarlierRuns, counts } = standing;
  await deps.state.runs.setPhase(input.runId, 'AwaitLoad', {
    startedAt: run.phases.AwaitLoad?.startedAt ?? now.toISOString(),
    status: done ? 'succeeded' : 'running',
    ...(done ? { endedAt: now.toISOString() } : {}),
    detail: {
      ...counts,
      accounted,
      pendingMessages,
      pendingOfEarlierRuns,
      lastProgressAt: since,
      polledAt: now.toISOString(),
      polls: Number(last?.polls ?? 0) + 1,
    },
  });
  if (!done && now.getTime() - Date.parse(since) > (options.stallTimeoutMs ?? 15 * 60_000)) {
    // A message registered but never sent (an Extract cut between the two) stays pending for
    // good: the next run plans anew rather than wait for it again.
    if (run.planId) await forgetPlan(deps, input.pipeline, run.planId);
    throw new LoadStalledError(
      `${pendingMessages} messages of run ${input.runId} made no progress since ${since}; see the load DLQ and the Load function's logs`,
    );
  }
  return {
    done,
    extracted,
    accounted,
    pendingMessages,
    waitSeconds: done ? 0 : nextWait(run, standing, now),
  };
}

/** Seconds the state machine waits before the next poll, from Load's pace so far (see the rule). */
function nextWait(run: RunRecord, standing: Standing, now: Date): number {
  const last = run.phases.AwaitLoad?.detail;
  const lastAt = typeof last?.polledAt === 'string' ? Date.parse(last.polledAt) : Number.NaN;
  const executeAt = Date.parse(run.phases.Plan?.endedAt ?? run.startedAt);
  const seconds = (since: number) => (now.getTime() - since) / 1000;
  return awaitLoadWaitSeconds({
    pendingRecords: standing.extracted - standing.accounted,
    ...(last &&
      Number.isFinite(lastAt) && {
        sinceLastPoll: {
          records: standing.accounted - Number(last.accounted ?? 0),
          seconds: seconds(lastAt),
        },
      }),
    sinceStart: { records: standing.accounted, seconds: seconds(executeAt) },
  });
}

/** How many messages of a ledger scope are still pending, by one way of reading the ledger. */
type PendingReader = (scope: string) => Promise<number>;

/** The messages still pending in the earlier runs of a resumed plan, each read by `read`. */
async function pendingOfEarlierRuns(run: RunRecord, read: PendingReader): Promise<number> {
  const pending = await Promise.all((run.earlierRuns ?? []).map((r) => read(keys.ledgerScopeOfRun(r))));
  return pending.reduce((sum, n) => sum + n, 0);
}

/**
 * The run's standing from the pending index alone, or undefined when the index shows nothing
 * pending: only the full sum may then say whether Load is done (the index may lag behind).
 */
async function stillPending(deps: Deps, run: RunRecord): Promise<Standing | undefined> {
  const { ledger } = deps.state;
  const own = await ledger.pending(keys.ledgerScopeOfRun(run.runId));
  const earlier = await pendingOfEarlierRuns(run, async (scope) => (await ledger.pending(scope)).messages);
  if (own.messages + earlier === 0) return undefined;
  return {
    done: false,
    extracted: run.counts.extracted,
    accounted: run.counts.extracted - own.records,
    pendingMessages: own.messages,
    pendingOfEarlierRuns: earlier,
  };
}

/** The run's standing from its whole ledger, recorded as the run's counts. */
async function summed(deps: Deps, run: RunRecord, now: Date): Promise<Standing> {
  const { ledger } = deps.state;
  const totals = await ledger.totals(keys.ledgerScopeOfRun(run.runId));
  const counts = runCountsOf(totals);
  const earlier = await pendingOfEarlierRuns(
    run,
    async (scope) => (await ledger.totals(scope)).pendingMessages,
  );
  await deps.state.runs.update(run.runId, {
    counts,
    ties: totals.ties,
    tiesReread: totals.tiesReread,
    ...(totals.fieldsDiscarded > 0 && { fieldsDiscarded: totals.fieldsDiscarded }),
  });
  // The Execute Map has no task of its own to record it. It ran from Plan's end to the first
  // AwaitLoad, which the state machine reaches only once every Extract has returned.
  if (!run.phases.AwaitLoad && !run.phases.Execute)
    await deps.state.runs.setPhase(run.runId, 'Execute', {
      startedAt: run.phases.Plan?.endedAt ?? now.toISOString(),
      endedAt: now.toISOString(),
      status: 'succeeded',
      detail: {
        extracted: totals.extracted,
        messages: totals.messages,
        ...(totals.vouchedMessages > 0 && {
          unsentMessages: totals.vouchedMessages,
          unsentRecords: totals.vouchedRecords,
        }),
      },
    });
  return {
    done: totals.pendingMessages === 0 && earlier === 0,
    extracted: totals.extracted,
    accounted: totals.extracted - totals.pendingRecords,
    pendingMessages: totals.pendingMessages,
    pendingOfEarlierRuns: earlier,
    counts,
  };
}

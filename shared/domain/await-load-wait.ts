/**
 * Bounds of the wait between two AwaitLoad polls, in whole seconds: a Wait state's `SecondsPath`
 * must name a non-negative integer. `unknownPace` is waited while no record has been accounted yet.
 */
export const AWAIT_LOAD_WAIT = { minSeconds: 1, maxSeconds: 30, unknownPaceSeconds: 5 } as const;

/** Records accounted (given an outcome or dead-lettered) over a stretch of time. */
export interface Accounted {
  readonly records: number;
  readonly seconds: number;
}

/** Where Load stands at a poll that did not find it done. */
export interface LoadPace {
  readonly pendingRecords: number;
  /** Since the previous poll, absent at the first. */
  readonly sinceLastPoll?: Accounted;
  /** Since Execute started (Load runs while Extract sends). */
  readonly sinceStart: Accounted;
}

/**
 * Seconds to wait before the next AwaitLoad poll: half of what the pace says Load still needs,
 * within {@link AWAIT_LOAD_WAIT}. The pace is the last interval's, or the run's since Execute
 * started when that interval accounted nothing. A poll after the end costs the run up to its whole
 * wait; one before costs a Lambda invocation and three transitions. Halving the estimate brings
 * the polls to the end geometrically, a few polls for the last stretch and the run ending about a
 * second after Load when the pace holds, while a long load polls at most every 30 s (the fixed
 * wait this replaces polled every 5 s).
 */
export function awaitLoadWaitSeconds(pace: LoadPace): number {
  const perSecond = recordsPerSecond(pace.sinceLastPoll) ?? recordsPerSecond(pace.sinceStart);
  if (perSecond === undefined) return AWAIT_LOAD_WAIT.unknownPaceSeconds;
  const half = Math.ceil(Math.max(0, pace.pendingRecords) / perSecond / 2);
  return Math.min(AWAIT_LOAD_WAIT.maxSeconds, Math.max(AWAIT_LOAD_WAIT.minSeconds, half));
}

function recordsPerSecond(accounted: Accounted | undefined): number | undefined {
  if (!accounted || accounted.records <= 0 || accounted.seconds <= 0) return undefined;
  const perSecond = accounted.records / accounted.seconds;
  // A pace too small for a double (it underflows to 0) says no more than no pace at all.
  return perSecond > 0 && Number.isFinite(perSecond) ? perSecond : undefined;
}

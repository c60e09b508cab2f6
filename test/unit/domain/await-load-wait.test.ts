import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AWAIT_LOAD_WAIT, awaitLoadWaitSeconds } from '../../../shared/domain/await-load-wait.ts';

/** The fixed wait AwaitLoad polled on before the wait followed the pace. */
const FIXED_POLL_SECONDS = 5;

/**
 * Polls AwaitLoad makes for a load of `pending` records accounted at a steady `perSecond`, from a
 * first poll `elapsed` seconds after Execute started, and how long after Load's end the last comes.
 */
function simulate(pending: number, perSecond: number, elapsed: number) {
  const end = pending / perSecond;
  let t = 0;
  let polls = 1;
  let last: { t: number; left: number } | undefined;
  let left = pending;
  while (left > 0) {
    const wait = awaitLoadWaitSeconds({
      pendingRecords: left,
      ...(last && { sinceLastPoll: { records: last.left - left, seconds: t - last.t } }),
      sinceStart: { records: perSecond * (elapsed + t), seconds: elapsed + t },
    });
    last = { t, left };
    t += wait;
    left = Math.max(0, pending - perSecond * t);
    polls += 1;
  }
  return { polls, late: t - end, fixedPolls: Math.ceil(end / FIXED_POLL_SECONDS) + 1 };
}

describe('awaitLoadWaitSeconds', () => {
  it('waits half the time the last interval’s pace says Load still needs', () => {
    const wait = awaitLoadWaitSeconds({
      pendingRecords: 20_000,
      sinceLastPoll: { records: 5_000, seconds: 5 },
      sinceStart: { records: 50_000, seconds: 100 },
    });

    expect(wait).toBe(10);
  });

  it('takes the pace since Execute started when the last interval accounted nothing', () => {
    const wait = awaitLoadWaitSeconds({
      pendingRecords: 8_000,
      sinceLastPoll: { records: 0, seconds: 5 },
      sinceStart: { records: 40_000, seconds: 20 },
    });

    expect(wait).toBe(2);
  });

  it('waits the shortest wait when little is pending', () => {
    const wait = awaitLoadWaitSeconds({ pendingRecords: 3, sinceStart: { records: 1_000, seconds: 1 } });

    expect(wait).toBe(AWAIT_LOAD_WAIT.minSeconds);
  });

  it('waits at most the longest wait however much is pending', () => {
    const wait = awaitLoadWaitSeconds({
      pendingRecords: 5_000_000,
      sinceStart: { records: 1_000, seconds: 10 },
    });

    expect(wait).toBe(AWAIT_LOAD_WAIT.maxSeconds);
  });

  it('waits the wait for an unknown pace while nothing has been accounted', () => {
    const wait = awaitLoadWaitSeconds({
      pendingRecords: 10_000,
      sinceLastPoll: { records: 0, seconds: 5 },
      sinceStart: { records: 0, seconds: 30 },
    });

    expect(wait).toBe(AWAIT_LOAD_WAIT.unknownPaceSeconds);
  });

  it('waits the wait for an unknown pace when the pace is too small for a double', () => {
    const wait = awaitLoadWaitSeconds({ pendingRecords: 0, sinceStart: { records: 5e-324, seconds: 2 } });

    expect(wait).toBe(AWAIT_LOAD_WAIT.unknownPaceSeconds);
  });

  it('always answers a whole number of seconds a Wait state accepts', () => {
    fc.assert(
      fc.property(
        fc.nat(10_000_000),
        fc.record({
          records: fc.double({ min: -1, max: 1e7, noNaN: true }),
          seconds: fc.double({ min: 0, max: 1e5, noNaN: true }),
        }),
        (pendingRecords, sinceStart) => {
          const wait = awaitLoadWaitSeconds({ pendingRecords, sinceStart });

          expect(Number.isInteger(wait)).toBe(true);
          expect(wait).toBeGreaterThanOrEqual(AWAIT_LOAD_WAIT.minSeconds);
          expect(wait).toBeLessThanOrEqual(AWAIT_LOAD_WAIT.maxSeconds);
        },
      ),
    );
  });

  it('ends a load at a steady pace less than the shortest wait after Load does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000_000 }),
        fc.integer({ min: 10, max: 20_000 }),
        fc.nat(600),
        (pending, perSecond, elapsed) => {
          const { late } = simulate(pending, perSecond, elapsed + 1);

          expect(late).toBeLessThan(AWAIT_LOAD_WAIT.minSeconds);
        },
      ),
    );
  });

  it('polls a load of 30 s or more no more often than the fixed 5 s wait did', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 30, max: 20_000 }),
        fc.integer({ min: 10, max: 20_000 }),
        fc.nat(600),
        (seconds, perSecond, elapsed) => {
          const { polls, fixedPolls } = simulate(seconds * perSecond, perSecond, elapsed + 1);

          expect(polls).toBeLessThanOrEqual(fixedPolls);
        },
      ),
    );
  });

  it('polls a load of an hour in a fifth of the polls of the fixed wait', () => {
    const { polls, fixedPolls } = simulate(3_600 * 1_000, 1_000, 60);

    expect(fixedPolls).toBe(721);
    expect(polls).toBeLessThan(fixedPolls / 5);
  });
});

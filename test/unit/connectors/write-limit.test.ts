import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WriteLimit, withInvocationLimits } from '../../../shared/connectors/targets/support/write-limit.ts';
import type { RetryOptions } from '../../../shared/domain/retry.ts';
import { TransientError } from '../../../shared/errors.ts';

const NO_WAIT: RetryOptions = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, jitter: 'none' };
const throttled = () =>
  Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
const conditionFailed = () => Object.assign(new Error('stale'), { name: 'ConditionalCheckFailedException' });
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A write that records how many writes (in all, and of its key) were in flight with it. */
function tracker() {
  let inFlight = 0;
  let maxInFlight = 0;
  const perKey = new Map<string, number>();
  let maxPerKey = 0;
  const order: string[] = [];
  const write = (key: string, label: string, ms: number) => async () => {
    inFlight++;
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    maxInFlight = Math.max(maxInFlight, inFlight);
    maxPerKey = Math.max(maxPerKey, perKey.get(key) ?? 0);
    await tick(ms);
    order.push(label);
    perKey.set(key, (perKey.get(key) ?? 1) - 1);
    inFlight--;
    return label;
  };
  return { write, order, maxInFlight: () => maxInFlight, maxPerKey: () => maxPerKey };
}

describe('WriteLimit', () => {
  it('holds every key of a batch: earlier writes of its keys finish first, later ones wait for it', async () => {
    // Prepare
    const limit = new WriteLimit(8);
    const order: string[] = [];
    const step = (label: string, ms: number) => async () => {
      await tick(ms);
      order.push(label);
      return label;
    };

    // Act
    await Promise.all([
      limit.run('a', step('a-before', 5)),
      limit.run('c', step('c-alone', 0)),
      limit.holding(['a', 'b'], () => limit.retryingHeld(step('batch', 1), NO_WAIT)),
      limit.run('b', step('b-after', 0)),
    ]);

    // Assess
    expect(order.indexOf('a-before')).toBeLessThan(order.indexOf('batch'));
    expect(order.indexOf('batch')).toBeLessThan(order.indexOf('b-after'));
    expect(order.indexOf('c-alone')).toBeLessThan(order.indexOf('batch'));
  });

  it('keeps at most the ceiling in flight, one per key, each key in the order asked (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), ms: fc.integer({ min: 0, max: 3 }) }),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        async (ceiling, writes) => {
          // Prepare
          const limit = new WriteLimit(ceiling);
          const t = tracker();

          // Act
          const results = await Promise.all(
            writes.map((w, i) => limit.run(w.key, t.write(w.key, `${w.key}${i}`, w.ms))),
          );

          // Assess
          expect(results).toEqual(writes.map((w, i) => `${w.key}${i}`));
          expect(t.maxInFlight()).toBeLessThanOrEqual(ceiling);
          expect(t.maxPerKey()).toBe(1);
          for (const key of ['a', 'b', 'c', 'd']) {
            const asked = writes.flatMap((w, i) => (w.key === key ? [`${key}${i}`] : []));
            expect(t.order.filter((label) => label.startsWith(key))).toEqual(asked);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('lets the next write of a key run after the previous one failed', async () => {
    // Prepare
    const limit = new WriteLimit(4);
    const failing = limit.run('k', async () => {
      throw new Error('refused');
    });

    // Act
    const next = limit.run('k', async () => 'written');

    // Assess
    await expect(failing).rejects.toThrow('refused');
    await expect(next).resolves.toBe('written');
  });

  it('halves the limit on throttling, once per round of attempts, down to one, and regrows by one after a run of successes', () => {
    // Prepare
    const limit = new WriteLimit(8);
    const round = () => {
      for (let i = 0; i < limit.current; i++) limit.observe(throttled());
    };

    // Act
    limit.observe(throttled());
    const afterOne = limit.current;
    for (let i = 0; i < 4; i++) limit.observe(throttled());
    const sameRound = limit.current;
    limit.observe(throttled());
    const nextRound = limit.current;
    round();
    round();
    round();
    const floor = limit.current;
    limit.observe();
    const regrown = limit.current;
    limit.observe();
    const afterOneMore = limit.current;
    limit.observe();

    // Assess
    expect(afterOne).toBe(4);
    expect(sameRound).toBe(4);
    expect(nextRound).toBe(2);
    expect(floor).toBe(1);
    expect(regrown).toBe(2);
    expect(afterOneMore).toBe(2);
    expect(limit.current).toBe(3);
  });

  it('never grows past its ceiling', () => {
    // Prepare
    const limit = new WriteLimit(2);

    // Act
    for (let i = 0; i < 20; i++) limit.observe();

    // Assess
    expect(limit.current).toBe(2);
  });

  it('treats a throttling TransientError (an HTTP 429) as throttling, and a 5xx or a stale write as not', () => {
    // Prepare
    const limit = new WriteLimit(8);

    // Act
    limit.observe(new TransientError('answered 503'));
    limit.observe(conditionFailed());
    const unchanged = limit.current;
    limit.observe(new TransientError('answered 429', { throttled: true }));

    // Assess
    expect(unchanged).toBe(8);
    expect(limit.current).toBe(4);
  });

  it('retries a throttled write with backoff and shrinks the limit, but sends a stale write once', async () => {
    // Prepare
    const limit = new WriteLimit(8);
    let throttledAttempts = 0;
    let staleAttempts = 0;

    // Act
    const written = await limit.retrying(
      'k',
      async () => {
        if (++throttledAttempts < 3) throw throttled();
        return 'applied';
      },
      NO_WAIT,
    );
    const stale = limit.retrying(
      'j',
      async () => {
        staleAttempts++;
        throw conditionFailed();
      },
      NO_WAIT,
    );

    // Assess
    expect(written).toBe('applied');
    expect(throttledAttempts).toBe(3);
    await expect(stale).rejects.toThrow('stale');
    expect(staleAttempts).toBe(1);
    expect(limit.current).toBe(4);
  });

  it('gives each invocation a limit of its own, shared by the writes inside it', async () => {
    // Prepare
    const limit = new WriteLimit(2);
    const t = tracker();
    const batch = (prefix: string) =>
      Promise.all(
        ['a', 'b', 'c', 'd'].map((k) => limit.run(`${prefix}${k}`, t.write(`${prefix}${k}`, k, 5))),
      );

    // Act
    const [throttledOne, other] = await Promise.all([
      withInvocationLimits(async () => {
        await batch('x');
        limit.observe(throttled());
        return limit.current;
      }),
      withInvocationLimits(async () => {
        await batch('y');
        return limit.current;
      }),
    ]);

    // Assess
    expect(t.maxInFlight()).toBe(4);
    expect(throttledOne).toBe(1);
    expect(other).toBe(2);
    expect(limit.current).toBe(2);
  });

  it('refuses a ceiling below one, showing the value', () => {
    // Act
    const creating = () => new WriteLimit(0);

    // Assess
    expect(creating).toThrow('(got 0)');
  });
});

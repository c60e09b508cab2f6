import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, type RetryOptions, withRetry } from '../../../shared/domain/retry.ts';
import { ConfigError, TransientError } from '../../../shared/errors.ts';

const noJitter: RetryOptions = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, jitter: 'none' };

/** Hooks that record waits instead of sleeping. */
function recorder() {
  const waits: number[] = [];
  return { waits, hooks: { sleep: async (ms: number) => void waits.push(ms) } };
}

function failing(errors: unknown[], result = 'ok') {
  let calls = 0;
  const operation = async (attempt: number) => {
    calls = attempt;
    const error = errors[attempt - 1];
    if (error !== undefined) throw error;
    return result;
  };
  return { operation, calls: () => calls };
}

describe('backoffDelay', () => {
  it('doubles from the base delay and stops at the cap without jitter', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, noJitter));

    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('draws full jitter uniformly from [0, backoff)', () => {
    const full = { ...noJitter, jitter: 'full' as const };

    expect(backoffDelay(3, full, () => 0)).toBe(0);
    expect(backoffDelay(3, full, () => 0.5)).toBe(200);
    expect(backoffDelay(3, full, () => 0.999_999)).toBe(399);
  });

  it('always stays within [0, min(cap, base * 2^(attempt-1))] with full jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseDelayMs, extra, random) => {
          const options: RetryOptions = {
            maxAttempts: 5,
            baseDelayMs,
            maxDelayMs: baseDelayMs + extra,
            jitter: 'full',
          };

          const delay = backoffDelay(attempt, options, () => random);

          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(options.maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
          expect(Number.isInteger(delay)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('withRetry', () => {
  it('returns the first success without waiting', async () => {
    const { waits, hooks } = recorder();

    const result = await withRetry(async () => 'done', noJitter, hooks);

    expect(result).toBe('done');
    expect(waits).toEqual([]);
  });

  it('retries transient errors with backoff until one succeeds', async () => {
    const { waits, hooks } = recorder();
    const op = failing([new TransientError('throttled'), new TransientError('throttled')]);

    const result = await withRetry(op.operation, noJitter, hooks);

    expect(result).toBe('ok');
    expect(op.calls()).toBe(3);
    expect(waits).toEqual([100, 200]);
  });

  it('recognises foreign transient errors: AWS throttling, socket resets, 5xx', async () => {
    const { waits, hooks } = recorder();
    const throttled = Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    const unavailable = Object.assign(new Error('oops'), { $metadata: { httpStatusCode: 503 } });
    const op = failing([throttled, reset, unavailable]);

    await withRetry(op.operation, noJitter, hooks);

    expect(op.calls()).toBe(4);
    expect(waits).toHaveLength(3);
  });

  it('rethrows a permanent error at once, without retrying', async () => {
    const { waits, hooks } = recorder();
    const permanent = new ConfigError('table name is wrong');
    const op = failing([permanent]);

    await expect(withRetry(op.operation, noJitter, hooks)).rejects.toBe(permanent);
    expect(op.calls()).toBe(1);
    expect(waits).toEqual([]);
  });

  it('gives up after maxAttempts, rethrowing the last transient error', async () => {
    const { waits, hooks } = recorder();
    const errors = [1, 2, 3].map((n) => new TransientError(`attempt ${n}`));
    const op = failing([...errors, new TransientError('never reached')]);

    await expect(withRetry(op.operation, { ...noJitter, maxAttempts: 3 }, hooks)).rejects.toBe(errors[2]);
    expect(op.calls()).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('makes a single attempt when maxAttempts is 1', async () => {
    const op = failing([new TransientError('once')]);

    await expect(withRetry(op.operation, { ...noJitter, maxAttempts: 1 }, recorder().hooks)).rejects.toThrow(
      'once',
    );
    expect(op.calls()).toBe(1);
  });

  it('honours a Retry-After longer than the backoff, and ignores a shorter one', async () => {
    const { waits, hooks } = recorder();
    const op = failing([
      new TransientError('busy', { retryAfterMs: 3000 }),
      new TransientError('busy', { retryAfterMs: 10 }),
    ]);

    await withRetry(op.operation, noJitter, hooks);

    expect(waits).toEqual([3000, 200]);
  });

  it('never waits longer than a minute, whatever the server asks', async () => {
    const { waits, hooks } = recorder();
    const op = failing([new TransientError('busy', { retryAfterMs: 3_600_000 })]);

    await withRetry(op.operation, noJitter, hooks);

    expect(waits).toEqual([60_000]);
  });

  it('waits a jittered time within the backoff when jitter is full', async () => {
    const { waits, hooks } = recorder();
    const op = failing([new TransientError('a'), new TransientError('b')]);

    await withRetry(op.operation, { ...noJitter, jitter: 'full' }, { ...hooks, random: () => 0.25 });

    expect(waits).toEqual([25, 50]);
  });

  it('reports each retry with the error, attempt number and delay', async () => {
    const seen: [string, number, number][] = [];
    const op = failing([new TransientError('a'), new TransientError('b')]);

    await withRetry(op.operation, noJitter, {
      sleep: async () => {},
      onRetry: (error, attempt, delay) => seen.push([(error as Error).message, attempt, delay]),
    });

    expect(seen).toEqual([
      ['a', 1, 100],
      ['b', 2, 200],
    ]);
  });

  it('uses five attempts by default', async () => {
    const op = failing(Array.from({ length: 10 }, () => new TransientError('x')));

    await expect(withRetry(op.operation, DEFAULT_RETRY, { sleep: async () => {} })).rejects.toThrow('x');
    expect(op.calls()).toBe(5);
  });
});

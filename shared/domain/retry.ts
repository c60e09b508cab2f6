import { isRetryable, TransientError } from '../errors.ts';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** full: wait a uniform random time in [0, backoff]; none: wait the backoff itself. */
  readonly jitter: 'full' | 'none';
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  jitter: 'full',
};

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1): exponential backoff capped at
 * `maxDelayMs`, with full jitter so many clients retrying together spread out
 * (the AWS Architecture Blog's "Exponential Backoff and Jitter").
 */
export function backoffDelay(
  attempt: number,
  options: RetryOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return options.jitter === 'full' ? Math.floor(random() * ceiling) : ceiling;
}

export interface RetryHooks {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Called before each wait, e.g. to count retries. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `operation`, retrying errors that {@link isRetryable} deems transient. A permanent
 * error is rethrown at once; the last transient error is rethrown after `maxAttempts`.
 * A server's `retryAfterMs` (Retry-After) is honoured when longer than the backoff.
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = DEFAULT_RETRY,
  hooks: RetryHooks = {},
): Promise<T> {
  const sleep = hooks.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetryable(error) || attempt >= options.maxAttempts) throw error;
      const suggested = error instanceof TransientError ? (error.retryAfterMs ?? 0) : 0;
      const delay = Math.min(Math.max(backoffDelay(attempt, options, hooks.random), suggested), 60_000);
      hooks.onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';
import pLimit, { type LimitFunction } from 'p-limit';
import { type RetryOptions, withRetry } from '../../../domain/retry.ts';
import { isThrottling } from '../../../errors.ts';

/**
 * The in-flight limit of one target's writes in one Load invocation, shared by every message the
 * invocation works on at once (see {@link withInvocationLimits}).
 *
 * - **Per-key order.** A write waits for the previous write of its key to settle before it
 *   takes a slot, so two writes of one key are never in flight together and reach the target
 *   in the order they were asked for; the version gate decides the rest.
 * - **Adaptive.** Throttling halves the limit (down to 1): the target said it takes less, and
 *   retrying with as many in flight would only be throttled again. It halves once per round of
 *   `limit` attempts, since the writes already in flight were sent at the old rate and their
 *   throttling says nothing new. Each run of `limit` successes without throttling adds one
 *   back, up to the configured ceiling (additive increase, multiplicative decrease, as TCP does
 *   with a congested link).
 *
 * A write is never dropped here: throttled calls back off with jitter and retry (see
 * {@link WriteLimit.retrying}), and what still fails is reported failed, so the message is
 * redelivered.
 */
export class WriteLimit {
  readonly #ceiling: number;
  /** The limit of writes made outside any invocation scope (tests, scripts). */
  readonly #outside: InFlightLimit;

  constructor(ceiling: number) {
    if (!Number.isInteger(ceiling) || ceiling < 1)
      throw new RangeError(`a write limit is a whole number of at least 1 (got ${ceiling})`);
    this.#ceiling = ceiling;
    this.#outside = new InFlightLimit(ceiling);
  }

  #limit(): InFlightLimit {
    return perInvocation(this, () => new InFlightLimit(this.#ceiling), this.#outside);
  }

  /** Writes allowed in flight now. */
  get current(): number {
    return this.#limit().current;
  }

  /** Runs `write` for `key` once the key's previous write settled and a slot is free. */
  run<T>(key: string, write: () => Promise<T>): Promise<T> {
    return this.#limit().run(key, write);
  }

  /**
   * Runs `operation` for `key` under the limit, retrying transient failures with backoff and
   * full jitter; every attempt's result adjusts the limit. The key stays taken through the
   * backoff but the slot is given back, so a throttled write waiting out its delay does not
   * hold up other keys. A permanent error (a conditional-check failure among them) is never
   * retried.
   */
  retrying<T>(key: string, operation: () => Promise<T>, retry: RetryOptions): Promise<T> {
    return this.#limit().retrying(key, operation, retry);
  }

  /**
   * Runs `task` once the previous writes of every key in `keys` settled, holding all of them until
   * it settles: a request that writes many keys at once (a batch) keeps the per-key order of
   * {@link run}. Inside, send through {@link retryingHeld}, which takes slots but not keys.
   */
  holding<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    return this.#limit().holding(keys, task);
  }

  /**
   * {@link retrying} for a request whose keys the caller already holds (see {@link holding}):
   * each attempt takes a slot and adjusts the limit; nothing waits for a key.
   */
  retryingHeld<T>(operation: () => Promise<T>, retry: RetryOptions): Promise<T> {
    return this.#limit().retryingHeld(operation, retry);
  }

  /** Feeds one attempt's result to the limit: throttling shrinks it, a success lets it regrow. */
  observe(error?: unknown): void {
    this.#limit().observe(error);
  }
}

const invocations = new AsyncLocalStorage<Map<object, unknown>>();

/**
 * What `owner` keeps for the invocation running now (see {@link withInvocationLimits}), made by
 * `create` on first use; `outside` when no invocation scope is running (tests, scripts).
 */
export function perInvocation<T>(owner: object, create: () => T, outside: T): T {
  const scope = invocations.getStore();
  if (!scope) return outside;
  if (!scope.has(owner)) scope.set(owner, create());
  return scope.get(owner) as T;
}

/**
 * Runs one Load invocation with limits of its own: each target's writes inside `invocation`
 * share one fresh limit, so throttling shrinks it for the rest of that invocation only. On
 * Lambda an instance runs one invocation at a time; the local stack runs several in one process,
 * and each still gets the concurrency a Lambda instance would.
 */
export function withInvocationLimits<T>(invocation: () => Promise<T>): Promise<T> {
  return invocations.run(new Map(), invocation);
}

/** One {@link WriteLimit} of one invocation: the mechanics documented there. */
class InFlightLimit {
  readonly #ceiling: number;
  readonly #limit: LimitFunction;
  readonly #tails = new Map<string, Promise<unknown>>();
  #successes = 0;
  /** Attempts observed since the limit last shrank. */
  #sinceDecrease = Number.POSITIVE_INFINITY;

  constructor(ceiling: number) {
    this.#ceiling = ceiling;
    this.#limit = pLimit(ceiling);
  }

  get current(): number {
    return this.#limit.concurrency;
  }

  run<T>(key: string, write: () => Promise<T>): Promise<T> {
    return this.holding([key], () => this.#limit(write));
  }

  retrying<T>(key: string, operation: () => Promise<T>, retry: RetryOptions): Promise<T> {
    return this.holding([key], () => this.retryingHeld(operation, retry));
  }

  retryingHeld<T>(operation: () => Promise<T>, retry: RetryOptions): Promise<T> {
    const attempt = () =>
      this.#limit(async () => {
        try {
          const result = await operation();
          this.observe();
          return result;
        } catch (error) {
          this.observe(error);
          throw error;
        }
      });
    return withRetry(attempt, retry);
  }

  holding<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const previous = keys.flatMap((key) => this.#tails.get(key) ?? []);
    const settled = () => Promise.allSettled(previous);
    const result = previous.length > 0 ? settled().then(task) : task();
    for (const key of keys) this.#tails.set(key, result);
    const forget = () => {
      for (const key of keys) if (this.#tails.get(key) === result) this.#tails.delete(key);
    };
    result.then(forget, forget);
    return result;
  }

  observe(error?: unknown): void {
    this.#sinceDecrease++;
    if (error !== undefined && isThrottling(error)) {
      this.#successes = 0;
      if (this.#sinceDecrease <= this.#limit.concurrency) return;
      this.#sinceDecrease = 0;
      this.#limit.concurrency = Math.max(1, Math.floor(this.#limit.concurrency / 2));
      return;
    }
    if (error !== undefined || this.#limit.concurrency >= this.#ceiling) return;
    this.#successes++;
    if (this.#successes >= this.#limit.concurrency) {
      this.#successes = 0;
      this.#limit.concurrency++;
    }
  }
}

import { type RetryOptions, withRetry } from '../../../domain/retry.ts';
import { ConnectorError, EsyncError, TransientError } from '../../../errors.ts';

/**
 * A server that cannot be reached at all (connection refused, unknown host). Worth a few
 * retries, since a database restarting refuses connections for a moment; once the retries
 * are spent it becomes a {@link ConnectorError} that names the server, because a run that
 * keeps failing to connect needs a person, not more retries.
 */
export class UnreachableError extends TransientError {}

/** Node's codes for a connection that never opened: nothing listens there, or the name is unknown. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * A rate limit whose reset is too far away to wait for inside one call. It is not retried
 * here; it leaves as a plain {@link TransientError} (with its `retryAfterMs`) so the
 * caller's own redelivery comes back later.
 */
export class RateLimitExhaustedError extends EsyncError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Runs `operation` with the pipeline's retry policy (transient errors are retried with
 * backoff and jitter), then turns what is left into the error the caller should see.
 */
export async function retrying<T>(
  connector: string,
  retry: RetryOptions,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  try {
    return await withRetry(operation, retry);
  } catch (error) {
    if (error instanceof UnreachableError)
      throw new ConnectorError(connector, error.message, { cause: error });
    if (error instanceof RateLimitExhaustedError)
      throw new TransientError(error.message, { cause: error, retryAfterMs: error.retryAfterMs });
    throw error;
  }
}

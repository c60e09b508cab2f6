/**
 * The one error hierarchy of ESync. Every failure that crosses a module boundary is an
 * `EsyncError`; whether it is retried or quarantined is decided once, from its class,
 * by {@link isRetryable}. HTTP statuses are chosen in one place at the edge,
 * `shared/lambda/http-errors.ts`.
 */
export class EsyncError extends Error {
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration (pipeline file, environment, CLI flag) is wrong; retrying cannot help. */
export class ConfigError extends EsyncError {}

/** One problem found in a piece of input, with where it is. */
export interface Issue {
  /** Dotted path inside the input, e.g. `source.key[0]`. */
  readonly path: string;
  readonly message: string;
}

/** Input (record, webhook, request body) does not satisfy its contract. */
export class ValidationError extends EsyncError {
  readonly issues: readonly Issue[];
  constructor(message: string, issues: readonly Issue[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.issues = issues;
  }
}

/** A source or target refused or failed an operation permanently (bad credentials, missing table). */
export class ConnectorError extends EsyncError {
  readonly connector: string;
  constructor(connector: string, message: string, options?: { cause?: unknown }) {
    super(`${connector}: ${message}`, options);
    this.connector = connector;
  }
}

/** A failure that should go away by itself: throttling, timeouts, 5xx, dropped connections. */
export class TransientError extends EsyncError {
  override readonly retryable = true;
  /** Server-suggested wait before the next attempt, when it gave one. */
  readonly retryAfterMs: number | undefined;
  /** The server shed load (429, throttling) rather than failed: callers should send less. */
  readonly throttled: boolean;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number; throttled?: boolean }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
    this.throttled = options?.throttled ?? false;
  }
}

/** A write found the target changed by someone else and the strategy parks it. */
export class ConflictError extends EsyncError {}

/** The same request is being handled right now; the caller should repeat it after a pause. */
export class InProgressError extends ConflictError {
  override readonly retryable = true;
  constructor(
    message: string,
    /** When to try again (HTTP `Retry-After`). */
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A partition of a resumed plan belongs to the run that resumed it: the Extract of an earlier run
 * (still running after its execution was stopped) may neither send nor record progress for it.
 * Not retried: that run's execution is over, and the owner reads the partition again.
 */
export class PartitionTakenOverError extends ConflictError {
  constructor(
    readonly partitionId: string,
    /** The run that owns the partition now. */
    readonly owner: string,
  ) {
    super(`partition ${partitionId} was taken over by run ${owner}: this Extract stops`);
  }
}

/** The source's schema changed in a way the pipeline's `schema.onDrift` refuses to load. */
export class SchemaDriftError extends EsyncError {
  constructor(
    message: string,
    /** Columns added, removed and retyped. */
    readonly changes: number,
  ) {
    super(message);
  }
}

/** A request body comes in a media type the endpoint does not take (`content-type`). */
export class UnsupportedMediaTypeError extends ValidationError {}

/** A named thing (pipeline, run, conflict) does not exist. */
export class NotFoundError extends EsyncError {}

/** The caller is not allowed (bad signature, missing credentials). */
export class UnauthorizedError extends EsyncError {}

/** A request or message exceeds a size limit. */
export class TooLargeError extends EsyncError {}

/** Names of the errors by which AWS services shed load; a subset of the transient ones. */
const THROTTLING_AWS_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
]);

const TRANSIENT_AWS_NAMES = new Set([
  ...THROTTLING_AWS_NAMES,
  'ServiceUnavailable',
  'InternalServerError',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'TransactionConflictException',
]);

const TRANSIENT_NODE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  '57P01', // PostgreSQL admin_shutdown: the connection was dropped under us
  '08006', // PostgreSQL connection_failure
  '08003',
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // PostgreSQL lock_not_available: a lock_timeout ran out behind other sessions
  'PROTOCOL_CONNECTION_LOST',
]);

/**
 * Decides, once for the whole code base, whether an error is worth retrying.
 * Our own classes say so themselves; foreign errors (AWS SDK, pg, fetch) are judged by
 * their name, code or HTTP status.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof EsyncError) return error.retryable;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as {
    name?: unknown;
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  };
  if (typeof e.name === 'string' && TRANSIENT_AWS_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && TRANSIENT_NODE_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status === 429 || status >= 500)) return true;
  if (e.cause !== undefined && e.cause !== error) return isRetryable(e.cause);
  return false;
}

/** A short, log-safe description of an error: class and message, never a payload. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'UnknownError', message: String(error) };
}

/**
 * Whether an error says the server is shedding load (throttling, 429, S3 SlowDown), the signal
 * on which callers reduce how much they send at once. Other transient errors (5xx, dropped
 * connections) are retried without it.
 */
export function isThrottling(error: unknown): boolean {
  if (error instanceof TransientError && error.throttled) return true;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (typeof e.name === 'string' && THROTTLING_AWS_NAMES.has(e.name)) return true;
  if (e.$metadata?.httpStatusCode === 429) return true;
  return e.cause !== undefined && e.cause !== error && isThrottling(e.cause);
}

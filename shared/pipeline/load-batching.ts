import { ConfigError } from '../errors.ts';
import { isPushOnlySource } from './push-only-sources.ts';

/**
 * How the load queue feeds Load: messages per invocation and how long SQS may gather them. The
 * pipeline schema, the CDK construct and the local event source all check these with
 * {@link loadBatchingProblem}, so `esync validate`, synth and the local stack refuse the same values.
 */
export const LOAD_BATCH_SIZE = { min: 1, max: 100 } as const;

/**
 * Messages per Load invocation unless a pipeline says: two messages of up to 500 records (the
 * `batch.size` default) keep an invocation at about 1,000 records.
 */
export const DEFAULT_LOAD_BATCH_SIZE = 2;

/**
 * Messages per Load invocation unless a pipeline says, when its messages are pushed changes (one
 * change a message): ten keep its invocations as few as before Extract packed 500 records a message.
 */
export const PUSHED_LOAD_BATCH_SIZE = 10;

/** The `load.batchSize` of a pipeline that does not set one, by its source type. */
export function defaultLoadBatchSize(sourceType: string): number {
  return isPushOnlySource(sourceType) ? PUSHED_LOAD_BATCH_SIZE : DEFAULT_LOAD_BATCH_SIZE;
}

/** Seconds SQS may gather a batch; 300 is the AWS maximum. */
export const LOAD_BATCHING_WINDOW_SECONDS = { min: 0, max: 300 } as const;

/**
 * SQS hands over at most 10 messages per receive, so AWS takes a larger batch size only with a
 * batching window of at least a second to gather it in.
 */
export const BATCH_SIZE_WITHOUT_WINDOW = 10;

/** What is wrong with a batch size and window pair, and which of the two it concerns. */
export interface LoadBatchingProblem {
  readonly field: 'batchSize' | 'batchingWindowSeconds';
  readonly message: string;
}

function outOfRange(value: number, range: { readonly min: number; readonly max: number }): boolean {
  return !Number.isInteger(value) || value < range.min || value > range.max;
}

/** The first thing wrong with a batch size and batching window, or `undefined` when AWS takes them. */
export function loadBatchingProblem(
  batchSize: number,
  windowSeconds: number,
): LoadBatchingProblem | undefined {
  if (outOfRange(batchSize, LOAD_BATCH_SIZE))
    return {
      field: 'batchSize',
      message: `batchSize must be an integer from ${LOAD_BATCH_SIZE.min} to ${LOAD_BATCH_SIZE.max}, got ${batchSize}`,
    };
  if (outOfRange(windowSeconds, LOAD_BATCHING_WINDOW_SECONDS))
    return {
      field: 'batchingWindowSeconds',
      message: `batchingWindowSeconds must be an integer from ${LOAD_BATCHING_WINDOW_SECONDS.min} to ${LOAD_BATCHING_WINDOW_SECONDS.max}, got ${windowSeconds}`,
    };
  if (batchSize > BATCH_SIZE_WITHOUT_WINDOW && windowSeconds < 1)
    return {
      field: 'batchingWindowSeconds',
      message: `a batchSize above ${BATCH_SIZE_WITHOUT_WINDOW} (got ${batchSize}) needs batchingWindowSeconds of at least 1, got ${windowSeconds}: SQS hands over 10 messages per receive`,
    };
  return undefined;
}

/** SQS's largest message since August 2025, and the most one SendMessageBatch call carries. */
export const SQS_MAX_MESSAGE_BYTES = 1_048_576;

/** Lambda's payload limit for a synchronous invocation, which a batch of the load queue must fit. */
export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * What an SQS event record takes besides its escaped body, with room to spare: the quotes around
 * the body, message id, receipt handle, attributes, MD5 and queue ARN (about 700 bytes on AWS),
 * and the event's own `{"Records":[…]}` shared out.
 */
export const SQS_EVENT_RECORD_OVERHEAD_BYTES = 2048;

/**
 * Bytes a load-queue message body may take escaped as a JSON string (how Lambda's event carries
 * it), so that `batchSize` messages, each at this size, make an event within Lambda's payload
 * limit: packing holds every message to it, so a full batch never depends on how the event
 * source treats a batch above the limit.
 * @throws ConfigError for a batch size out of {@link LOAD_BATCH_SIZE}.
 */
export function messageEventBytesLimit(batchSize: number): number {
  if (outOfRange(batchSize, LOAD_BATCH_SIZE))
    throw new ConfigError(
      `load.batchSize must be an integer from ${LOAD_BATCH_SIZE.min} to ${LOAD_BATCH_SIZE.max}, got ${batchSize}`,
    );
  return Math.floor(LAMBDA_PAYLOAD_BYTES / batchSize) - SQS_EVENT_RECORD_OVERHEAD_BYTES;
}

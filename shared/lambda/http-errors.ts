import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';
import {
  ConflictError,
  InProgressError,
  isRetryable,
  isThrottling,
  NotFoundError,
  TooLargeError,
  TransientError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';
import { stringifyExactJson } from '../records/exact-json.ts';
import { zodIssues } from '../usecases/api/common.ts';

/** What an HTTP edge answers: its status, a JSON body and any headers beyond `content-type`. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An answer as API Gateway's HTTP API takes it from a function: a JSON body that keeps every digit. */
export function jsonResult(answer: HttpAnswer): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: answer.status,
    headers: { 'content-type': 'application/json', ...answer.headers },
    body: stringifyExactJson(answer.body),
  };
}

/** `Retry-After` of a transient failure that named no wait of its own. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

const retryAfter = (seconds: number) => ({ 'retry-after': String(Math.max(1, Math.ceil(seconds))) });

/** A transient failure: 429 when the service behind us sheds load (send less), 503 otherwise. */
function transientAnswer(error: unknown, requestId: string): HttpAnswer {
  const own = error instanceof TransientError ? error : undefined;
  const waitMs = own?.retryAfterMs ?? DEFAULT_RETRY_AFTER_SECONDS * 1000;
  // Only our own transient errors say why; a foreign one (AWS SDK, driver) may name resources.
  const why = own ? `: ${own.message}` : '';
  const throttled = isThrottling(error);
  return {
    status: throttled ? 429 : 503,
    body: {
      error: `${throttled ? 'too many requests' : 'temporarily unavailable'}, try again${why}`,
      requestId,
    },
    headers: retryAfter(waitMs / 1000),
  };
}

/**
 * Maps an error to its HTTP answer: the one place statuses are chosen, for the management API
 * and the webhook receiver alike. Bad input is a 4xx saying what is wrong and where; a failure
 * that may pass is a 429 or 503 with `Retry-After`; anything else is a 500 with the request id
 * only, so no internal detail leaks (the caller logs the cause).
 */
export function httpErrorAnswer(error: unknown, requestId: string): HttpAnswer {
  if (error instanceof z.ZodError)
    return { status: 400, body: { error: 'invalid request', issues: zodIssues(error) } };
  if (error instanceof UnsupportedMediaTypeError)
    return { status: 415, body: { error: error.message, issues: error.issues } };
  if (error instanceof ValidationError)
    return { status: 400, body: { error: error.message, issues: error.issues } };
  if (error instanceof UnauthorizedError) return { status: 401, body: { error: error.message } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: error.message } };
  if (error instanceof InProgressError)
    return { status: 409, body: { error: error.message }, headers: retryAfter(error.retryAfterSeconds) };
  if (error instanceof ConflictError) return { status: 409, body: { error: error.message } };
  if (error instanceof TooLargeError) return { status: 413, body: { error: error.message } };
  if (isRetryable(error)) return transientAnswer(error, requestId);
  return { status: 500, body: { error: 'internal error', requestId } };
}

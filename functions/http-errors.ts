import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ConflictError,
  InProgressError,
  NotFoundError,
  TooLargeError,
  UnauthorizedError,
  ValidationError,
} from '../shared/errors.ts';

/**
 * Maps an error to an HTTP answer — the only place statuses are chosen. Known input errors say
 * what is wrong; anything else is a 500 with the request id only, its cause kept for the logs.
 */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  const json = (statusCode: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 => ({
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (error instanceof UnauthorizedError) return json(401, { error: error.message });
  if (error instanceof NotFoundError) return json(404, { error: error.message });
  if (error instanceof InProgressError)
    return {
      ...json(409, { error: error.message }),
      headers: { 'content-type': 'application/json', 'retry-after': String(error.retryAfterSeconds) },
    };
  if (error instanceof ConflictError) return json(409, { error: error.message });
  if (error instanceof TooLargeError) return json(413, { error: error.message });
  if (error instanceof ValidationError) return json(400, { error: error.message, issues: error.issues });
  if ((error as { name?: string }).name === 'ZodError')
    return json(400, {
      error: 'the request does not match its schema',
      issues: ((error as { issues?: { path: unknown[]; message: string }[] }).issues ?? []).map((i) => ({
        path: i.path.join('.'),
        message: i.message,
      })),
    });
  return json(500, { error: 'internal error', requestId });
}

import { randomUUID } from 'node:crypto';
import { describeError, ValidationError } from '../../errors.ts';
import { httpErrorAnswer } from '../../lambda/http-errors.ts';
import { parseExactJson } from '../../records/exact-json.ts';
import type { Deps } from '../deps.ts';
import { listAudit } from './audit.ts';
import { getCheckpoint, resetCheckpoint } from './checkpoint.ts';
import type { ManagementRequest, ManagementResponse, RouteContext } from './common.ts';
import { getConflict, listConflicts, resolveParkedConflict } from './conflicts.ts';
import { recordHistory } from './history.ts';
import { health, peekDeadLetters, redriveDeadLetters } from './queues.ts';
import { getRun, getRunHistory, listRuns, startRun } from './runs.ts';
import { getStream } from './stream.ts';

export type { ManagementRequest, ManagementResponse } from './common.ts';

interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path template with `{name}` segments, as declared on the HTTP API. */
  readonly template: string;
  readonly handler: (ctx: RouteContext) => Promise<ManagementResponse>;
}

/** Every management route; the HTTP API (infra/constructs/http-api.ts) declares the same pairs. */
export const MANAGEMENT_ROUTES: readonly Route[] = [
  { method: 'GET', template: '/health', handler: health },
  { method: 'GET', template: '/runs', handler: listRuns },
  { method: 'GET', template: '/runs/{id}', handler: getRun },
  { method: 'GET', template: '/runs/{id}/history', handler: getRunHistory },
  { method: 'POST', template: '/pipelines/{name}/runs', handler: startRun },
  { method: 'GET', template: '/conflicts', handler: listConflicts },
  { method: 'GET', template: '/conflicts/{id}', handler: getConflict },
  { method: 'POST', template: '/conflicts/{id}/resolve', handler: resolveParkedConflict },
  { method: 'GET', template: '/pipelines/{name}/checkpoint', handler: getCheckpoint },
  { method: 'PUT', template: '/pipelines/{name}/checkpoint', handler: resetCheckpoint },
  { method: 'GET', template: '/pipelines/{name}/stream', handler: getStream },
  { method: 'GET', template: '/pipelines/{name}/dlq', handler: peekDeadLetters },
  { method: 'POST', template: '/pipelines/{name}/dlq/redrive', handler: redriveDeadLetters },
  { method: 'GET', template: '/pipelines/{name}/records/{key}/history', handler: recordHistory },
  { method: 'GET', template: '/audit', handler: listAudit },
];

/** Matches a path against a template: its decoded parameters, or undefined when it does not match. */
function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.replace(/(.)\/+$/, '$1').split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of want.entries()) {
    const actual = got[i] ?? '';
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name === undefined) {
      if (part !== actual) return undefined;
      continue;
    }
    if (actual === '') return undefined;
    try {
      params[name] = decodeURIComponent(actual);
    } catch {
      throw new ValidationError(`path segment "${actual}" is not valid percent-encoding`, [
        { path: name, message: 'not valid percent-encoding' },
      ]);
    }
  }
  return params;
}

function parseBody(body: string | undefined): unknown {
  if (body === undefined || body.trim() === '') return undefined;
  try {
    return parseExactJson(body);
  } catch (error) {
    throw new ValidationError(`request body is not valid JSON: ${(error as Error).message}`, [
      { path: '(body)', message: 'not valid JSON' },
    ]);
  }
}

/** Answers an error as the one HTTP mapper does, logging the cause of a 5xx with the request. */
function errorResponse(deps: Deps, request: ManagementRequest, error: unknown): ManagementResponse {
  const requestId = request.requestId ?? randomUUID();
  const answer = httpErrorAnswer(error, requestId);
  if (answer.status < 500 && answer.status !== 429) return answer;
  const where = { requestId, method: request.method, path: request.path, error: describeError(error) };
  if (answer.status !== 500) deps.log.warn('management request hit a transient failure', where);
  else
    deps.log.error('management request failed', {
      ...where,
      cause: error instanceof Error && error.cause !== undefined ? describeError(error.cause) : undefined,
    });
  return answer;
}

/**
 * Serves one management API call: routes it, validates its input, runs it, and maps the
 * outcome to a status and JSON body. Every mutating route writes an audit entry naming the
 * principal. Never throws: errors are answered by `httpErrorAnswer` (shared/lambda/http-errors.ts);
 * unexpected ones are logged with their cause and answered `500 {error: 'internal error', requestId}`.
 */
export async function handleManagementRequest(
  deps: Deps,
  request: ManagementRequest,
): Promise<ManagementResponse> {
  try {
    const method = request.method.toUpperCase();
    const path = request.path.split('?')[0] ?? '';
    const allowed: string[] = [];
    for (const route of MANAGEMENT_ROUTES) {
      const params = matchTemplate(route.template, path);
      if (params === undefined) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      return await route.handler({
        deps,
        request,
        params,
        query: request.query ?? {},
        body: parseBody(request.body),
        principal: request.principal,
      });
    }
    if (allowed.length > 0)
      return {
        status: 405,
        body: { error: `${method} is not allowed on ${path}; use ${allowed.join(' or ')}` },
      };
    return { status: 404, body: { error: `no management route ${method} ${path}` } };
  } catch (error) {
    return errorResponse(deps, request, error);
  }
}

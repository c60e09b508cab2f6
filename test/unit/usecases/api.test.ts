import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  ConflictError,
  InProgressError,
  NotFoundError,
  TooLargeError,
  TransientError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../../shared/errors.ts';
import { DEFAULT_RETRY_AFTER_SECONDS } from '../../../shared/lambda/http-errors.ts';
import type { ConflictRecord } from '../../../shared/state/conflicts.ts';
import { zodIssues } from '../../../shared/usecases/api/common.ts';
import { conflictDifferences } from '../../../shared/usecases/api/conflicts.ts';
import { summarizeBody } from '../../../shared/usecases/api/queues.ts';
import { handleManagementRequest } from '../../../shared/usecases/api/routes.ts';
import { newRunId } from '../../../shared/usecases/api/runs.ts';
import type { Deps, Log } from '../../../shared/usecases/deps.ts';

/** Deps whose run lookup fails with `error`; nothing else is reached by GET /runs/{id}. */
function depsFailingWith(error: unknown, logged: unknown[] = []): Deps {
  const log: Log = { info() {}, warn: (...a) => logged.push(a), error: (...a) => logged.push(a) };
  return {
    log,
    state: {
      runs: {
        get: () => Promise.reject(error),
      },
    },
  } as unknown as Deps;
}

const get = (deps: Deps, path: string) =>
  handleManagementRequest(deps, { method: 'GET', path, principal: 'p', requestId: 'r-1' });

describe('newRunId', () => {
  it('names the pipeline, the UTC second and six base36 characters', () => {
    const id = newRunId('users-sync', new Date('2025-01-02T03:04:05.678Z'));

    expect(id).toMatch(/^users-sync-20250102T030405Z-[0-9a-z]{6}$/);
  });

  it('differs between two runs started in the same second', () => {
    const now = new Date('2025-01-02T03:04:05Z');

    const ids = new Set(Array.from({ length: 50 }, () => newRunId('p', now)));

    expect(ids.size).toBe(50);
  });
});

describe('error mapping', () => {
  it.each([
    [
      'a bad field',
      new ValidationError('limit must be positive', [{ path: 'limit', message: 'too small' }]),
      400,
    ],
    ['a refused signature', new UnauthorizedError('signature does not match'), 401],
    ['a missing run', new NotFoundError('run "x" does not exist'), 404],
    ['a conflict resolved twice', new ConflictError('already resolved'), 409],
    ['a body over its limit', new TooLargeError('the body has 2048 bytes; at most 1024'), 413],
    ['a body that is not JSON', new UnsupportedMediaTypeError('content-type must be application/json'), 415],
  ])('answers %s with %i and its own message', async (_, error, status) => {
    const response = await get(depsFailingWith(error), '/runs/x');

    expect(response.status).toBe(status);
    expect(response.body.error).toBe(error.message);
    if (error instanceof ValidationError) expect(response.body.issues).toEqual(error.issues);
  });

  it('answers a request being handled right now with 409 and its Retry-After', async () => {
    const response = await get(depsFailingWith(new InProgressError('being accepted', 3)), '/runs/x');

    expect(response).toEqual({
      status: 409,
      body: { error: 'being accepted' },
      headers: { 'retry-after': '3' },
    });
  });

  it('answers a transient failure with 503 and Retry-After, the wait it named or 5 s, and logs it', async () => {
    const logged: unknown[] = [];
    const named = new TransientError('connection dropped', { retryAfterMs: 1_500 });

    const answers = [
      await get(depsFailingWith(named, logged), '/runs/x'),
      await get(depsFailingWith(Object.assign(new Error('socket'), { code: 'ECONNRESET' })), '/runs/x'),
    ];

    expect(answers).toEqual([
      {
        status: 503,
        body: { error: 'temporarily unavailable, try again: connection dropped', requestId: 'r-1' },
        headers: { 'retry-after': '2' },
      },
      {
        status: 503,
        body: { error: 'temporarily unavailable, try again', requestId: 'r-1' },
        headers: { 'retry-after': String(DEFAULT_RETRY_AFTER_SECONDS) },
      },
    ]);
    expect(JSON.stringify(logged)).toContain('connection dropped');
  });

  it('answers a service that sheds load with 429 and Retry-After, without the foreign message', async () => {
    const throttled = Object.assign(new Error('Rate exceeded for table esync-prod-core-state'), {
      name: 'ThrottlingException',
    });

    const response = await get(depsFailingWith(throttled), '/runs/x');

    expect(response).toEqual({
      status: 429,
      body: { error: 'too many requests, try again', requestId: 'r-1' },
      headers: { 'retry-after': String(DEFAULT_RETRY_AFTER_SECONDS) },
    });
  });

  it('answers anything else with 500 and the request id, never the message, and logs the cause', async () => {
    const logged: unknown[] = [];

    const response = await get(depsFailingWith(new Error('password=hunter2 rejected'), logged), '/runs/x');

    expect(response).toEqual({ status: 500, body: { error: 'internal error', requestId: 'r-1' } });
    expect(JSON.stringify(logged)).toContain('password=hunter2 rejected');
  });

  it('answers a path segment that is not valid percent-encoding with 400', async () => {
    const response = await get(depsFailingWith(new Error('unreached')), '/runs/%E0%A4%A');

    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/not valid percent-encoding/);
  });

  it('routes a trailing slash like the path without it', async () => {
    const response = await get(depsFailingWith(new NotFoundError('run "x" does not exist')), '/runs/x/');

    expect(response.status).toBe(404);
    expect(response.body.error).toBe('run "x" does not exist');
  });
});

describe('zodIssues', () => {
  it('writes issue paths with dots and indexes, and names the root', () => {
    const schema = z.object({ a: z.object({ b: z.array(z.string()) }) });
    const invalid = schema.safeParse({ a: { b: ['x', 1] } });
    const notObject = schema.safeParse(3);

    expect(invalid.success || zodIssues(invalid.error)[0]?.path).toBe('a.b[1]');
    expect(notObject.success || zodIssues(notObject.error, '(query)')[0]?.path).toBe('(query)');
  });
});

describe('conflictDifferences', () => {
  const conflict = (fields: string[], base?: Record<string, unknown>): ConflictRecord => ({
    id: 'c',
    pipeline: 'p',
    key: 'k',
    status: 'open',
    createdAt: '',
    strategy: 'field-merge',
    fields,
    source: { version: 'v2', data: { a: 1, b: { x: [1, 2] }, c: 'same', d: 'only-source' } },
    target: { version: 'v1', data: { a: 2, b: { x: [1, 2] }, c: 'same', e: 'only-target' } },
    ...(base ? { base } : {}),
  });

  it('lists the fields whose values differ, marking those in conflict', () => {
    expect(conflictDifferences(conflict(['a']))).toEqual([
      { field: 'a', source: 1, target: 2, inConflict: true },
      { field: 'd', source: 'only-source', target: null, inConflict: false },
      { field: 'e', source: null, target: 'only-target', inConflict: false },
    ]);
  });

  it('adds the base value when the conflict kept one, and marks every field of a whole-record conflict', () => {
    const differences = conflictDifferences(conflict([], { a: 0 }));

    expect(differences[0]).toEqual({ field: 'a', source: 1, target: 2, base: 0, inConflict: true });
    expect(differences.every((d) => d.inConflict)).toBe(true);
  });
});

describe('summarizeBody', () => {
  it('summarizes a records message by its keys, never its data', () => {
    const body = JSON.stringify({
      kind: 'records',
      v: 1,
      pipeline: 'p',
      messageKey: 'mk',
      scope: 'RUN#r1',
      records: ['a', 'b', 'c', 'd', 'e', 'f'].map((key) => ({
        key,
        op: 'upsert',
        version: 'v',
        ts: '2025-01-01T00:00:00Z',
        data: { ssn: '123-45-6789' },
        hash: 'h',
        provenance: { pipeline: 'p' },
      })),
    });

    const summary = summarizeBody(body);

    expect(summary).toEqual({
      kind: 'records',
      scope: 'RUN#r1',
      messageKey: 'mk',
      records: 6,
      keys: ['a', 'b', 'c', 'd', 'e'],
    });
    expect(JSON.stringify(summary)).not.toContain('123-45-6789');
  });

  it('summarizes a claim check, an EventBridge event, other JSON and text', () => {
    const claim = {
      kind: 'claim-check',
      v: 1,
      pipeline: 'p',
      messageKey: 'm',
      scope: 's',
      count: 3,
      bucket: 'b',
      key: 'k',
    };

    expect(summarizeBody(JSON.stringify(claim))).toEqual({
      kind: 'claim-check',
      scope: 's',
      messageKey: 'm',
      records: 3,
      object: 's3://b/k',
    });
    expect(summarizeBody(JSON.stringify({ 'detail-type': 'esync.change', source: 'app', id: 'e1' }))).toEqual(
      {
        kind: 'event',
        detailType: 'esync.change',
        source: 'app',
        id: 'e1',
      },
    );
    expect(summarizeBody('{"x":1}')).toEqual({ kind: 'json', preview: '{"x":1}' });
    expect(summarizeBody('x'.repeat(300))).toEqual({ kind: 'text', preview: 'x'.repeat(200) });
  });
});

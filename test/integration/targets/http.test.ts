import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTarget, retryAfterMs } from '../../../shared/connectors/targets/http/http-target.ts';
import { ConfigError, ConnectorError, TransientError, ValidationError } from '../../../shared/errors.ts';
import type { PipelineInput } from '../../../shared/pipeline/schema.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { HttpTargetServer } from '../../support/http-target-server.ts';
import { recordingTimerDelays } from '../../support/timer-delays.ts';
import { collect, localClients, remove, targetContext, upsert } from './support.ts';

const clients = localClients({
  sqs: 'http://127.0.0.1:1',
  dynamodb: 'http://127.0.0.1:1',
  s3: 'http://127.0.0.1:1',
});
let server: HttpTargetServer;

type HttpTargetInput = Extract<PipelineInput['target'], { type: 'http' }>;

function target(
  config: Partial<HttpTargetInput> = {},
  secrets: Record<string, string> = { 'crm-token': 's3cr3t' },
) {
  const input = {
    type: 'http',
    url: `${server.url}/users/{key}`,
    auth: { secret: 'crm-token' },
    ...config,
  } as const;
  const context = targetContext(input, clients, { secrets });
  return createHttpTarget(context.pipeline.target as Parameters<typeof createHttpTarget>[0], context);
}

beforeEach(async () => {
  server = await new HttpTargetServer({ token: 's3cr3t' }).start();
});

afterEach(async () => {
  await server.stop();
});

describe('http target', () => {
  it('discovers a reachable API that accepts the token', async () => {
    // Act
    const result = await target().discover();

    // Assess
    expect(result).toEqual({ exists: true, detail: expect.stringContaining('answers GET with 404') });
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: '/users/esync-discover-probe' });
  });

  it('fails discover with a ConnectorError when the API refuses the token', async () => {
    // Act
    const refused = target({}, { 'crm-token': 'wrong' }).discover();

    // Assess
    await expect(refused).rejects.toThrow(ConnectorError);
    await expect(refused).rejects.toThrow(/answered 401: the API refuses the token in secret "crm-token"/);
  });

  it('fails discover with a TransientError when the API is down', async () => {
    // Prepare
    await server.stop();

    // Act
    const down = target().discover();

    // Assess
    await expect(down).rejects.toThrow(TransientError);
    await expect(down).rejects.toThrow(/got no answer \(ECONNREFUSED\)/);
  });

  it('PUTs upserts and DELETEs deletes with an Idempotency-Key, the version and the bearer token', async () => {
    // Prepare
    await target().write([upsert('a/b c', 1, { id: 'a/b c' })]);
    server.requests.length = 0;

    // Act
    const outcomes = await target().write([
      upsert('1', 2, { id: 1, name: 'Ada' }, 'msg-9'),
      remove('a/b c', 3, 'msg-9'),
    ]);

    // Assess
    expect(outcomes).toEqual([
      { key: '1', status: 'applied' },
      { key: 'a/b c', status: 'applied' },
    ]);
    const [put, del] = [...server.requests].sort((a, b) => a.method.localeCompare(b.method)).reverse();
    expect(put).toMatchObject({
      method: 'PUT',
      path: '/users/1',
      body: JSON.stringify({ id: 1, name: 'Ada' }),
    });
    expect(put?.headers).toMatchObject({
      'idempotency-key': `msg-9:1:${positionVersion(2)}`,
      'esync-version': positionVersion(2),
      authorization: 'Bearer s3cr3t',
      'content-type': 'application/json',
    });
    expect(del).toMatchObject({ method: 'DELETE', path: '/users/a%2Fb%20c' });
    expect(server.records.has('a/b c')).toBe(false);
    expect(server.records.get('1')?.body).toEqual({ id: 1, name: 'Ada' });
  });

  it('treats a DELETE of a record the API no longer has as applied', async () => {
    // Act
    const outcomes = await target().write([remove('never-there', 1)]);

    // Assess
    expect(outcomes).toEqual([{ key: 'never-there', status: 'applied' }]);
  });

  it('reports 409 and 412 answers as stale', async () => {
    // Prepare
    const gated = await new HttpTargetServer({ token: 's3cr3t', versionGate: true }).start();
    const t = target({ url: `${gated.url}/users/{key}` });
    await t.write([upsert('1', 5, { v: 5 })]);

    // Act
    const older = await t.write([upsert('1', 4, { v: 4 })]);
    gated.failNext({ status: 412 });
    const precondition = await t.write([upsert('2', 1, { v: 1 })]);
    await gated.stop();

    // Assess
    expect(older).toEqual([{ key: '1', status: 'stale' }]);
    expect(precondition).toEqual([{ key: '2', status: 'stale' }]);
    expect(gated.records.get('1')?.body).toEqual({ v: 5 });
  });

  it('retries 503 and 429 answers and sends the same Idempotency-Key each time', async () => {
    // Prepare
    server.failNext({ status: 503 }, { status: 429, headers: { 'retry-after': '0' } });

    // Act
    const outcomes = await target().write([upsert('1', 1, { id: 1 }, 'msg-1')]);

    // Assess
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
    expect(server.requests.map((r) => r.status)).toEqual([503, 429, 201]);
    expect(new Set(server.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  });

  it('keeps at most `concurrency` requests in flight over kept-alive connections', async () => {
    // Prepare
    await server.stop();
    server = await new HttpTargetServer({ token: 's3cr3t', latencyMs: 15 }).start();
    const writes = Array.from({ length: 40 }, (_, i) => upsert(`k${i}`, 1, { id: i }));

    // Act
    const outcomes = await target({ concurrency: 4 }).write(writes);

    // Assess
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(server.maxInFlight).toBe(4);
    // Without keep-alive each of the 40 requests would open its own; fetch's pool may hold a spare per slot.
    expect(server.connections).toBeLessThanOrEqual(2 * 4);
  });

  it('sends fewer requests at once after the API answered 429', async () => {
    // Prepare
    await server.stop();
    server = await new HttpTargetServer({ token: 's3cr3t', latencyMs: 15 }).start();
    const t = target({ concurrency: 8 });
    server.failNext(...Array.from({ length: 4 }, () => ({ status: 429, headers: { 'retry-after': '0' } })));
    await t.write(Array.from({ length: 8 }, (_, i) => upsert(`a${i}`, 1, { id: i })));
    const before = server.maxInFlight;
    server.resetMaxInFlight();

    // Act
    const outcomes = await t.write(Array.from({ length: 16 }, (_, i) => upsert(`b${i}`, 1, { id: i })));

    // Assess
    expect(before).toBe(8);
    expect(server.maxInFlight).toBeLessThan(8);
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
  });

  it('waits as long as Retry-After asks before retrying', async () => {
    // Prepare
    server.failNext({ status: 429, headers: { 'retry-after': '1' } });

    // Act
    const { result: outcomes, delays } = await recordingTimerDelays(() =>
      target().write([upsert('1', 1, { id: 1 })]),
    );

    // Assess
    expect(outcomes[0]?.status).toBe('applied');
    expect(delays).toContain(1000);
  });

  it('fails a record with a TransientError when the API keeps answering 503', async () => {
    // Prepare
    server.failNext(...Array.from({ length: 10 }, () => ({ status: 503 })));

    // Act
    const [outcome] = await target().write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(outcome).toMatchObject({ key: '1', status: 'failed', error: expect.any(TransientError) });
    expect((outcome as { error: Error }).error.message).toContain('answered 503');
  });

  it('fails only the record the API refuses with a 4xx, naming the status and the reason', async () => {
    // Act
    const outcomes = await target().write([upsert('1', 1, { invalid: true }), upsert('2', 1, { id: 2 })]);

    // Assess
    expect(outcomes[0]).toMatchObject({ key: '1', status: 'failed', error: expect.any(ValidationError) });
    expect((outcomes[0] as { error: Error }).error.message).toMatch(
      /PUT .*\/users\/1 answered 422: .*invalid.* is not accepted/,
    );
    expect(outcomes[1]).toEqual({ key: '2', status: 'applied' });
  });

  it('stops the batch with a ConnectorError when the token is refused', async () => {
    // Act
    const writing = target({}, { 'crm-token': 'wrong' }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    await expect(writing).rejects.toThrow(ConnectorError);
    await expect(writing).rejects.toThrow(/answered 401.*secret "crm-token"/);
    await expect(writing).rejects.not.toThrow(/wrong/);
  });

  it('gives a TransientError naming the URL when the API cannot be reached', async () => {
    // Prepare
    const url = server.url;
    await server.stop();

    // Act
    const [outcome] = await target({ url: `${url}/users/{key}` }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', error: expect.any(TransientError) });
    expect((outcome as { error: Error }).error.message).toContain(
      `${url}/users/1 got no answer (ECONNREFUSED)`,
    );
  });

  it('sends only the newest of two changes of one key in a batch', async () => {
    // Act
    const outcomes = await target().write([upsert('1', 2, { v: 'new' }), upsert('1', 1, { v: 'old' })]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'stale']);
    expect(server.requests).toHaveLength(1);
    expect(server.records.get('1')?.body).toEqual({ v: 'new' });
  });

  it('reads state by GET when asked to, and keeps none otherwise', async () => {
    // Prepare
    await target().write([upsert('1', 7, { id: 1, name: 'Ada' })]);

    // Act
    const none = await target().readState(['1'], { withData: true });
    const got = await target({ readState: 'get' }).readState(['1', 'missing'], { withData: true });

    // Assess
    expect(none.size).toBe(0);
    expect(got.get('1')).toEqual({
      version: positionVersion(7),
      hash: contentHash({ id: 1, name: 'Ada' }),
      deleted: false,
      data: { id: 1, name: 'Ada' },
    });
    expect(got.has('missing')).toBe(false);
  });

  it('refuses to snapshot for Verify, saying how to turn Verify off', async () => {
    // Act
    const snapshotting = collect(target().snapshot());

    // Assess
    await expect(snapshotting).rejects.toThrow(ConfigError);
    await expect(snapshotting).rejects.toThrow(/verify.mode: off/);
  });

  it('accepts a token secret stored as JSON and refuses JSON without a token', async () => {
    // Act
    const json = await target({}, { 'crm-token': JSON.stringify({ token: 's3cr3t' }) }).write([
      upsert('1', 1, { id: 1 }),
    ]);
    const discovering = target({}, { 'crm-token': JSON.stringify({ tok: 's3cr3t' }) }).discover();

    // Assess
    expect(json[0]?.status).toBe('applied');
    await expect(discovering).rejects.toThrow(ConfigError);
    await expect(discovering).rejects.not.toThrow(/s3cr3t/);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates', () => {
    // Act
    const seconds = retryAfterMs('3');
    const date = retryAfterMs('Wed, 21 Oct 2026 07:28:05 GMT', Date.parse('Wed, 21 Oct 2026 07:28:00 GMT'));
    const garbage = retryAfterMs('soon');

    // Assess
    expect(seconds).toBe(3000);
    expect(date).toBe(5000);
    expect(garbage).toBeUndefined();
  });
});

import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { META } from '../../../shared/connectors/targets/dynamodb/dynamodb-target.ts';
import { archiveObjectKey } from '../../../shared/connectors/targets/s3/lake-layout.ts';
import type { RecordData } from '../../../shared/records/envelope.ts';
import { exactNumber, stringifyExactJson } from '../../../shared/records/exact-json.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { conflictId } from '../../../shared/state/conflicts.ts';
import { keys } from '../../../shared/state/keys.ts';
import { handleManagementRequest, type ManagementResponse } from '../../../shared/usecases/api/routes.ts';
import { type ApiHarness, buildDeps, startApiHarness } from './harness.ts';

const PRINCIPAL = 'arn:aws:iam::123456789012:user/ops-alice';

let h: ApiHarness;

beforeAll(async () => {
  h = await startApiHarness();
});

afterAll(async () => {
  await h?.stop();
});

interface CallOptions {
  readonly query?: Record<string, string>;
  readonly body?: unknown;
  readonly rawBody?: string;
}

function call(method: string, path: string, options: CallOptions = {}): Promise<ManagementResponse> {
  return handleManagementRequest(h.deps, {
    method,
    path,
    query: options.query,
    body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    principal: PRINCIPAL,
    requestId: 'req-1',
  });
}

const issuePaths = (response: ManagementResponse) =>
  ((response.body.issues as { path: string }[] | undefined) ?? []).map((i) => i.path);

async function seedRun(
  runId: string,
  pipeline: string,
  startedAt: string,
  outcome: 'running' | 'succeeded' | 'failed' = 'succeeded',
): Promise<void> {
  await h.deps.state.runs.create({ runId, pipeline, trigger: 'schedule', startedAt }, 90);
  if (outcome !== 'running')
    await h.deps.state.runs.update(runId, {
      status: outcome,
      endedAt: new Date(Date.parse(startedAt) + 60_000).toISOString(),
      ...(outcome === 'failed' ? { failure: { error: 'VerifyFailedError', cause: '3 records differ' } } : {}),
    });
}

async function auditOf(pipeline: string) {
  return h.deps.state.audit.list(pipeline);
}

describe('runs', () => {
  it('starts a manual run: StartExecution named by the new run id, a run record and an audit entry', async () => {
    // Act
    const response = await call('POST', '/pipelines/users-sync/runs', {
      body: { reason: 'backfill after outage' },
    });

    // Assess
    expect(response.status).toBe(202);
    const runId = String(response.body.runId);
    expect(runId).toMatch(/^users-sync-\d{8}T\d{6}Z-[0-9a-z]{6}$/);
    const started = h.executions.at(-1)?.input;
    expect(started).toMatchObject({
      stateMachineArn: `${h.config.stateMachineArnPrefix}esync-dev-users-sync-sm`,
      name: runId,
    });
    expect(JSON.parse(String(started?.input))).toEqual({ trigger: 'api', requestedBy: PRINCIPAL });
    expect(response.body.executionArn).toContain(`:execution:esync-dev-users-sync-sm:${runId}`);
    const run = await h.deps.state.runs.get(runId);
    expect(run).toMatchObject({ trigger: 'api', requestedBy: PRINCIPAL, status: 'running' });
    expect((await auditOf('users-sync'))[0]).toMatchObject({
      who: PRINCIPAL,
      action: 'run.start',
      what: { runId },
      why: 'backfill after outage',
    });
  });

  it('answers 404 naming the known pipelines when a run is asked of an unknown pipeline', async () => {
    const response = await call('POST', '/pipelines/userz-sync/runs');

    expect(response.status).toBe(404);
    expect(response.body.error).toMatch(/unknown pipeline "userz-sync".*users-sync/);
  });

  it('answers 404 when the pipeline has no deployed state machine', async () => {
    const response = await call('POST', '/pipelines/orphan-sync/runs');

    expect(response.status).toBe(404);
    expect(response.body.error).toMatch(/esync-dev-orphan-sync-sm .*is it deployed/);
  });

  it('answers 404 naming the run when Step Functions no longer keeps its execution history', async () => {
    // Prepare
    const runId = 'users-sync-20250102T030405Z-gone00';
    await h.deps.state.runs.create(
      {
        runId,
        pipeline: 'users-sync',
        trigger: 'schedule',
        startedAt: '2025-01-02T03:04:05.000Z',
        executionArn: `arn:aws:states:us-east-1:000000000000:execution:esync-dev-users-sync-sm:${runId}`,
      },
      90,
    );

    // Act
    const response = await call('GET', `/runs/${runId}/history`);

    // Assess
    expect(response.status).toBe(404);
    expect(response.body.error).toMatch(new RegExp(`execution of run "${runId}" .* is no longer kept`));
  });

  it('answers 404 for an unknown run id', async () => {
    const response = await call('GET', '/runs/users-sync-20990101T000000Z-zzzzzz');

    expect(response.status).toBe(404);
    expect(response.body.error).toBe('run "users-sync-20990101T000000Z-zzzzzz" does not exist');
  });

  it('reports a finished run with its phases in order, durations, counts, verify, cost and failure', async () => {
    // Prepare
    const runId = 'users-sync-20250102T030405Z-report';
    await seedRun(runId, 'users-sync', '2025-01-02T03:04:05.000Z', 'failed');
    await h.deps.state.runs.setPhase(runId, 'Plan', {
      startedAt: '2025-01-02T03:04:06.000Z',
      endedAt: '2025-01-02T03:04:06.250Z',
      status: 'succeeded',
      detail: { partitionCount: 4 },
    });
    await h.deps.state.runs.setPhase(runId, 'Discover', {
      startedAt: '2025-01-02T03:04:05.000Z',
      endedAt: '2025-01-02T03:04:05.800Z',
      status: 'succeeded',
    });
    const counts = {
      extracted: 10,
      loaded: 7,
      skipped: 0,
      filtered: 0,
      conflicts: 1,
      quarantined: 2,
      deadLettered: 0,
    };
    await h.deps.state.runs.update(runId, {
      counts,
      verify: { status: 'failed', compared: 10, mismatches: 3 },
      cost: { usd: 0.0042, byService: { SQS: 0.0042 } },
    });

    // Act
    const response = await call('GET', `/runs/${runId}`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      runId,
      status: 'failed',
      durationMs: 60_000,
      counts,
      verify: { status: 'failed', mismatches: 3 },
      cost: { usd: 0.0042 },
      failure: { error: 'VerifyFailedError', cause: '3 records differ' },
    });
    const phases = response.body.phases as { name: string; durationMs: number; detail: object }[];
    expect(phases.map((p) => [p.name, p.durationMs])).toEqual([
      ['Discover', 800],
      ['Plan', 250],
    ]);
    expect(phases[1]?.detail).toEqual({ partitionCount: 4 });
  });

  it('shows live counts from the message ledger and a cost estimate while a run is going', async () => {
    // Prepare
    const runId = 'users-sync-20250103T000000Z-living';
    await seedRun(runId, 'users-sync', '2025-01-03T00:00:00.000Z', 'running');
    const scope = keys.ledgerScopeOfRun(runId);
    await h.deps.state.ledger.register(scope, [
      { messageKey: 'm1', records: 100 },
      { messageKey: 'm2', records: 50 },
    ]);
    await h.deps.state.ledger.complete(scope, 'm1', 100, {
      loaded: 98,
      skipped: 1,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
      excludedKeys: ['u9'],
    });

    // Act
    const response = await call('GET', `/runs/${runId}`);

    // Assess
    expect(response.body.counts).toEqual({
      extracted: 150,
      loaded: 98,
      skipped: 1,
      filtered: 0,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
    });
    expect(response.body.pendingMessages).toBe(1);
    expect(response.body.cost).toMatchObject({ final: false });
    expect((response.body.cost as { usd: number }).usd).toBeGreaterThan(0);
  });

  it('answers a going run whose load is done from its record, without summing the ledger again', async () => {
    // Prepare: AwaitLoad found every message complete and wrote the run's counts; Verify is going.
    const runId = 'users-sync-20250103T000000Z-verify';
    await seedRun(runId, 'users-sync', '2025-01-03T00:00:00.000Z', 'running');
    const scope = keys.ledgerScopeOfRun(runId);
    await h.deps.state.ledger.register(scope, [{ messageKey: 'm1', records: 3 }]);
    const outcome = {
      loaded: 2,
      skipped: 0,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
      excludedKeys: [],
    };
    await h.deps.state.ledger.complete(scope, 'm1', 3, outcome);
    const counts = {
      extracted: 3,
      loaded: 2,
      skipped: 0,
      filtered: 0,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
    };
    await h.deps.state.runs.update(runId, { counts, ties: 0, tiesReread: 0 });
    const at = '2025-01-03T00:01:00.000Z';
    await h.deps.state.runs.setPhase(runId, 'Execute', {
      startedAt: at,
      endedAt: at,
      status: 'succeeded',
      detail: { extracted: 3, messages: 1 },
    });
    await h.deps.state.runs.setPhase(runId, 'AwaitLoad', { startedAt: at, endedAt: at, status: 'succeeded' });
    const sums = vi.spyOn(h.deps.state.ledger, 'totals');

    // Act
    const response = await call('GET', `/runs/${runId}`);
    const summed = sums.mock.calls.length;
    sums.mockRestore();

    // Assess
    expect(summed).toBe(0);
    expect(response.body).toMatchObject({ status: 'running', counts, pendingMessages: 0 });
    expect(response.body.cost).toMatchObject({ final: false });
    expect((response.body.cost as { usd: number }).usd).toBeGreaterThan(0);
  });

  it("pages through one pipeline's runs newest first with the next cursor", async () => {
    // Prepare
    for (const day of ['10', '11', '12'])
      await seedRun(`lake-sync-202502${day}T000000Z-page${day}`, 'lake-sync', `2025-02-${day}T00:00:00.000Z`);

    // Act
    const first = await call('GET', '/runs', { query: { pipeline: 'lake-sync', limit: '2' } });
    const second = await call('GET', '/runs', {
      query: { pipeline: 'lake-sync', limit: '2', after: String(first.body.next) },
    });

    // Assess
    const ids = (r: ManagementResponse) => (r.body.runs as { runId: string }[]).map((x) => x.runId);
    expect(ids(first)).toEqual(['lake-sync-20250212T000000Z-page12', 'lake-sync-20250211T000000Z-page11']);
    expect(ids(second)).toEqual(['lake-sync-20250210T000000Z-page10']);
  });

  it('merges the runs of every pipeline by start time when no pipeline is given, page by page', async () => {
    // Prepare: interleaved start times in two pipelines, far in the future so they come first.
    const seeded = [
      ['users-sync', '2030-01-01T00:00:01.000Z'],
      ['lake-sync', '2030-01-01T00:00:02.000Z'],
      ['users-sync', '2030-01-01T00:00:03.000Z'],
      ['lake-sync', '2030-01-01T00:00:04.000Z'],
      ['lake-sync', '2030-01-01T00:00:05.000Z'],
    ] as const;
    for (const [i, [pipeline, at]] of seeded.entries()) await seedRun(`${pipeline}-merge-${i}`, pipeline, at);

    // Act
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 3; page++) {
      const response = await call('GET', '/runs', { query: { limit: '2', ...(after ? { after } : {}) } });
      seen.push(...(response.body.runs as { runId: string }[]).map((r) => r.runId));
      after = String(response.body.next);
    }

    // Assess
    expect(seen).toEqual([
      'lake-sync-merge-4',
      'lake-sync-merge-3',
      'users-sync-merge-2',
      'lake-sync-merge-1',
      'users-sync-merge-0',
      expect.any(String),
    ]);
    expect(seen.slice(0, 5)).toHaveLength(new Set(seen.slice(0, 5)).size);
  });

  it('filters runs by status', async () => {
    await seedRun('lake-sync-20250301T000000Z-failed', 'lake-sync', '2025-03-01T00:00:00.000Z', 'failed');

    const response = await call('GET', '/runs', { query: { pipeline: 'lake-sync', status: 'failed' } });

    const runs = response.body.runs as { runId: string; status: string; failure: string }[];
    expect(runs.map((r) => r.runId)).toEqual(['lake-sync-20250301T000000Z-failed']);
    expect(runs[0]?.failure).toBe('VerifyFailedError');
  });

  it('answers 400 naming the parameter for a bad limit, status or cursor', async () => {
    const badLimit = await call('GET', '/runs', { query: { limit: '0' } });
    const badStatus = await call('GET', '/runs', { query: { status: 'done' } });
    const badCursor = await call('GET', '/runs', {
      query: { pipeline: 'users-sync', after: 'not-a-cursor' },
    });

    expect([badLimit.status, badStatus.status, badCursor.status]).toEqual([400, 400, 400]);
    expect(issuePaths(badLimit)).toEqual(['limit']);
    expect(issuePaths(badStatus)).toEqual(['status']);
    expect(issuePaths(badCursor)).toEqual(['after']);
  });
});

describe('conflicts', () => {
  const v1 = 't:2025-01-01T00:00:00.000Z|1';
  const v2 = 't:2025-01-02T00:00:00.000Z|1';
  const targetTable = 'esync-dev-users-sync-target';

  /** A target record changed by someone else, and the parked change from the source. */
  async function parkConflict(key: string, source: RecordData, target: RecordData): Promise<string> {
    await h.clients.ddb.send(
      new PutCommand({
        TableName: targetTable,
        Item: { pk: key, ...target, [META.version]: v1, [META.hash]: 'hash-of-our-last-write' },
      }),
    );
    const id = conflictId('users-sync', key, v2);
    await h.deps.state.conflicts.park({
      id,
      pipeline: 'users-sync',
      key,
      createdAt: new Date().toISOString(),
      strategy: 'manual',
      fields: [],
      source: { version: v2, data: source },
      target: { version: v1, data: target },
    });
    return id;
  }

  async function targetState(key: string) {
    const target = h.deps.createTarget(h.pipelines.users);
    try {
      return (await target.readState([key], { withData: true })).get(key);
    } finally {
      await target.close();
    }
  }

  it('lists open conflicts of a pipeline and shows both versions with the fields that differ', async () => {
    // Prepare
    const id = await parkConflict(
      'c-list',
      { id: 'c-list', name: 'Ann', email: 'new@x' },
      { id: 'c-list', name: 'Anne', email: 'old@x' },
    );

    // Act
    const list = await call('GET', '/conflicts', { query: { pipeline: 'users-sync' } });
    const shown = await call('GET', `/conflicts/${id}`);

    // Assess
    expect((list.body.conflicts as { id: string }[]).map((c) => c.id)).toContain(id);
    expect(shown.status).toBe(200);
    expect(shown.body.differences).toEqual([
      { field: 'email', source: 'new@x', target: 'old@x', inConflict: true },
      { field: 'name', source: 'Ann', target: 'Anne', inConflict: true },
    ]);
  });

  it('answers 400 naming pipeline when conflicts are listed without one', async () => {
    const response = await call('GET', '/conflicts');

    expect(response.status).toBe(400);
    expect(issuePaths(response)).toEqual(['pipeline']);
  });

  it('resolves with the source version: writes it at the source version, audits and emits an event', async () => {
    // Prepare
    const source = { id: 'c-src', name: 'Bob', email: 'bob@new' };
    const id = await parkConflict('c-src', source, { id: 'c-src', name: 'Robert', email: 'bob@old' });

    // Act
    const response = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'source', reason: 'source is the system of record' },
    });

    // Assess
    expect(response).toMatchObject({
      status: 200,
      body: { applied: true, choice: 'source', eventPublished: true },
    });
    expect(await targetState('c-src')).toMatchObject({
      version: v2,
      hash: contentHash(source),
      data: source,
    });
    expect(await h.deps.state.conflicts.get(id)).toMatchObject({
      status: 'resolved',
      resolution: { choice: 'source', by: PRINCIPAL, reason: 'source is the system of record' },
    });
    expect((await auditOf('users-sync')).find((a) => a.action === 'conflict.resolve')).toMatchObject({
      who: PRINCIPAL,
      what: { conflictId: id, choice: 'source', applied: true },
      why: 'source is the system of record',
    });
    const entry = (h.events.at(-1)?.input.Entries as Record<string, string>[] | undefined)?.[0];
    expect(entry).toMatchObject({
      Source: 'esync',
      DetailType: 'esync.conflict.resolved',
      EventBusName: 'esync-dev-core-bus',
    });
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      conflictId: id,
      key: 'c-src',
      choice: 'source',
    });
  });

  it('keeps every digit of a parked conflict and of merged data sent as JSON text', async () => {
    // Prepare
    const id = await parkConflict(
      'c-exact',
      { id: 'c-exact', balance: exactNumber('12345678901234567890.123456789') },
      { id: 'c-exact', balance: exactNumber('9007199254740993') },
    );

    // Act
    const shown = await call('GET', `/conflicts/${id}`);
    const resolved = await call('POST', `/conflicts/${id}/resolve`, {
      rawBody:
        '{"choice":"merged","data":{"id":"c-exact","balance":98765432109876543210.5},"reason":"audited"}',
    });

    // Assess
    expect(stringifyExactJson(shown.body.differences)).toBe(
      '[{"field":"balance","source":12345678901234567890.123456789,"target":9007199254740993,"inConflict":true}]',
    );
    expect(resolved.status).toBe(200);
    const stored = await targetState('c-exact');
    expect(stringifyExactJson(stored?.data)).toBe('{"id":"c-exact","balance":98765432109876543210.5}');
    expect(stringifyExactJson((await h.deps.state.conflicts.get(id)).resolution?.data)).toBe(
      '{"id":"c-exact","balance":98765432109876543210.5}',
    );
  });

  it('answers 409 when a conflict is resolved twice', async () => {
    const id = await parkConflict('c-twice', { id: 'c-twice', n: 1 }, { id: 'c-twice', n: 2 });
    await call('POST', `/conflicts/${id}/resolve`, { body: { choice: 'source', reason: 'first' } });

    const second = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'target', reason: 'second' },
    });

    expect(second.status).toBe(409);
    expect(second.body.error).toMatch(/already resolved \(source by .*ops-alice/);
  });

  it("resolves with the target version: keeps the target's data and moves its version and hash on", async () => {
    const target = { id: 'c-tgt', name: 'Edited by hand' };
    const id = await parkConflict('c-tgt', { id: 'c-tgt', name: 'From source' }, target);

    const response = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'target', reason: 'keep the manual fix' },
    });

    expect(response.status).toBe(200);
    expect(await targetState('c-tgt')).toMatchObject({
      version: v2,
      hash: contentHash(target),
      data: target,
    });
  });

  it('resolves with merged data given in the request', async () => {
    const merged = { id: 'c-mrg', name: 'Carol', email: 'carol@new' };
    const id = await parkConflict(
      'c-mrg',
      { id: 'c-mrg', name: 'Caroline', email: 'carol@new' },
      { id: 'c-mrg', name: 'Carol', email: 'c@old' },
    );

    const response = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'merged', data: merged, reason: 'name from target, email from source' },
    });

    expect(response.status).toBe(200);
    expect(await targetState('c-mrg')).toMatchObject({ version: v2, data: merged });
  });

  it('answers 400 naming the field for a merged choice without data, a missing reason, or an unknown choice', async () => {
    const id = await parkConflict('c-bad', { id: 'c-bad', n: 1 }, { id: 'c-bad', n: 2 });

    const noData = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'merged', reason: 'x' },
    });
    const noReason = await call('POST', `/conflicts/${id}/resolve`, { body: { choice: 'source' } });
    const badChoice = await call('POST', `/conflicts/${id}/resolve`, {
      body: { choice: 'both', reason: 'x' },
    });

    expect(issuePaths(noData)).toEqual(['data']);
    expect(issuePaths(noReason)).toEqual(['reason']);
    expect(issuePaths(badChoice)).toEqual(['choice']);
    expect((await h.deps.state.conflicts.get(id)).status).toBe('open');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await call('POST', '/conflicts/whatever/resolve', { rawBody: '{"choice": "source",' });

    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/not valid JSON/);
  });

  it('answers 404 when resolving a conflict that does not exist', async () => {
    const response = await call('POST', '/conflicts/nope/resolve', {
      body: { choice: 'source', reason: 'x' },
    });

    expect(response.status).toBe(404);
    expect(response.body.error).toBe('conflict "nope" does not exist');
  });
});

describe('checkpoint', () => {
  it('shows no checkpoint, then the one an audited reset set', async () => {
    // Prepare
    const before = await call('GET', '/pipelines/users-sync/checkpoint');
    const cursor = { values: ['2025-01-31T00:00:00.000Z'], key: '42' };

    // Act
    const reset = await call('PUT', '/pipelines/users-sync/checkpoint', {
      body: { cursor, reason: 'replay January' },
    });
    const after = await call('GET', '/pipelines/users-sync/checkpoint');

    // Assess
    expect(before.body.checkpoint).toBeNull();
    expect(reset.status).toBe(200);
    expect(after.body.checkpoint).toMatchObject({ cursor, setBy: 'reset', reason: 'replay January' });
    expect((await auditOf('users-sync')).find((a) => a.action === 'checkpoint.reset')).toMatchObject({
      who: PRINCIPAL,
      what: { from: null, to: cursor },
      why: 'replay January',
    });
  });

  it('answers 400 naming reason when a reset has no reason or an empty one', async () => {
    const missing = await call('PUT', '/pipelines/users-sync/checkpoint', { body: { cursor: null } });
    const empty = await call('PUT', '/pipelines/users-sync/checkpoint', {
      body: { cursor: null, reason: '  ' },
    });

    expect([missing.status, empty.status]).toEqual([400, 400]);
    expect(issuePaths(missing)).toEqual(['reason']);
    expect(issuePaths(empty)).toEqual(['reason']);
    expect(String(missing.body.error)).toMatch(/reason is required/);
  });

  it('answers 400 when the cursor does not fit the pipeline', async () => {
    const wrongCount = await call('PUT', '/pipelines/users-sync/checkpoint', {
      body: { cursor: { values: ['a', 'b'], key: 'k' }, reason: 'x' },
    });
    const fullRead = await call('PUT', '/pipelines/lake-sync/checkpoint', {
      body: { cursor: { values: ['a'], key: 'k' }, reason: 'x' },
    });

    expect(issuePaths(wrongCount)).toEqual(['cursor.values']);
    expect(issuePaths(fullRead)).toEqual(['cursor']);
  });
});

describe('dead letters and health', () => {
  const recordsMessage = (keys: string[]) =>
    JSON.stringify({
      kind: 'records',
      v: 1,
      pipeline: 'lake-sync',
      messageKey: `m-${keys.join('-')}`,
      scope: 'RUN#lake-sync-run',
      records: keys.map((key) => ({
        key,
        op: 'upsert',
        version: 'p:00000000000000000001',
        ts: '2025-01-01T00:00:00.000Z',
        data: { key, secret: 'do-not-show' },
        hash: 'h',
        provenance: { pipeline: 'lake-sync' },
      })),
    });

  it('peeks at dead letters without consuming them, and shows their depth', async () => {
    // Prepare
    const { dlq } = h.queues('lake-sync');
    await h.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: dlq, MessageBody: recordsMessage(['a', 'b']) }),
    );
    await h.clients.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: 'not json' }));

    // Act
    const peek = await call('GET', '/pipelines/lake-sync/dlq', { query: { limit: '10' } });

    // Assess
    expect(peek.status).toBe(200);
    const messages = peek.body.messages as { body: Record<string, unknown>; receiveCount: number }[];
    expect(messages.map((m) => m.body).sort((a, b) => String(a.kind).localeCompare(String(b.kind)))).toEqual([
      { kind: 'records', scope: 'RUN#lake-sync-run', messageKey: 'm-a-b', records: 2, keys: ['a', 'b'] },
      { kind: 'text', preview: 'not json' },
    ]);
    expect(JSON.stringify(peek.body)).not.toContain('do-not-show');
    const again = await h.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    expect(new Set((again.Messages ?? []).map((m) => m.MessageId)).size).toBe(2);
    await h.clients.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: dlq,
        Entries: (again.Messages ?? []).map((m, i) => ({
          Id: String(i),
          ReceiptHandle: m.ReceiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
    const depthOnly = await call('GET', '/pipelines/lake-sync/dlq', { query: { limit: '0' } });
    expect(depthOnly.body.messages).toEqual([]);
    expect((depthOnly.body.depth as { visible: number }).visible).toBe(2);
  });

  it('reports a pipeline with dead letters as degraded and one without queues as unreachable', async () => {
    const response = await call('GET', '/health');

    expect(response.body.status).toBe('degraded');
    const byName = Object.fromEntries(
      (response.body.pipelines as { pipeline: string }[]).map((p) => [p.pipeline, p]),
    );
    expect(byName['lake-sync']).toMatchObject({
      status: 'degraded',
      problems: expect.arrayContaining(['2 message(s) in the DLQ']),
    });
    expect(byName['users-sync']).toMatchObject({ loadQueue: { visible: 0 }, dlq: { visible: 0 } });
    expect(byName['orphan-sync']).toMatchObject({
      status: 'degraded',
      problems: [
        expect.stringMatching(/load queue .*does not exist/),
        expect.stringMatching(/DLQ .*does not exist/),
      ],
    });
  });

  it('redrives dead letters back to the load queue with an audit entry', async () => {
    // Act
    const response = await call('POST', '/pipelines/lake-sync/dlq/redrive', {
      body: { reason: 'target is back up' },
    });

    // Assess
    expect(response.status).toBe(202);
    expect(response.body.taskHandle).toEqual(expect.any(String));
    const { load } = h.queues('lake-sync');
    const moved: string[] = [];
    for (let i = 0; i < 50 && moved.length < 2; i++) {
      const out = await h.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: load, MaxNumberOfMessages: 10 }),
      );
      moved.push(...(out.Messages ?? []).map((m) => m.Body ?? ''));
      if (moved.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(moved.sort()).toEqual([recordsMessage(['a', 'b']), 'not json'].sort());
    expect((await auditOf('lake-sync')).find((a) => a.action === 'dlq.redrive')).toMatchObject({
      who: PRINCIPAL,
      what: { taskHandle: response.body.taskHandle, approximateMessages: 2 },
      why: 'target is back up',
    });
  });

  it('answers 404 naming the queue for a pipeline that is not deployed', async () => {
    const response = await call('GET', '/pipelines/orphan-sync/dlq');

    expect(response.status).toBe(404);
    expect(response.body.error).toMatch(/esync-dev-orphan-sync-load-dlq .*does not exist/);
  });
});

describe('record history', () => {
  it("answers 400 explaining that a pipeline's dynamodb target keeps no history", async () => {
    const response = await call('GET', '/pipelines/users-sync/records/u1/history');

    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/dynamodb target, which keeps only the current version/);
  });

  it('rebuilds a record of an s3 lake target as it was at a given time', async () => {
    // Prepare
    const changes = [
      {
        key: 'k/1',
        op: 'upsert',
        version: 'p:00000000000000000001',
        ts: '2025-01-01T00:00:00.000Z',
        hash: 'a',
        data: { n: 1 },
      },
      {
        key: 'k/1',
        op: 'upsert',
        version: 'p:00000000000000000002',
        ts: '2025-01-05T00:00:00.000Z',
        hash: 'b',
        data: { n: 2 },
      },
    ];
    for (const c of changes)
      await h.clients.s3.send(
        new PutObjectCommand({
          Bucket: h.config.dataBucket,
          Key: archiveObjectKey('lake-sync', c.key, c),
          Body: JSON.stringify(c),
        }),
      );

    // Act
    const response = await call('GET', `/pipelines/lake-sync/records/${encodeURIComponent('k/1')}/history`, {
      query: { at: '2025-01-03T00:00:00Z' },
    });

    // Assess
    expect(response.status).toBe(200);
    expect((response.body.versions as unknown[]).length).toBe(2);
    expect(response.body.state).toMatchObject({
      exists: true,
      version: 'p:00000000000000000001',
      data: { n: 1 },
    });
  });

  it('answers 400 naming at for a time that is not ISO-8601', async () => {
    const response = await call('GET', '/pipelines/lake-sync/records/k/history', {
      query: { at: 'yesterday' },
    });

    expect(issuePaths(response)).toEqual(['at']);
  });
});

describe('routing and failures', () => {
  it('answers 404 for an unknown route and 405 for a known path with another method', async () => {
    const unknown = await call('GET', '/pipelines');
    const wrongMethod = await call('DELETE', '/runs');

    expect(unknown).toMatchObject({ status: 404, body: { error: 'no management route GET /pipelines' } });
    expect(wrongMethod).toMatchObject({
      status: 405,
      body: { error: 'DELETE is not allowed on /runs; use GET' },
    });
  });

  it('answers an unexpected failure with 500 and the request id only, and logs the cause', async () => {
    // Prepare: a state table that does not exist.
    const broken = buildDeps(
      { ...h.config, stateTable: 'no-such-table' },
      h.clients,
      h.deps.catalog,
      h.deps.log,
    );
    h.logs.length = 0;

    // Act
    const response = await handleManagementRequest(broken, {
      method: 'GET',
      path: '/runs/x',
      principal: PRINCIPAL,
      requestId: 'req-500',
    });

    // Assess
    expect(response).toEqual({ status: 500, body: { error: 'internal error', requestId: 'req-500' } });
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({
          requestId: 'req-500',
          error: expect.objectContaining({ name: 'ResourceNotFoundException' }),
        }),
      }),
    );
  });
});

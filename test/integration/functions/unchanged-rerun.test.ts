import { DeleteItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoDatabase } from '../../../demo/demo-db.ts';
import { handler as loadHandler } from '../../../functions/load/handler.ts';
import { handler as recordFailureHandler } from '../../../functions/record-failure/handler.ts';
import { PRICES } from '../../../shared/cost/prices.ts';
import type { RecordsMessage } from '../../../shared/records/messages.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { RunRecord } from '../../../shared/state/runs.ts';
import { batchSteps, invoke, newRun, type Partition, type RunRef, sample } from './batch-steps.ts';
import type { FunctionsHarness } from './harness.ts';
import {
  at,
  drainQueues,
  ROWS,
  startUsersHarness,
  usersPipeline as usersTablePipeline,
} from './users-table.ts';

/**
 * A rerun of unchanged data (unchanged-messages.ts): the messages the last verified run loaded
 * clean with the same content are registered done and never sent; the run still verifies every
 * key. A users table in the embedded PostgreSQL, a DynamoDB target, each test its own pipeline
 * and its own first load. Rows 1–20 in two key ranges (1–10, 11–20), four records a message:
 * [1–4] [5–8] [9 10] and [11–14] [15–18] [19 20]. Row 7 breaks the email rule: the message
 * holding it is quarantined in part, never clean, so it is always sent.
 */

const usersPipeline = (name: string, overrides: Record<string, unknown> = {}) =>
  usersTablePipeline(name, { extract: { partitions: 2 }, ...overrides });

let h: FunctionsHarness;
let db: DemoDatabase;

beforeAll(async () => {
  ({ db, h } = await startUsersHarness([
    usersPipeline('rerun-unchanged'),
    usersPipeline('rerun-changed'),
    usersPipeline('rerun-deleted'),
    usersPipeline('rerun-repair', { verify: { onMismatch: 'repair' } }),
    usersPipeline('rerun-killed'),
    usersPipeline('rerun-sampled', { verify: { mode: 'sample', sampleRate: 0.5 } }),
  ]));
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await db?.stop();
});
afterEach(async () => {
  await drainQueues(h);
});

const { discover, plan, extract, awaitLoad, verify, cleanup, extractRun } = batchSteps(() => h);

interface Sent {
  readonly scope: string;
  readonly keys: string[];
}

/** The Load function consuming every message on the pipeline's queue; returns what they held. */
async function loadQueued(pipeline: string): Promise<Sent[]> {
  const messages = await h.receiveAll(h.queueUrl(pipeline));
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    const response = (await loadHandler(h.sqsEvent(pipeline, batch), h.context('load'))) as SQSBatchResponse;
    expect(response.batchItemFailures).toEqual([]);
    await h.deleteMessages(h.queueUrl(pipeline), batch);
  }
  return messages.map((m) => {
    const body = JSON.parse(m.Body ?? '{}') as RecordsMessage;
    return { scope: body.scope, keys: body.records.map((r) => r.key) };
  });
}

/** Discover to Cleanup; returns the run and the keys of each message Extract sent. */
async function fullRun(pipeline: string): Promise<{ run: RunRef; sent: string[][] }> {
  const run = await extractRun(pipeline);
  const sent = (await loadQueued(pipeline)).map((m) => m.keys);
  expect(await awaitLoad(run)).toMatchObject({ done: true });
  await verify(run);
  await cleanup(run);
  return { run, sent };
}

/** The checkpoint reset to the start, as `PUT /pipelines/{name}/checkpoint` with cursor null does. */
async function resetCheckpoint(pipeline: string): Promise<void> {
  await h.deps.state.checkpoints.put({
    pipeline,
    cursor: null,
    setBy: 'reset',
    updatedAt: new Date().toISOString(),
    reason: 'test: rerun of the same rows',
  });
}

async function targetItems(pipeline: string) {
  const out = await h.clients.dynamodb.send(
    new ScanCommand({ TableName: h.targetTable(pipeline), ConsistentRead: true }),
  );
  return (out.Items ?? []).sort((a, b) => Number(a.pk?.S) - Number(b.pk?.S));
}

const runRecord = (run: RunRef) => h.deps.state.runs.get(run.runId) as Promise<RunRecord>;
const sorted = (messages: string[][]) => messages.map((m) => m.join(',')).sort();

describe('a rerun of unchanged data', () => {
  it('sends only the message that was not loaded clean, writes nothing to the target, counts the rest skipped and verifies', async () => {
    // Prepare
    const pipeline = 'rerun-unchanged';
    const first = await fullRun(pipeline);
    const before = await targetItems(pipeline);
    await resetCheckpoint(pipeline);

    // Act
    const rerun = await fullRun(pipeline);

    // Assess: only [5–8], which holds the invalid row 7, is sent again.
    expect(first.sent).toHaveLength(6);
    expect(sorted(rerun.sent)).toEqual(['5,6,7,8']);
    expect(await targetItems(pipeline)).toEqual(before);
    const record = await runRecord(rerun.run);
    expect(record.counts).toEqual({
      extracted: ROWS,
      loaded: 0,
      skipped: ROWS - 1,
      filtered: 0,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
    });
    expect(record).toMatchObject({ status: 'succeeded', verify: { status: 'passed', compared: ROWS - 1 } });
    expect(record.phases.Execute?.detail).toMatchObject({
      messages: 6,
      unsentMessages: 5,
      unsentRecords: ROWS - 4,
    });
    // Priced as what it sent: one message sent, received and deleted, one request each.
    expect(record.cost?.byService.SQS).toBeCloseTo(3 * PRICES.sqsPerRequest, 12);
    expect(await h.deps.state.checkpoints.verifiedRun(pipeline)).toBe(rerun.run.runId);
  });

  it('loads a changed row among unchanged ones', async () => {
    // Prepare: a verified first load, then row 20 changes at the source.
    const pipeline = 'rerun-changed';
    await fullRun(pipeline);
    await db.db.query('UPDATE users SET name = $1, updated_at = $2 WHERE id = $3', [
      'User 20 renamed',
      at(ROWS + 1),
      ROWS,
    ]);
    await resetCheckpoint(pipeline);

    // Act
    const rerun = await fullRun(pipeline);

    // Assess
    expect(sorted(rerun.sent)).toEqual(['19,20', '5,6,7,8']);
    expect((await runRecord(rerun.run)).counts).toMatchObject({
      extracted: ROWS,
      loaded: 1,
      skipped: ROWS - 2,
    });
    expect(await runRecord(rerun.run)).toMatchObject({ verify: { status: 'passed' } });
    const renamed = (await targetItems(pipeline)).find((item) => item.pk?.S === String(ROWS));
    expect(renamed?.name).toEqual({ S: 'User 20 renamed' });
  });
});

describe('a target changed behind ESync since the verified run', () => {
  it('fails the rerun in Verify, and the run after the failure sends every message and restores the target', async () => {
    // Prepare: a verified first load, then key 3 is deleted from the target by someone else.
    const pipeline = 'rerun-deleted';
    await fullRun(pipeline);
    await h.clients.dynamodb.send(
      new DeleteItemCommand({ TableName: h.targetTable(pipeline), Key: { pk: { S: '3' } } }),
    );
    await resetCheckpoint(pipeline);

    // Act: the rerun leaves [1–4] unsent; its Verify looks up every key.
    const failing = await extractRun(pipeline);
    const sentByFailing = await loadQueued(pipeline);
    expect(await awaitLoad(failing)).toMatchObject({ done: true });
    const verifyError = await verify(failing).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await invoke(
      recordFailureHandler,
      {
        ...sample('record-failure.json'),
        ...failing,
        error: { Error: verifyError?.name ?? 'none', Cause: verifyError?.message ?? '' },
      },
      h.context('record-failure'),
    );
    const after = await fullRun(pipeline);

    // Assess
    expect(sentByFailing).toHaveLength(1);
    expect(verifyError?.message).toMatch(/verify found 1 of 19 records different in the target/);
    expect(after.sent).toHaveLength(6);
    expect(await runRecord(after.run)).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
    expect((await targetItems(pipeline)).map((item) => item.pk?.S)).toContain('3');
  });

  it('repairs it in the same run under verify.onMismatch repair, and vouches for nothing after a repair', async () => {
    // Prepare: key 12 edited and key 3 deleted in the target behind ESync's back.
    const pipeline = 'rerun-repair';
    await fullRun(pipeline);
    await h.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: h.targetTable(pipeline),
        Key: { pk: { S: '12' } },
        UpdateExpression: 'SET #name = :n',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':n': { S: 'edited by hand' } },
      }),
    );
    await h.clients.dynamodb.send(
      new DeleteItemCommand({ TableName: h.targetTable(pipeline), Key: { pk: { S: '3' } } }),
    );
    await resetCheckpoint(pipeline);

    // Act
    const rerun = await fullRun(pipeline);
    const repairs = await loadQueued(pipeline);

    // Assess
    expect(sorted(rerun.sent)).toEqual(['5,6,7,8']);
    expect(repairs.flatMap((m) => m.keys).sort()).toEqual(['12', '3']);
    expect(await runRecord(rerun.run)).toMatchObject({ verify: { status: 'repaired', mismatches: 2 } });
    const items = await targetItems(pipeline);
    expect(items.find((item) => item.pk?.S === '12')?.name).toEqual({ S: 'User 12' });
    expect(items.map((item) => item.pk?.S)).toContain('3');
    expect(await h.deps.state.checkpoints.verifiedRun(pipeline)).toBeUndefined();
  });
});

describe('a rerun killed mid-way', () => {
  it('is taken over by the next run, which leaves unsent what the verified run loaded clean and verifies', async () => {
    // Prepare: a verified first load; the rerun extracts the first key range and is killed.
    const pipeline = 'rerun-killed';
    const first = await fullRun(pipeline);
    const before = await targetItems(pipeline);
    await resetCheckpoint(pipeline);
    const killed = newRun(pipeline);
    await discover(killed);
    const [firstRange] = (await plan(killed)).partitions as [Partition, Partition];
    await extract(killed, firstRange);

    // Act: the next run takes over the plan; the killed run's message is loaded meanwhile.
    const next = await extractRun(pipeline);
    const sent = await loadQueued(pipeline);
    expect(await awaitLoad(next)).toMatchObject({ done: true });
    await verify(next);
    await cleanup(next);

    // Assess
    expect(sent).toEqual([{ scope: keys.ledgerScopeOfRun(killed.runId), keys: ['5', '6', '7', '8'] }]);
    const record = await runRecord(next);
    expect(record).toMatchObject({ planId: killed.runId, verify: { status: 'passed', compared: ROWS - 1 } });
    const killedTotals = await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(killed.runId));
    const nextTotals = await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(next.runId));
    expect([killedTotals.extracted, killedTotals.skipped, killedTotals.quarantined]).toEqual([10, 9, 1]);
    expect([nextTotals.extracted, nextTotals.skipped, nextTotals.vouchedMessages]).toEqual([10, 10, 3]);
    expect(await targetItems(pipeline)).toEqual(before);
    expect(first.sent).toHaveLength(6);
  });
});

describe('a pipeline whose Verify does not compare every key', () => {
  it('sends every message of a rerun', async () => {
    // Prepare
    const pipeline = 'rerun-sampled';
    const first = await fullRun(pipeline);
    await resetCheckpoint(pipeline);

    // Act
    const rerun = await fullRun(pipeline);

    // Assess
    expect(sorted(rerun.sent)).toEqual(sorted(first.sent));
    expect(await h.deps.state.checkpoints.verifiedRun(pipeline)).toBeUndefined();
  });
});

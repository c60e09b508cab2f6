import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DemoDatabase } from '../../../demo/demo-db.ts';
import { handler as loadHandler } from '../../../functions/load/handler.ts';
import { handler as recordFailureHandler } from '../../../functions/record-failure/handler.ts';
import { handler as verifyHandler } from '../../../functions/verify/handler.ts';
import { SOURCE_CONNECTORS } from '../../../shared/connectors/sources/registry.ts';
import { AWAIT_LOAD_WAIT } from '../../../shared/domain/await-load-wait.ts';
import { loadDlqName, loadQueueName } from '../../../shared/naming.ts';
import type { RecordsMessage } from '../../../shared/records/messages.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { RunRecord } from '../../../shared/state/runs.ts';
import { createDeps, currentDeps } from '../../../shared/usecases/deps.ts';
import { extractPartition } from '../../../shared/usecases/phases/3-extract.ts';
import {
  awaitLoad as awaitLoadUseCase,
  LoadStalledError,
} from '../../../shared/usecases/phases/5-await-load.ts';
import { batchSteps, invoke, newRun, type Partition, type RunRef, sample } from './batch-steps.ts';
import type { FunctionsHarness } from './harness.ts';
import { at, drainQueues, ROWS, startUsersHarness, usersPipeline, usersSource } from './users-table.ts';

/**
 * The phase functions of a batch run, invoked as the state machine invokes them, over a users
 * table in the embedded PostgreSQL (PGlite) and a DynamoDB target. Each test runs its own run of
 * its own pipeline, so none depends on another's leftovers.
 */

/** AwaitLoad's answer once every record of the run is accounted. */
const LOADED_IN_FULL = { done: true, extracted: ROWS, accounted: ROWS, pendingMessages: 0, waitSeconds: 0 };
const allKeys = Array.from({ length: ROWS }, (_, i) => String(i + 1));

let h: FunctionsHarness;
let db: DemoDatabase;

beforeAll(async () => {
  ({ db, h } = await startUsersHarness([
    usersPipeline('users-sync'),
    usersPipeline('users-plan', { source: usersSource({ lookbackSeconds: 5 }) }),
    usersPipeline('users-manifest', { extract: { partitions: 4, manifestThreshold: 2 } }),
    usersPipeline('users-extract', { extract: { partitions: 1 } }),
    usersPipeline('users-resume', { extract: { partitions: 2, manifestThreshold: 40 } }),
    usersPipeline('users-strict'),
    usersPipeline('users-warn', { verify: { onMismatch: 'warn' } }),
    usersPipeline('users-cleanup'),
    usersPipeline('users-overlap'),
    usersPipeline('users-dead-letter', {
      target: { type: 'dynamodb', batchInserts: false },
      dlq: { maxReceiveCount: 2 },
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    }),
    usersPipeline('users-expr', {
      transform: { filter: 'status = "active"', compute: { display: '$uppercase(name)' } },
    }),
    usersPipeline('ghost-sync', { source: usersSource({ table: 'ghosts' }) }),
    usersPipeline('users-badkey', { source: usersSource({ key: ['user_id'] }) }),
  ]));
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await db?.stop();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await drainQueues(h);
  for (const pipeline of h.pipelines.keys()) {
    // A test's unfinished plan would be taken over by the next test's run of the pipeline.
    const saved = await h.deps.state.progress.getPlan(pipeline);
    if (saved) await h.deps.state.progress.finishPlan(pipeline, saved.planId);
  }
});

const { discover, plan, extract, awaitLoad, verify, cleanup, extractRun, drainIntoLoad, syncedRun } =
  batchSteps(() => h);

/** Step Functions' view of a failed Lambda task: Error is the error's name, Cause the runtime's JSON. */
function taskError(error: Error) {
  return {
    Error: error.name,
    Cause: JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: [] }),
  };
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the phase to fail');
}

async function queuedRecordsMessages(pipeline: string): Promise<RecordsMessage[]> {
  const messages = await h.receiveAll(h.queueUrl(pipeline));
  return messages.map((m) => JSON.parse(m.Body ?? '{}') as RecordsMessage);
}

const runRecord = (run: RunRef): Promise<RunRecord> => h.deps.state.runs.get(run.runId);

/** Which of `wanted` the pipeline's target table holds. */
async function targetKeys(pipeline: string, wanted: readonly string[]): Promise<string[]> {
  const held: string[] = [];
  for (const key of wanted) {
    const out = await h.clients.dynamodb.send(
      new GetItemCommand({
        TableName: h.targetTable(pipeline),
        Key: { pk: { S: key } },
        ConsistentRead: true,
      }),
    );
    if (out.Item) held.push(key);
  }
  return held;
}

/** Changes a target item without going through ESync, as another writer would. */
async function tamperWithTarget(pipeline: string, key: string): Promise<void> {
  await h.clients.dynamodb.send(
    new UpdateItemCommand({
      TableName: h.targetTable(pipeline),
      Key: { pk: { S: key } },
      UpdateExpression: 'SET #n = :n',
      ExpressionAttributeNames: { '#n': 'name' },
      ExpressionAttributeValues: { ':n': { S: 'Mallory' } },
    }),
  );
}

describe('discover', () => {
  it('creates the run record and describes the source', async () => {
    // Prepare
    const run = newRun('users-sync');

    // Act
    const out = await discover(run);

    // Assess
    expect(out).toMatchObject({ fields: 5, primaryKey: ['id'], incremental: true });
    expect(await runRecord(run)).toMatchObject({
      pipeline: 'users-sync',
      trigger: 'manual',
      status: 'running',
      executionArn: run.executionArn,
      phases: { Discover: { status: 'succeeded' } },
    });
  });

  it('fails with a ConnectorError naming a source table that does not exist', async () => {
    // Prepare
    const run = newRun('ghost-sync');

    // Act
    const error = await failureOf(discover(run));

    // Assess
    expect(error.name).toBe('ConnectorError');
    expect(error.message).toMatch(/table "public\.ghosts" in PostgreSQL at .*: no such table/);
    expect((await runRecord(run)).phases.Discover).toMatchObject({
      status: 'failed',
      detail: { error: 'ConnectorError' },
    });
  });

  it('fails with an error naming a key field the source does not have', async () => {
    // Act
    const error = await failureOf(discover(newRun('users-badkey')));

    // Assess
    expect(error.name).toBe('ConnectorError');
    expect(error.message).toMatch(/has no column "user_id" \(key\); its columns are id, email, name/);
  });
});

describe('plan', () => {
  it('starts the window at the checkpoint minus the lookback and splits it by the rows it holds', async () => {
    // Prepare: checkpoint at row 12, lookback 5 s: the window re-reads from row 7's time on.
    await h.deps.state.checkpoints.put({
      pipeline: 'users-plan',
      cursor: { values: [at(12)], key: '12' },
      setBy: 'an-earlier-run',
      updatedAt: new Date().toISOString(),
    });
    const run = newRun('users-plan');
    await discover(run);

    // Act
    const out = await plan(run);

    // Assess: rows 7..20 are 14 rows, 3 pages of 5, so 3 of the 4 partitions asked for, cut
    // after the 5th and the 10th key.
    const window = { from: { values: [at(7)], key: '' }, to: { values: [at(20)], key: '20' } };
    expect(out).toEqual({
      partitionCount: 3,
      partitions: [
        { id: 'range-1-of-3', spec: { range: { after: null, upTo: [11], kinds: ['integer'] } } },
        { id: 'range-2-of-3', spec: { range: { after: [11], upTo: [16], kinds: ['integer'] } } },
        { id: 'range-3-of-3', spec: { range: { after: [16], upTo: null, kinds: ['integer'] } } },
      ],
      window,
    });
    expect(await runRecord(run)).toMatchObject({ window, phases: { Plan: { status: 'succeeded' } } });
  });

  it('puts a plan larger than the manifest threshold in S3 and passes no partition inline', async () => {
    // Prepare
    const run = newRun('users-manifest');
    await discover(run);

    // Act
    const out = await plan(run);

    // Assess
    const key = `manifests/users-manifest/${run.runId}.json`;
    expect(out).toMatchObject({ partitionCount: 4, partitions: [], manifest: { bucket: h.dataBucket, key } });
    const manifest = await h.readJson<{ pipeline: string; runId: string; partition: Partition }[]>(key);
    expect(manifest.map((item) => [item.pipeline, item.runId, item.partition.id])).toEqual(
      [1, 2, 3, 4].map((i) => ['users-manifest', run.runId, `range-${i}-of-4`]),
    );
  });
});

describe('extract', () => {
  it('sends the records of its partition in messages registered in the run ledger', async () => {
    // Prepare
    const run = newRun('users-extract');
    await discover(run);
    const [partition] = (await plan(run)).partitions;

    // Act
    const out = await extract(run, partition as Partition);

    // Assess
    expect(out).toEqual({ done: true, continuation: null, extracted: ROWS, messages: 5 });
    const sent = await queuedRecordsMessages('users-extract');
    expect(sent.flatMap((m) => m.records.map((r) => r.key)).sort((a, b) => Number(a) - Number(b))).toEqual(
      allKeys,
    );
    const ledger = await h.ledger(keys.ledgerScopeOfRun(run.runId));
    expect(ledger.map((item) => [item.sk, item.state, item.records]).sort()).toEqual(
      sent.map((m) => [`MSG#${m.messageKey}`, 'sent', m.records.length]).sort(),
    );
  });

  it('hands back a continuation when time runs short, and the next call finishes without duplicates or gaps', async () => {
    // Prepare
    const run = newRun('users-extract');
    await discover(run);
    const [partition] = (await plan(run)).partitions;

    // Act: the first invocation has 1 s left, less than the time it keeps in reserve.
    const first = await extract(run, partition as Partition, null, h.context('extract', 1));
    const second = await extract(run, partition as Partition, first.continuation);

    // Assess
    expect(first).toEqual({
      done: false,
      continuation: { cursor: { values: [at(5)], key: '5' }, seq: 1 },
      extracted: 5,
      messages: 2,
    });
    expect(second).toMatchObject({ done: true, continuation: null, extracted: ROWS - 5 });
    const keysSent = (await queuedRecordsMessages('users-extract')).flatMap((m) =>
      m.records.map((r) => r.key),
    );
    expect(keysSent.sort((a, b) => Number(a) - Number(b))).toEqual(allKeys);
    expect(await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(run.runId))).toMatchObject({
      extracted: ROWS,
      pendingMessages: first.messages + second.messages,
    });
  });
});

describe('a run started again after a stopped one', () => {
  it('takes over its plan: skips finished partitions and resumes unfinished ones after their cursor', async () => {
    // Prepare: run A extracts the first key range, then stops 5 rows into the second.
    const runA = newRun('users-resume');
    await discover(runA);
    const planA = await plan(runA);
    const [first, second] = planA.partitions as [Partition, Partition];
    await extract(runA, first);
    const stopped = await extract(runA, second, null, h.context('extract', 1));

    // Act
    const runB = newRun('users-resume');
    await discover(runB);
    const planB = await plan(runB);
    const again = await extract(runB, first);
    const rest = await extract(runB, second);

    // Assess: B plans A's window and only the unfinished partition, and reads only its rest.
    expect(planA.partitions.map((p) => p.id)).toEqual(['range-1-of-2', 'range-2-of-2']);
    expect(stopped).toMatchObject({ done: false, extracted: 5 });
    expect(planB).toEqual({ partitionCount: 1, partitions: [second], window: planA.window });
    expect((await runRecord(runB)).planId).toBe(runA.runId);
    expect(again).toEqual({ done: true, continuation: null, extracted: 0, messages: 0 });
    expect(rest).toMatchObject({ done: true, extracted: 5 });
    const sent = (await queuedRecordsMessages('users-resume')).flatMap((m) => m.records.map((r) => r.key));
    expect(sent.sort((a, b) => Number(a) - Number(b))).toEqual(allKeys);
    const progress = await h.deps.state.progress.listPartitions('users-resume', runA.runId);
    expect(progress.map((p) => [p.partitionId, p.done, p.extracted, p.runId])).toEqual([
      ['range-1-of-2', true, 10, runA.runId],
      ['range-2-of-2', true, 10, runB.runId],
    ]);
  });

  it('abandons what a killed Extract registered but never sent, so the resuming run waits for nothing it will not load', async () => {
    // Prepare: run A extracts the first key range; its Extract of the second dies between
    // registering the messages and sending them (a killed process).
    const runA = newRun('users-resume');
    await discover(runA);
    const [first, second] = (await plan(runA)).partitions as [Partition, Partition];
    await extract(runA, first);
    const killedSqs = {
      send: async (command: object) => {
        if (command instanceof SendMessageBatchCommand) throw new Error('process killed');
        return h.clients.sqs.send(command as never);
      },
    };
    const killed = await currentDeps(
      createDeps(
        {
          clients: { ...h.clients, sqs: killedSqs as never },
          config: h.deps.config,
          catalog: h.deps.catalog,
          secrets: h.deps.secrets,
          state: h.deps.state,
        },
        { sources: SOURCE_CONNECTORS },
      ),
    );
    await expect(
      extractPartition(killed, { ...runA, partition: second }, { remainingMs: () => 600_000 }),
    ).rejects.toThrow('process killed');
    const orphaned = await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(runA.runId));
    await drainIntoLoad('users-resume');

    // Act
    const runB = newRun('users-resume');
    await discover(runB);
    const planB = await plan(runB);
    const rest = await extract(runB, second);
    await drainIntoLoad('users-resume');
    const loaded = await awaitLoad(runB);

    // Assess: B resumed A's plan, re-read the second range, and had nothing of A's to wait for.
    expect(orphaned.pendingMessages).toBeGreaterThan(0);
    expect(planB.partitions).toEqual([second]);
    expect(rest).toMatchObject({ done: true, extracted: 10 });
    expect(loaded).toMatchObject({ done: true, pendingMessages: 0 });
    const a = await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(runA.runId));
    expect(a).toMatchObject({ pendingMessages: 0, extracted: 10 });
    expect(a.loaded + a.quarantined + loaded.accounted).toBe(ROWS);
  });

  it('leaves no plan to resume when its load stalled, so a message that was never sent cannot stall the next run', async () => {
    // Prepare: a run whose messages are registered and never loaded.
    const run = await extractRun('users-resume');
    await awaitLoadUseCase(h.deps, run, { stallTimeoutMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act
    const error = await failureOf(awaitLoadUseCase(h.deps, run, { stallTimeoutMs: 0 }));

    // Assess
    expect(error).toBeInstanceOf(LoadStalledError);
    expect(await h.deps.state.progress.getPlan('users-resume')).toBeUndefined();
  });

  it('plans anew once the checkpoint moved, and a verified run leaves no plan to resume', async () => {
    // Prepare: an unfinished plan, then a checkpoint written by another run.
    const runA = newRun('users-resume');
    await discover(runA);
    await plan(runA);
    await h.deps.state.checkpoints.put({
      pipeline: 'users-resume',
      cursor: { values: [at(10)], key: '10' },
      setBy: 'another-run',
      updatedAt: new Date().toISOString(),
    });

    // Act
    const runB = await extractRun('users-resume');
    await drainIntoLoad('users-resume');
    await awaitLoad(runB);
    await verify(runB);
    await cleanup(runB);

    // Assess
    expect((await runRecord(runB)).planId).toBe(runB.runId);
    expect(await h.deps.state.progress.getPlan('users-resume')).toBeUndefined();
  });
});

describe('await-load', () => {
  it('says done only once every registered message is complete, with counts that add up', async () => {
    // Prepare
    const run = await extractRun('users-extract');
    const messages = await h.receiveAll(h.queueUrl('users-extract'));
    const loadSome = async (batch: typeof messages) =>
      loadHandler(h.sqsEvent('users-extract', batch), h.context('load'));
    const before = await awaitLoad(run);
    await loadSome(messages.slice(0, 2));
    const recordsInFirstTwo = messages
      .slice(0, 2)
      .reduce((n, m) => n + (JSON.parse(m.Body ?? '{}') as RecordsMessage).records.length, 0);

    // Act
    const partway = await awaitLoad(run);
    await loadSome(messages.slice(2));
    const after = await awaitLoad(run);

    // Assess
    expect(before).toEqual({
      done: false,
      extracted: ROWS,
      accounted: 0,
      pendingMessages: 5,
      waitSeconds: AWAIT_LOAD_WAIT.unknownPaceSeconds,
    });
    expect(partway).toEqual({
      done: false,
      extracted: ROWS,
      accounted: recordsInFirstTwo,
      pendingMessages: 3,
      waitSeconds: expect.any(Number),
    });
    expect(after).toEqual(LOADED_IN_FULL);
    expect(await runRecord(run)).toMatchObject({
      counts: {
        extracted: ROWS,
        loaded: ROWS - 1,
        skipped: 0,
        conflicts: 0,
        quarantined: 1,
        deadLettered: 0,
      },
      phases: { AwaitLoad: { status: 'succeeded' } },
    });
  });
});

describe('await-load polls', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const pollOf = (run: RunRef, stallTimeoutMs?: number) =>
    awaitLoadUseCase(h.deps, run, stallTimeoutMs === undefined ? {} : { stallTimeoutMs });

  it('reads only the pending messages while waiting, and sums the whole ledger on the first poll and once nothing is pending', async () => {
    // Prepare
    const run = await extractRun('users-extract');
    const messages = await h.receiveAll(h.queueUrl('users-extract'));
    const load = (batch: typeof messages) =>
      loadHandler(h.sqsEvent('users-extract', batch), h.context('load'));
    const sums = vi.spyOn(h.deps.state.ledger, 'totals');
    const pendingReads = vi.spyOn(h.deps.state.ledger, 'pending');

    // Act: the waiting poll comes after the stall timeout, which its progress resets.
    const first = await pollOf(run);
    const sumsOfFirst = sums.mock.calls.length;
    await load(messages.slice(0, 2));
    await sleep(10);
    const waiting = await pollOf(run, 5);
    const sumsWhileWaiting = sums.mock.calls.length - sumsOfFirst;
    await load(messages.slice(2));
    const last = await pollOf(run);

    // Assess
    expect([sumsOfFirst, sumsWhileWaiting, sums.mock.calls.length]).toEqual([1, 0, 2]);
    expect(pendingReads).toHaveBeenCalledTimes(2);
    expect(first).toMatchObject({ done: false, accounted: 0, pendingMessages: 5 });
    expect(waiting).toMatchObject({ done: false, extracted: ROWS, pendingMessages: 3 });
    expect(waiting.accounted).toBeGreaterThan(0);
    expect(last).toEqual(LOADED_IN_FULL);
    expect(await runRecord(run)).toMatchObject({
      counts: { extracted: ROWS, quarantined: 1, deadLettered: 0 },
      phases: { AwaitLoad: { status: 'succeeded' } },
    });
  });

  it('waits by Load’s pace: half the time the pending records need at the last interval’s pace, polls counted', async () => {
    // Prepare
    const run = await extractRun('users-extract');
    const messages = await h.receiveAll(h.queueUrl('users-extract'));
    const start = Date.now();
    const pollAt = (seconds: number) =>
      awaitLoadUseCase({ ...h.deps, now: () => new Date(start + seconds * 1000) }, run);
    const first = await pollAt(0);
    await loadHandler(h.sqsEvent('users-extract', messages.slice(0, 2)), h.context('load'));

    // Act
    const second = await pollAt(4);

    // Assess: 4 s accounted the first two messages' records; the rest need the same again per record.
    const accounted = second.accounted;
    const pending = ROWS - accounted;
    expect(first).toMatchObject({ accounted: 0, waitSeconds: AWAIT_LOAD_WAIT.unknownPaceSeconds });
    expect(accounted).toBeGreaterThan(0);
    expect(second.waitSeconds).toBe(Math.max(1, Math.ceil(pending / (accounted / 4) / 2)));
    expect((await runRecord(run)).phases.AwaitLoad?.detail).toMatchObject({ polls: 2 });
  });

  it('counts the same records accounted whether a poll reads the pending index or sums the ledger, so a poll without progress shows none', async () => {
    // Prepare: two messages loaded before the first poll.
    const run = await extractRun('users-extract');
    const messages = await h.receiveAll(h.queueUrl('users-extract'));
    await loadHandler(h.sqsEvent('users-extract', messages.slice(0, 2)), h.context('load'));
    const summed = await pollOf(run);
    const progressAt = (await runRecord(run)).phases.AwaitLoad?.detail?.lastProgressAt;
    const pendingReads = vi.spyOn(h.deps.state.ledger, 'pending');

    // Act
    const byIndex = await pollOf(run);

    // Assess
    // The wait follows the pace since Execute started, which the time between the polls moves.
    const counts = ({ waitSeconds: _, ...rest }: typeof summed) => rest;
    expect(pendingReads).toHaveBeenCalled();
    expect(summed.accounted).toBeGreaterThan(0);
    expect(counts(byIndex)).toEqual(counts(summed));
    expect((await runRecord(run)).phases.AwaitLoad?.detail?.lastProgressAt).toBe(progressAt);
  });

  it('is not done while the full sum finds messages pending, even when the pending index shows none', async () => {
    // Prepare: an index that lags behind the registrations.
    const run = await extractRun('users-extract');
    await pollOf(run);
    vi.spyOn(h.deps.state.ledger, 'pending').mockResolvedValue({ messages: 0, records: 0 });

    // Act
    const out = await pollOf(run);

    // Assess
    expect(out).toEqual({
      done: false,
      extracted: ROWS,
      accounted: 0,
      pendingMessages: 5,
      waitSeconds: AWAIT_LOAD_WAIT.unknownPaceSeconds,
    });
    expect((await runRecord(run)).phases.AwaitLoad).toMatchObject({ status: 'running' });
  });

  it('waits for the earlier runs’ pending messages by the index, and is done once they are complete', async () => {
    // Prepare: every message of this run loaded; one of an earlier run it resumes still pending.
    const run = await extractRun('users-extract');
    await drainIntoLoad('users-extract');
    const earlier = keys.ledgerScopeOfRun(`earlier-${run.runId}`);
    await h.deps.state.ledger.register(earlier, [{ messageKey: 'left', records: 1 }]);
    await h.deps.state.runs.update(run.runId, { earlierRuns: [`earlier-${run.runId}`] });
    const first = await pollOf(run);
    const pendingReads = vi.spyOn(h.deps.state.ledger, 'pending');

    // Act
    const waiting = await pollOf(run);
    await h.deps.state.ledger.complete(earlier, 'left', 1, {
      loaded: 1,
      skipped: 0,
      conflicts: 0,
      quarantined: 0,
      deadLettered: 0,
      excludedKeys: [],
    });
    const last = await pollOf(run);

    // Assess
    expect(first).toMatchObject({ done: false, pendingMessages: 0 });
    expect(waiting).toMatchObject({ done: false, pendingMessages: 0 });
    expect(pendingReads.mock.calls.map(([scope]) => scope)).toContain(earlier);
    expect(last).toEqual(LOADED_IN_FULL);
  });
});

describe('verify', () => {
  it('verifies a partition over several invocations when time runs short, comparing each row once', async () => {
    // Prepare: under 30 s left, the partition step stops after every page it compares.
    const run = await syncedRun('users-sync');
    const plan = await invoke<{ items: Record<string, unknown>[] }>(
      verifyHandler,
      { ...sample('verify-plan.json'), ...run },
      h.context('verify'),
    );
    const outs: { done: boolean; compared: number; continuation: unknown }[] = [];

    // Act
    for (const item of plan.items) {
      let continuation: unknown = null;
      do {
        const out = await invoke<{ done: boolean; compared: number; continuation: unknown }>(
          verifyHandler,
          { ...sample('verify-partition.json'), ...run, item, continuation },
          h.context('verify', 20),
        );
        outs.push(out);
        continuation = out.continuation;
      } while (continuation);
    }
    const summary = await invoke(
      verifyHandler,
      { ...sample('verify-summary.json'), ...run },
      h.context('verify'),
    );

    // Assess
    expect(outs.length).toBeGreaterThan(plan.items.length);
    expect(outs.filter((o) => !o.done)[0]?.continuation).toMatchObject({ stage: 'compare', seq: 1 });
    expect(outs.reduce((n, o) => n + o.compared, 0)).toBe(ROWS - 1);
    expect(summary).toEqual({ status: 'passed', compared: ROWS - 1, mismatches: 0 });
  });

  it('passes when the target holds the window as the source has it', async () => {
    // Prepare
    const run = await syncedRun('users-sync');

    // Act
    const out = await verify(run);

    // Assess: the quarantined row is left out of the comparison.
    expect(out).toEqual({ status: 'passed', compared: ROWS - 1, mismatches: 0 });
    expect(await runRecord(run)).toMatchObject({
      verify: { status: 'passed' },
      phases: { Verify: { status: 'succeeded' } },
    });
  });

  it('passes for a pipeline that filters and computes, comparing the loaded rows with their computed fields', async () => {
    // Prepare: even ids are active; the pending odd ones (the invalid row 7 among them) are filtered out.
    const run = await syncedRun('users-expr');

    // Act
    const out = await verify(run);

    // Assess
    expect(out).toEqual({ status: 'passed', compared: ROWS / 2, mismatches: 0 });
    expect(await runRecord(run)).toMatchObject({
      counts: { extracted: ROWS, loaded: ROWS / 2, filtered: ROWS / 2, quarantined: 0 },
    });
    const item = await h.clients.dynamodb.send(
      new GetItemCommand({ TableName: h.targetTable('users-expr'), Key: { pk: { S: '2' } } }),
    );
    expect(item.Item?.display).toEqual({ S: 'USER 2' });
  });

  it('fails the run with VerifyFailedError and a report in S3 when a target record was changed behind its back', async () => {
    // Prepare
    const run = await syncedRun('users-strict');
    await tamperWithTarget('users-strict', '3');

    // Act: Verify fails, and the state machine's Catch hands its error to RecordFailure.
    const error = await failureOf(verify(run));
    await invoke(
      recordFailureHandler,
      { ...sample('record-failure.json'), ...run, error: taskError(error) },
      h.context('record-failure'),
    );

    // Assess
    const reportKey = `reports/users-strict/${run.runId}/verify.json`;
    expect(error.name).toBe('VerifyFailedError');
    expect(error.message).toBe(
      `verify found 1 of ${ROWS - 1} records different in the target; report s3://${h.dataBucket}/${reportKey}`,
    );
    expect(await h.readJson(reportKey)).toMatchObject({
      compared: ROWS - 1,
      mismatches: 1,
      sample: [{ key: '3', problem: 'content' }],
    });
    expect(await runRecord(run)).toMatchObject({
      status: 'failed',
      failure: { error: 'VerifyFailedError', cause: error.message },
      verify: { status: 'failed', mismatches: 1, reportKey },
      phases: { Verify: { status: 'failed', detail: { error: 'VerifyFailedError' } } },
    });
    expect(await h.deps.state.checkpoints.get('users-strict')).toBeUndefined();
    // The next run reads the window again instead of resuming a plan whose partitions are all done.
    expect(await h.deps.state.progress.getPlan('users-strict')).toBeUndefined();
  });

  it('only warns, with the same report, when the pipeline says so', async () => {
    // Prepare
    const run = await syncedRun('users-warn');
    await tamperWithTarget('users-warn', '11');

    // Act
    const out = await verify(run);

    // Assess
    const reportKey = `reports/users-warn/${run.runId}/verify.json`;
    expect(out).toEqual({ status: 'warned', compared: ROWS - 1, mismatches: 1, reportKey });
    expect(await h.readJson(reportKey)).toMatchObject({ sample: [{ key: '11', problem: 'content' }] });
    expect(await runRecord(run)).toMatchObject({ phases: { Verify: { status: 'succeeded' } } });
  });
});

describe('cleanup', () => {
  it('advances the checkpoint to the window end, writes the summary and announces the run', async () => {
    // Prepare
    const run = await syncedRun('users-cleanup');
    await verify(run);

    // Act
    const out = await cleanup(run);

    // Assess
    const reportKey = `reports/users-cleanup/${run.runId}/summary`;
    expect(out).toEqual({ checkpointAdvanced: true, reportKey: `${reportKey}.json` });
    expect(await h.deps.state.checkpoints.get('users-cleanup')).toMatchObject({
      cursor: { values: [at(ROWS)], key: String(ROWS) },
      setBy: run.runId,
    });
    const counts = {
      extracted: ROWS,
      loaded: ROWS - 1,
      skipped: 0,
      filtered: 0,
      conflicts: 0,
      quarantined: 1,
      deadLettered: 0,
    };
    expect(await h.readJson(`${reportKey}.json`)).toMatchObject({ runId: run.runId, counts });
    expect(await h.readText(`${reportKey}.md`)).toContain(`| ${ROWS} | ${ROWS - 1} | 0 | 0 | 0 | 1 | 0 |`);
    expect(await runRecord(run)).toMatchObject({ status: 'succeeded', reportKey: `${reportKey}.json` });
    expect(await h.busEvents()).toContainEqual(
      expect.objectContaining({
        'detail-type': 'esync.run.completed',
        detail: { pipeline: 'users-cleanup', runId: run.runId, counts, verify: 'passed' },
      }),
    );
  });

  it('leaves a checkpoint that an overlapping run already moved past the window end', async () => {
    // Prepare
    const run = await syncedRun('users-overlap');
    await verify(run);
    const later = {
      pipeline: 'users-overlap',
      cursor: { values: [at(ROWS + 5)], key: String(ROWS + 5) },
      setBy: 'a-later-run',
      updatedAt: '2026-11-01T00:10:00.000Z',
    };
    await h.deps.state.checkpoints.put(later);

    // Act
    const out = await cleanup(run);

    // Assess
    expect(out.checkpointAdvanced).toBe(false);
    expect(await h.deps.state.checkpoints.get('users-overlap')).toMatchObject(later);
    expect(await runRecord(run)).toMatchObject({ status: 'succeeded' });
  });
  it('moves the checkpoint past a record whose message was dead-lettered after its other records were written: the DLQ holds it, and a redrive loads it', async () => {
    // Prepare: every write of key 3 fails until its message has used up its two receives (chaos
    // seed 20261122: a throttled key's message, its other records written, reported lost).
    const pipeline = 'users-dead-letter';
    const queue = h.queueUrl(pipeline);
    const run = await extractRun(pipeline);
    h.failDynamoDbRequests({ table: h.targetTable(pipeline), containing: '{"S":"3"}' });
    for (let receive = 1; receive <= 2; receive++) {
      const messages = await h.receiveAll(queue, { visibilitySeconds: 1, atLeast: 1 });
      const failed = new Set<string>();
      try {
        const response = (await loadHandler(
          h.sqsEvent(pipeline, messages),
          h.context('load'),
        )) as SQSBatchResponse;
        for (const f of response.batchItemFailures) failed.add(f.itemIdentifier);
      } catch {
        for (const m of messages) failed.add(m.MessageId ?? '');
      }
      await h.deleteMessages(
        queue,
        messages.filter((m) => !failed.has(m.MessageId ?? '')),
      );
    }
    h.failDynamoDbRequests(undefined);
    await new Promise((r) => setTimeout(r, 1100));
    // The next receive finds the message over its maxReceiveCount: SQS moves it to the DLQ.
    const afterLastReceive = await h.receiveAll(queue);
    const dlq = queue.replace(loadQueueName('dev', pipeline), loadDlqName('dev', pipeline));

    // Act
    const loaded = await awaitLoad(run);
    await verify(run);
    const out = await cleanup(run);

    // Assess
    const deadLetters = await h.receiveAll(dlq, { atLeast: 1 });
    const deadKeys = deadLetters.flatMap((m) =>
      (JSON.parse(m.Body ?? '{}') as RecordsMessage).records.map((r) => r.key),
    );
    expect(afterLastReceive).toEqual([]);
    expect(loaded).toMatchObject({ done: true, pendingMessages: 0 });
    expect(out.checkpointAdvanced).toBe(true);
    expect(deadKeys).toEqual(['1', '2', '3', '4']);
    expect((await runRecord(run)).counts).toMatchObject({ extracted: ROWS, quarantined: 1, deadLettered: 4 });
    expect(await targetKeys(pipeline, deadKeys)).toEqual(['1', '2', '4']);
    // The operator's redrive (esync dlq redrive) puts the message back on the load queue.
    await h.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queue,
        Entries: deadLetters.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '' })),
      }),
    );
    await h.deleteMessages(dlq, deadLetters);
    await drainIntoLoad(pipeline);
    expect(await targetKeys(pipeline, deadKeys)).toEqual(deadKeys);
  });
});

describe('record-failure', () => {
  it('marks the run failed with the cause from the Lambda error and leaves the checkpoint untouched', async () => {
    // Prepare
    await h.deps.state.checkpoints.put({
      pipeline: 'ghost-sync',
      cursor: { values: [at(3)], key: '3' },
      setBy: 'an-earlier-run',
      updatedAt: '2026-11-01T00:10:00.000Z',
    });
    const checkpointBefore = await h.deps.state.checkpoints.get('ghost-sync');
    const run = newRun('ghost-sync');
    const error = await failureOf(discover(run));

    // Act
    const out = await invoke(
      recordFailureHandler,
      { ...sample('record-failure.json'), ...run, error: taskError(error) },
      h.context('record-failure'),
    );

    // Assess
    expect(out).toEqual({ recorded: true });
    expect(await runRecord(run)).toMatchObject({
      status: 'failed',
      failure: { error: 'ConnectorError', cause: error.message },
    });
    expect(await h.deps.state.checkpoints.get('ghost-sync')).toEqual(checkpointBefore);
    expect(await h.busEvents()).toContainEqual(
      expect.objectContaining({
        'detail-type': 'esync.run.failed',
        detail: expect.objectContaining({ runId: run.runId, error: 'ConnectorError' }),
      }),
    );
  });
});

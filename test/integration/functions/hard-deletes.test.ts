import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as awaitLoadHandler } from '../../../functions/await-load/handler.ts';
import { handler as cleanupHandler } from '../../../functions/cleanup/handler.ts';
import { handler as discoverHandler } from '../../../functions/discover/handler.ts';
import { handler as extractHandler } from '../../../functions/extract/handler.ts';
import { handler as loadHandler } from '../../../functions/load/handler.ts';
import { handler as planHandler } from '../../../functions/plan/handler.ts';
import { handler as verifyHandler } from '../../../functions/verify/handler.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import type { TargetSnapshotRecord } from '../../../shared/connectors/types.ts';
import { keys as stateKeys } from '../../../shared/state/keys.ts';
import { type Mismatch, perPartition } from '../../../shared/usecases/phases/6-verify.ts';
import { requireSystemServer } from '../../support/system-servers.ts';
import { verifySteps } from '../../support/verify-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';
import { type ItemsDatabase, itemsSource, startItemsDatabase } from './items-database.ts';

/**
 * Hard deletes (`deletes.mode: verify`) through the phase functions: rows deleted at the source
 * between runs are found by Verify and deleted in a DynamoDB table, a PostgreSQL table and an S3
 * lake through the normal Load path; Verify reports both directions and repair mends the target.
 */

const postgres = requireSystemServer('postgresql');
const ROWS = 12;

const source = itemsSource(5);
const pipeline = (name: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name,
  source,
  target,
  extract: { partitions: 3 },
  ...extra,
});

const targets = {
  dynamodb: { type: 'dynamodb' },
  postgres: {
    type: 'postgres',
    connection: { secret: 'db', ssl: 'disable' },
    table: 'events_copy',
    mode: 'jsonb',
  },
  'postgres-columns': {
    type: 'postgres',
    connection: { secret: 'db', ssl: 'disable' },
    table: 'events_columns',
    mode: 'columns',
  },
};

/**
 * Twelve instants in pairs a microsecond apart, read at mixed precision ("…00.500Z" before
 * "…00.500001Z", which text order puts first), with range cuts between the two of a pair.
 */
const EVENTS_SQL = `INSERT INTO events (at, name, updated_at)
  SELECT '2026-11-01T00:00:00Z'::timestamptz + (i / 2) * interval '0.25 second' + (i % 2) * interval '1 microsecond',
         'event ' || i, '2026-11-01T00:00:00Z'::timestamptz + i * interval '1 second'
  FROM generate_series(1, ${ROWS}) AS i`;

/**
 * Accounts keyed by their email in lower case (`source.keyExpression`): partitions that are not
 * ranges of the record key, so one Verify partition reads the whole source for hard deletes.
 */
const ACCOUNTS_SQL = `INSERT INTO accounts (id, email, updated_at)
  SELECT i, 'User' || i || '@Example.com', '2026-11-01T00:00:00Z'::timestamptz + i * interval '1 second'
  FROM generate_series(1, ${ROWS}) AS i`;
const accounts = {
  ...source,
  table: 'accounts',
  pageSize: 2,
  keyExpression: '$lowercase(email)',
};

describe.runIf(postgres.available)('hard deletes found by Verify', () => {
  let db: ItemsDatabase;
  let admin: pg.Client;
  let h: FunctionsHarness;

  beforeAll(async () => {
    db = await startItemsDatabase(ROWS);
    admin = db.admin;
    await admin.query(
      'CREATE TABLE events (at timestamptz PRIMARY KEY, name text, updated_at timestamptz NOT NULL)',
    );
    await admin.query(EVENTS_SQL);
    await admin.query(
      'CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL)',
    );
    await admin.query(ACCOUNTS_SQL);
    // Nullable columns: a delete's INSERT … ON CONFLICT carries the key and ESync's columns only.
    await admin.query(
      'CREATE TABLE events_columns (at timestamptz PRIMARY KEY, name text, updated_at timestamptz)',
    );
    const secret = db.secret;
    h = await startFunctionsHarness({
      secrets: { db: secret },
      pipelines: [
        pipeline('deletes-ddb', { type: 'dynamodb' }),
        pipeline('deletes-pg', {
          type: 'postgres',
          connection: { secret: 'db', ssl: 'disable' },
          table: 'items_copy',
          mode: 'jsonb',
        }),
        pipeline('deletes-lake', { type: 's3' }),
        pipeline('deletes-repair', { type: 'dynamodb' }, { verify: { onMismatch: 'repair' } }),
        { ...pipeline('expression-dynamodb', targets.dynamodb), source: accounts },
        {
          ...pipeline('expression-postgres', { ...targets.postgres, table: 'accounts_copy' }),
          source: accounts,
        },
        ...['dynamodb', 'postgres', 'postgres-columns'].map((type) => ({
          ...pipeline(`timed-${type}`, targets[type as keyof typeof targets]),
          source: { ...source, table: 'events', key: ['at'] },
        })),
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    await db?.stop();
  });

  const invoke = async <T>(
    fn: (e: unknown, c: Context) => Promise<unknown>,
    payload: unknown,
    name: string,
    seconds = 900,
  ) =>
    JSON.parse(JSON.stringify(await fn(JSON.parse(JSON.stringify(payload)), h.context(name, seconds)))) as T;

  /** The Load function consuming the queue until it is empty, as the SQS event source does. */
  async function drain(name: string): Promise<void> {
    for (
      let batch = await h.receiveAll(h.queueUrl(name));
      batch.length > 0;
      batch = await h.receiveAll(h.queueUrl(name))
    )
      for (let i = 0; i < batch.length; i += 10) {
        const part = batch.slice(i, i + 10);
        const response = (await loadHandler(h.sqsEvent(name, part), h.context('load'))) as SQSBatchResponse;
        expect(response.batchItemFailures).toEqual([]);
        await h.deleteMessages(h.queueUrl(name), part);
      }
  }

  type Ref = { readonly pipeline: string; readonly runId: string; readonly extracted: number };

  /** Discover, Plan, Extract and Load of a run, as the state machine runs them. */
  async function load(name: string): Promise<Ref> {
    const ref = { pipeline: name, runId: `${name}-${randomUUID().slice(0, 8)}` };
    let extracted = 0;
    await invoke(discoverHandler, { ...ref, trigger: 'manual' }, 'discover');
    const planned = await invoke<{ partitions: { id: string; spec: Record<string, unknown> }[] }>(
      planHandler,
      ref,
      'plan',
    );
    for (const partition of planned.partitions) {
      let out = await invoke<{ done: boolean; continuation: unknown; extracted: number }>(
        extractHandler,
        { ...ref, partition },
        'extract',
      );
      extracted += out.extracted;
      while (!out.done) {
        out = await invoke(extractHandler, { ...ref, partition, continuation: out.continuation }, 'extract');
        extracted += out.extracted;
      }
    }
    await drain(name);
    expect(await invoke(awaitLoadHandler, ref, 'await-load')).toMatchObject({ done: true });
    return { ...ref, extracted };
  }

  /**
   * Verify and Cleanup of a loaded run; what Verify sent (deletes, repairs) is loaded after. Each
   * Verify invocation has `verifySeconds` (less than Verify's 30 s safety margin: one page each).
   */
  async function finish({ pipeline, runId }: Ref, verifySeconds = 900): Promise<Record<string, unknown>> {
    const ref = { pipeline, runId };
    const verify = await verifySteps(
      (payload) => invoke(verifyHandler, payload, 'verify', verifySeconds),
      (key) => h.readJson(key),
      { ...ref },
    );
    await invoke(cleanupHandler, ref, 'cleanup');
    await drain(ref.pipeline);
    return verify;
  }

  const run = async (name: string) => finish(await load(name));

  async function liveKeys(name: string): Promise<string[]> {
    const pipeline = h.deps.catalog.get(name);
    const target = await TARGET_CONNECTORS.loadAndCreate(pipeline.target, h.deps.connectorContext(pipeline));
    const keys: TargetSnapshotRecord[] = [];
    for await (const page of target.snapshot()) keys.push(...page);
    await target.close();
    return keys.map((r) => r.key).sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  }

  const all = Array.from({ length: ROWS }, (_, i) => String(i + 1));

  it('deletes the rows deleted at the source in DynamoDB, PostgreSQL and the S3 lake, each kept as a tombstone', async () => {
    // Prepare: a first load of each target, then rows 3 and 8 deleted at the source.
    for (const name of ['deletes-ddb', 'deletes-pg', 'deletes-lake']) await run(name);
    await admin.query('DELETE FROM items WHERE id IN (3, 8)');

    // Act: an incremental run, whose window holds no change at all.
    const refs = await Promise.all(['deletes-ddb', 'deletes-pg', 'deletes-lake'].map((name) => load(name)));
    const second = await Promise.all(refs.map((ref) => finish(ref)));

    // Assess
    for (const verify of second)
      expect(verify).toMatchObject({ status: 'passed', mismatches: 0, deleted: 2 });
    // Each partition read its own key range of the target, not the whole target: the 10 source
    // rows cut in two ranges at id 6, and the 12 target rows read once over them (PostgreSQL by
    // range, the others from their slice of one read of the target per run).
    for (const ref of refs) {
      const partitions = perPartition(await h.deps.state.verifyResults.list(ref.runId));
      expect(partitions.map((p) => [p.partitionId, p.targetRead])).toEqual([
        ['range-1-of-2', 6],
        ['range-2-of-2', 6],
      ]);
    }
    const left = all.filter((k) => k !== '3' && k !== '8');
    for (const name of ['deletes-ddb', 'deletes-pg', 'deletes-lake'])
      expect(await liveKeys(name)).toEqual(left);
    const item3 = await h.clients.dynamodb.send(
      new GetItemCommand({
        TableName: h.targetTable('deletes-ddb'),
        Key: { pk: { S: '3' } },
      }),
    );
    expect(item3.Item?._d).toEqual({ BOOL: true });
    const rows = await admin.query('SELECT key, _d FROM items_copy WHERE key IN ($1, $2) ORDER BY key', [
      '3',
      '8',
    ]);
    expect(rows.rows).toEqual([
      { key: '3', _d: true },
      { key: '8', _d: true },
    ]);
    const third = await run('deletes-ddb');
    expect(third).toMatchObject({ status: 'passed', mismatches: 0 });
    expect(third.deleted).toBeUndefined();
  });

  it('reports differences in both directions over many partitions, and repair mends them', async () => {
    // Prepare: behind the back of a run that loaded, one row changed and one lost in the
    // target, and one row deleted at the source.
    const ref = await load('deletes-repair');
    const table = h.targetTable('deletes-repair');
    await h.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: '5' } },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': { S: 'Mallory' } },
      }),
    );
    await h.clients.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: '9' } } }));
    await admin.query('DELETE FROM items WHERE id = 11');

    // Act: Verify of that run, then a full run after a checkpoint reset to check the target again.
    const repaired = await finish(ref);
    await h.deps.state.checkpoints.put({
      pipeline: 'deletes-repair',
      cursor: null,
      setBy: 'reset',
      updatedAt: new Date().toISOString(),
    });
    const after = await run('deletes-repair');

    // Assess
    expect(repaired).toMatchObject({ status: 'repaired', mismatches: 2, deleted: 1 });
    const report = await h.readJson<{ sample: Mismatch[] }>(String(repaired.reportKey));
    expect(report.sample.map((m) => [m.key, m.problem]).sort()).toEqual([
      ['11', 'not-in-source'],
      ['5', 'content'],
      ['9', 'missing'],
    ]);
    expect(after).toMatchObject({ status: 'passed', mismatches: 0 });
    const items = await h.clients.dynamodb.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: '5' } } }),
    );
    expect(items.Item?.name).toEqual({ S: 'item 5' });
    expect(await liveKeys('deletes-repair')).toEqual(all.filter((k) => !['3', '8', '11'].includes(k)));
  });

  it('loads a table keyed by a timestamp through key ranges once, and Verify places each key in its range to find hard deletes', async () => {
    // Prepare
    const names = ['timed-dynamodb', 'timed-postgres', 'timed-postgres-columns'];
    const { rows } = await admin.query<{ key: string }>(
      `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS key FROM events ORDER BY at`,
    );
    const inOrder = rows.map((r) => r.key.replace(/000Z$/, 'Z'));
    const keys = [...inOrder].sort();

    // Act: a first load, then an incremental run after two rows (in the first and last range) are deleted.
    const first = await Promise.all(names.map((name) => load(name)));
    const verified = await Promise.all(first.map((ref) => finish(ref)));
    const loaded = await Promise.all(names.map((name) => liveKeys(name)));
    await admin.query('DELETE FROM events WHERE name IN ($1, $2)', ['event 2', 'event 11']);
    const second = await Promise.all(names.map(async (name) => finish(await load(name))));

    // Assess: three ranges, each row extracted once; no key taken for one the source lacks.
    for (const ref of first) {
      const partitions = perPartition(await h.deps.state.verifyResults.list(ref.runId));
      expect(partitions.map((p) => p.partitionId)).toEqual(['range-1-of-3', 'range-2-of-3', 'range-3-of-3']);
      expect(ref.extracted).toBe(ROWS);
    }
    // The columns table's key is a timestamptz: each partition read its own range of it, in that type.
    const columns = perPartition(await h.deps.state.verifyResults.list((first[2] as Ref).runId));
    expect(columns.map((p) => p.targetRead)).toEqual([4, 4, 4]);
    for (const verify of verified) expect(verify).toMatchObject({ status: 'passed', mismatches: 0 });
    for (const live of loaded) expect(live).toEqual(keys);
    for (const verify of second)
      expect(verify).toMatchObject({ status: 'passed', mismatches: 0, deleted: 2 });
    const left = keys.filter((k) => k !== inOrder[1] && k !== inOrder[10]);
    for (const name of names) expect(await liveKeys(name)).toEqual(left);
  });

  it('finds the hard deletes of a source read whole over many invocations, each delete sent once', async () => {
    // Prepare: a first load of accounts keyed by an expression, then three rows deleted at the source.
    const names = ['expression-dynamodb', 'expression-postgres'];
    for (const name of names) await run(name);
    await admin.query('DELETE FROM accounts WHERE id IN (2, 7, 12)');

    // Act: an incremental run whose Verify invocations each have time for one page only.
    const refs = await Promise.all(names.map((name) => load(name)));
    const second = await Promise.all(refs.map((ref) => finish(ref, 20)));

    // Assess
    const gone = ['user2@example.com', 'user7@example.com', 'user12@example.com'];
    const left = all.map((id) => `user${id}@example.com`).filter((key) => !gone.includes(key));
    for (const [i, ref] of refs.entries()) {
      expect(second[i]).toMatchObject({ status: 'passed', mismatches: 0, deleted: 3 });
      const chunks = await h.deps.state.verifyResults.list(ref.runId);
      // One partition (the window holds no change); the target's keys, then the whole source's
      // (eight partitions of them, two rows a page), took an invocation after another.
      expect(new Set(chunks.map((c) => c.partitionId))).toEqual(new Set(['all']));
      const searching = chunks.filter((c) => c.partitionId === 'all');
      expect(searching.length).toBeGreaterThan(5);
      expect(searching.filter((c) => c.deleted > 0).map((c) => c.deleted)).toEqual([3]);
      const scope = stateKeys.ledgerScopeOfStream(ref.pipeline, `deletes-${ref.runId}`);
      const sent = (await h.ledger(scope)).reduce((n, m) => n + Number(m.records), 0);
      expect(sent).toBe(3);
      expect((await liveKeys(ref.pipeline)).sort()).toEqual([...left].sort());
    }
  });
});

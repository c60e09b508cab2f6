import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { accounted } from '../../../shared/domain/run-counts.ts';
import type { DriftPolicy } from '../../../shared/domain/schema-drift.ts';
import type { RunRecord } from '../../../shared/state/runs.ts';
import {
  connectionSecret,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../../support/system-servers.ts';
import { batchSteps, newRun } from './batch-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

/**
 * Schema drift through whole batch runs (the phase functions over the local servers) from a
 * table of the Debian PostgreSQL into a PostgreSQL `columns` table and DynamoDB: between two
 * runs the source gains a column (ALTER TABLE … ADD COLUMN) and one of its columns changes type,
 * and each `schema.onDrift` policy does what the pipeline reference says.
 */

const postgresql = requireSystemServer('postgresql');
const POLICIES: readonly DriftPolicy[] = ['evolve', 'freeze', 'discard'];
const ROWS = 4;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 1, 0, minute)).toISOString();

const pipeline = (policy: DriftPolicy, target: 'pg' | 'ddb') => ({
  name: `drift-${policy}-${target}`,
  source: {
    type: 'postgres',
    connection: { secret: 'db', ssl: 'disable' },
    table: `${policy}_items`,
    key: ['id'],
    cursor: ['updated_at'],
  },
  target:
    target === 'pg'
      ? {
          type: 'postgres',
          connection: { secret: 'db', ssl: 'disable' },
          table: `${policy}_copy`,
          mode: 'columns',
        }
      : { type: 'dynamodb' },
  schema: { onDrift: policy },
});

let server: RunningServer;
let admin: pg.Client;
let h: FunctionsHarness;
const steps = batchSteps(() => h);

beforeAll(async () => {
  if (!postgresql.available) return;
  server = await startPostgres();
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  for (const policy of POLICIES) {
    const columns = 'id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, score numeric(6,2)';
    await admin.query(`CREATE TABLE ${policy}_items (${columns}, updated_at timestamptz NOT NULL)`);
    await admin.query(`CREATE TABLE ${policy}_copy (${columns}, updated_at timestamptz)`);
    for (let id = 1; id <= ROWS; id++)
      await admin.query(`INSERT INTO ${policy}_items VALUES ($1, $2, $3, $4, $5)`, [
        id,
        `item ${id}`,
        id * 10,
        id + 0.25,
        at(id),
      ]);
  }
  h = await startFunctionsHarness({
    secrets: { db: connectionSecret(server) },
    pipelines: POLICIES.flatMap((policy) => [pipeline(policy, 'pg'), pipeline(policy, 'ddb')]),
  });
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await admin?.end();
  await server?.stop();
});

/** A whole batch run, Discover to Cleanup; the run record at its end. */
async function wholeRun(name: string): Promise<RunRecord> {
  const run = await steps.syncedRun(name);
  expect(await steps.verify(run)).toMatchObject({ status: 'passed' });
  await steps.cleanup(run);
  return h.deps.state.runs.get(run.runId);
}

/**
 * Between runs: a new column with values in rows 1 and 2 (changed), and a column of another type:
 * `qty` bigint (row 1 beyond 2^31) unless `retype` names another change.
 */
async function driftSource(policy: DriftPolicy, retype = 'qty TYPE bigint'): Promise<void> {
  await admin.query(`ALTER TABLE ${policy}_items ADD COLUMN phone text`);
  await admin.query(`ALTER TABLE ${policy}_items ALTER COLUMN ${retype}`);
  await admin.query(`UPDATE ${policy}_items SET phone = '555-010' || id, updated_at = $1 WHERE id <= 2`, [
    at(30),
  ]);
  if (retype.startsWith('qty')) await admin.query(`UPDATE ${policy}_items SET qty = 3000000000 WHERE id = 1`);
}

const pgRow = async (policy: DriftPolicy, id: number) =>
  (await admin.query(`SELECT * FROM ${policy}_copy WHERE id = $1`, [id])).rows[0] as Record<string, unknown>;
const pgColumns = async (policy: DriftPolicy) =>
  Object.fromEntries(
    (
      await admin.query(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 AND column_name NOT LIKE '\\_%'`,
        [`${policy}_copy`],
      )
    ).rows.map((r: { column_name: string; data_type: string }) => [r.column_name, r.data_type]),
  );
/** The SchemaDrift values the phase handlers published while `act` ran. */
async function schemaDriftMetrics(act: () => Promise<unknown>): Promise<number[]> {
  const addMetric = vi.spyOn(Metrics.prototype, 'addMetric');
  try {
    await act();
    return addMetric.mock.calls.filter(([name]) => name === 'SchemaDrift').map(([, , value]) => value);
  } finally {
    addMetric.mockRestore();
  }
}

const ddbItem = async (policy: DriftPolicy, id: number) =>
  (
    await h.clients.ddb.send(
      new GetCommand({ TableName: h.targetTable(`drift-${policy}-ddb`), Key: { pk: String(id) } }),
    )
  ).Item as Record<string, unknown>;

describe.runIf(postgresql.available)('schema drift between two runs', () => {
  it('records the schema of a first run and finds no drift in it', async () => {
    for (const policy of POLICIES)
      for (const target of ['pg', 'ddb'] as const) {
        const run = await wholeRun(`drift-${policy}-${target}`);

        expect(run.schema?.fields.map((f) => `${f.name} ${f.type}`)).toEqual([
          'id integer',
          'name text',
          'qty integer',
          'score numeric(6,2)',
          'updated_at timestamp with time zone',
        ]);
        expect(run.schema?.drift).toBeUndefined();
        expect(run.counts.loaded).toBe(ROWS);
      }
  });

  it('evolve adds the new column to the PostgreSQL table, widens the retyped one, and passes both to DynamoDB', async () => {
    await driftSource('evolve');

    let pgRun: RunRecord | undefined;
    const metrics = await schemaDriftMetrics(async () => {
      pgRun = await wholeRun('drift-evolve-pg');
    });
    const ddbRun = await wholeRun('drift-evolve-ddb');

    expect(metrics).toEqual([2]);
    expect(pgRun?.schema).toMatchObject({
      policy: 'evolve',
      action: 'evolved',
      summary: 'added phone (text); qty changed type from integer to bigint',
      targetChanges: ['added column phone text', 'widened column qty from integer to bigint'],
    });
    expect(await pgColumns('evolve')).toMatchObject({ phone: 'text', qty: 'bigint' });
    expect(await pgRow('evolve', 1)).toMatchObject({ phone: '555-0101', qty: '3000000000' });
    expect(pgRun?.counts).toMatchObject({ extracted: 2, loaded: 2, quarantined: 0 });
    expect(ddbRun.schema).toMatchObject({ action: 'evolved', targetChanges: [] });
    expect(await ddbItem('evolve', 2)).toMatchObject({ phone: '555-0102', qty: 20 });
    const events = await h.busEvents();
    const detailsOf = (type: string) => events.filter((e) => e['detail-type'] === type).map((e) => e.detail);
    expect(detailsOf('esync.run.schema-drift')).toContainEqual(
      expect.objectContaining({
        pipeline: 'drift-evolve-pg',
        runId: pgRun?.runId,
        policy: 'evolve',
        added: ['phone'],
        typeChanged: [{ name: 'qty', from: 'integer', to: 'bigint' }],
      }),
    );
    expect(detailsOf('esync.run.completed')).toContainEqual(
      expect.objectContaining({
        runId: pgRun?.runId,
        schemaDrift: {
          policy: 'evolve',
          action: 'evolved',
          summary: 'added phone (text); qty changed type from integer to bigint',
          fieldsDiscarded: 0,
        },
      }),
    );
  });

  it('evolve accepts the change, so the next run finds no drift', async () => {
    await admin.query(`UPDATE evolve_items SET name = 'renamed', updated_at = $1 WHERE id = 3`, [at(40)]);

    let run: RunRecord | undefined;
    const metrics = await schemaDriftMetrics(async () => {
      run = await wholeRun('drift-evolve-pg');
    });

    expect(run?.schema?.drift).toBeUndefined();
    expect(metrics).toEqual([]);
    expect(await pgRow('evolve', 3)).toMatchObject({ name: 'renamed' });
  });

  it('evolve refuses a type change the PostgreSQL column cannot take by widening, naming the column, and loads nothing', async () => {
    await admin.query('ALTER TABLE evolve_items ALTER COLUMN score TYPE double precision');
    await admin.query(`UPDATE evolve_items SET score = 0.1, updated_at = $1 WHERE id = 4`, [at(50)]);
    const run = newRun('drift-evolve-pg');

    await expect(steps.discover(run)).rejects.toThrow(
      /column score of public.evolve_copy is numeric\(6,2\), which cannot hold the values of the source column score, now double precision/,
    );

    const record = await h.deps.state.runs.get(run.runId);
    expect(record.schema).toMatchObject({
      action: 'failed',
      summary: 'score changed type from numeric(6,2) to double precision',
    });
    expect(await pgRow('evolve', 4)).toMatchObject({ score: '4.25' });
    const ddbRun = await wholeRun('drift-evolve-ddb');
    expect(ddbRun.schema).toMatchObject({ action: 'evolved' });
    expect(await ddbItem('evolve', 4)).toMatchObject({ score: 0.1 });
  });

  it('freeze fails the run in Discover with the difference, loads nothing, and fails the next run too', async () => {
    await driftSource('freeze');

    for (const name of ['drift-freeze-pg', 'drift-freeze-ddb']) {
      for (let attempt = 1; attempt <= 2; attempt++) {
        const run = newRun(name);
        let refusal: unknown;
        const metrics = await schemaDriftMetrics(() =>
          steps.discover(run).catch((error: unknown) => {
            refusal = error;
          }),
        );

        expect(metrics).toEqual([2]);
        expect(String(refusal)).toContain(
          'the columns of the source changed since the schema the pipeline accepted: added phone (text); qty changed type from integer to bigint. schema.onDrift is freeze',
        );
        const record = await h.deps.state.runs.get(run.runId);
        expect(record.schema).toMatchObject({ policy: 'freeze', action: 'failed' });
        expect(record.phases.Discover).toMatchObject({
          status: 'failed',
          detail: { error: 'SchemaDriftError' },
        });
      }
    }
    expect(await pgColumns('freeze')).not.toHaveProperty('phone');
    expect(await pgRow('freeze', 1)).toMatchObject({ qty: 10 });
    expect(await ddbItem('freeze', 1)).not.toHaveProperty('phone');
  });

  it('discard loads the records without the new column, counted, and keeps a retyped column the target holds loading', async () => {
    await driftSource('discard', 'name TYPE varchar(100)');

    const pgRun = await wholeRun('drift-discard-pg');
    const ddbRun = await wholeRun('drift-discard-ddb');

    for (const run of [pgRun, ddbRun]) {
      expect(run.schema).toMatchObject({
        policy: 'discard',
        action: 'discarded',
        discarded: ['phone'],
        summary: 'added phone (text); name changed type from text to character varying(100)',
      });
      expect(run.fieldsDiscarded).toBe(2);
      expect(run.counts).toMatchObject({ extracted: 2, loaded: 2, quarantined: 0 });
      expect(accounted(run.counts)).toBe(run.counts.extracted);
    }
    expect(await pgColumns('discard')).not.toHaveProperty('phone');
    expect(await pgRow('discard', 2)).toMatchObject({ name: 'item 2', qty: 20 });
    expect(await ddbItem('discard', 2)).not.toHaveProperty('phone');
    expect(await ddbItem('discard', 2)).toMatchObject({ name: 'item 2', qty: 20 });
  });

  it('discard fails the run when the PostgreSQL column cannot hold a retyped column, and DynamoDB takes it', async () => {
    await admin.query('ALTER TABLE discard_items ALTER COLUMN qty TYPE bigint');
    await admin.query(`UPDATE discard_items SET qty = 3000000000, updated_at = $1 WHERE id = 1`, [at(60)]);

    const pgRun = newRun('drift-discard-pg');
    await expect(steps.discover(pgRun)).rejects.toThrow(
      /column qty of public.discard_copy is integer, which cannot hold the values of the source column qty, now bigint \(was integer\); schema.onDrift discard leaves the target columns as they are/,
    );
    const ddbRun = await wholeRun('drift-discard-ddb');

    expect(ddbRun.schema?.summary).toBe('added phone (text); qty changed type from integer to bigint');
    expect(await ddbItem('discard', 1)).toMatchObject({ qty: 3000000000 });
    expect(await ddbItem('discard', 1)).not.toHaveProperty('phone');
  });
});

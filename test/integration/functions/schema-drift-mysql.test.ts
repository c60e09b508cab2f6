import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../../shared/state/runs.ts';
import {
  connectionSecret,
  type RunningServer,
  requireSystemServer,
  startMariaDb,
  startPostgres,
} from '../../support/system-servers.ts';
import { batchSteps } from './batch-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

/**
 * Schema drift from a MariaDB table into a PostgreSQL `columns` table under `evolve`: the columns
 * added at the source get the PostgreSQL types of the type mapping, a widened one is widened, and
 * the run verifies.
 */

const mariadb = requireSystemServer('mariadb');
const postgresql = requireSystemServer('postgresql');
const at = (minute: number) =>
  new Date(Date.UTC(2026, 10, 1, 0, minute)).toISOString().replace('T', ' ').replace('Z', '');

describe.runIf(mariadb.available && postgresql.available)('schema drift from MySQL', () => {
  let source: RunningServer;
  let target: RunningServer;
  let admin: pg.Client;
  let mariadbAdmin: mysql.Connection;
  let h: FunctionsHarness;
  const steps = batchSteps(() => h);

  beforeAll(async () => {
    [source, target] = await Promise.all([startMariaDb(), startPostgres()]);
    mariadbAdmin = await mysql.createConnection({
      host: '127.0.0.1',
      port: source.port,
      user: 'root',
      database: 'esync',
    });
    await mariadbAdmin.query(
      'CREATE TABLE items (id int PRIMARY KEY, name varchar(40) NOT NULL, qty int NOT NULL, updated_at datetime(3) NOT NULL)',
    );
    for (let id = 1; id <= 3; id++)
      await mariadbAdmin.query(`INSERT INTO items VALUES (${id}, 'item ${id}', ${id * 10}, '${at(id)}')`);
    admin = new pg.Client({ connectionString: target.url });
    await admin.connect();
    await admin.query(
      'CREATE TABLE items (id integer PRIMARY KEY, name text, qty integer, updated_at timestamp(3) without time zone)',
    );
    h = await startFunctionsHarness({
      secrets: {
        source: JSON.stringify({
          host: '127.0.0.1',
          port: source.port,
          user: 'root',
          password: '',
          database: 'esync',
        }),
        target: connectionSecret(target),
      },
      pipelines: [
        {
          name: 'drift-mysql',
          source: {
            type: 'mysql',
            connection: { secret: 'source', ssl: 'disable' },
            table: 'items',
            key: ['id'],
            cursor: ['updated_at'],
          },
          target: { type: 'postgres', connection: { secret: 'target', ssl: 'disable' }, table: 'items' },
        },
      ],
    });
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
    await admin?.end();
    await mariadbAdmin?.end();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  async function wholeRun(): Promise<RunRecord> {
    const run = await steps.syncedRun('drift-mysql');
    expect(await steps.verify(run)).toMatchObject({ status: 'passed' });
    await steps.cleanup(run);
    return h.deps.state.runs.get(run.runId);
  }

  it('adds the new MySQL columns with their mapped PostgreSQL types and widens a retyped one', async () => {
    await wholeRun();
    await mariadbAdmin.query(
      'ALTER TABLE items ADD COLUMN price decimal(10,2), ADD COLUMN active tinyint(1), MODIFY qty bigint NOT NULL',
    );
    await mariadbAdmin.query(
      `UPDATE items SET price = 12.5, active = 1, qty = 5000000000, updated_at = '${at(30)}' WHERE id = 2`,
    );

    const run = await wholeRun();

    expect(run.schema).toMatchObject({
      action: 'evolved',
      targetChanges: [
        'added column price numeric(10,2)',
        'added column active smallint',
        'widened column qty from integer to bigint',
      ],
    });
    const row = (await admin.query('SELECT price, active, qty FROM items WHERE id = 2')).rows[0];
    expect(row).toEqual({ price: '12.50', active: 1, qty: '5000000000' });
    expect(run.counts).toMatchObject({ extracted: 1, loaded: 1, quarantined: 0 });
  });
});

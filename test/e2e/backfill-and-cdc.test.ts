import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTypeParsers } from '../../shared/connectors/sql/pg-values.ts';
import { accounted, zeroCounts } from '../../shared/domain/run-counts.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { lsnToBigInt } from '../../shared/records/version.ts';
import { keys } from '../../shared/state/keys.ts';
import { putChangeDetails, shuffled } from '../support/e2e-events.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  type RunReport,
  scanTable,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';
import {
  connectionSecret,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../support/system-servers.ts';

const postgresql = requireSystemServer('postgresql');

/** ESync's meta attributes on a DynamoDB target item; everything else is the record's data. */
const META = new Set(['pk', '_v', '_h', '_d', '_k', '_ts', '_m']);

/**
 * One pipeline per order: it polls `table` (a backfill) and takes the Debezium events of the
 * live `items_*` table from the bus, into one DynamoDB target.
 */
const pipelineYaml = (name: string, table: string, detailType: string) => `name: ${name}
source:
  type: postgres
  connection: { secret: esync/shop-db }
  table: ${table}
  key: [id]
  cursor: [updated_at]
triggers:
  cdc:
    pattern:
      source: [esync.cdc]
      detail-type: [${detailType}]
target:
  type: dynamodb
`;

/** A change as Debezium's PostgreSQL connector reports it: commit time and log position. */
interface CapturedChange {
  readonly op: 'c' | 'u' | 'd';
  readonly table: string;
  readonly row: Record<string, unknown>;
  readonly lsn: number;
  readonly commitMs: number;
}

/** Debezium's ZonedTimestamp text: UTC, the fraction without trailing zeros, `Z`. */
const ZONED = `to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
const zoned = (text: string) => `${text.replace(/0+$/, '').replace(/\.$/, '')}Z`;

/** The row's Connect schema, as the JSON converter sends it (Debezium's default, schemas.enable). */
const ROW_SCHEMA = {
  type: 'struct',
  optional: true,
  fields: [
    { field: 'id', type: 'int32', optional: false },
    { field: 'name', type: 'string', optional: false },
    { field: 'qty', type: 'int32', optional: false },
    {
      field: 'updated_at',
      type: 'string',
      optional: false,
      name: 'io.debezium.time.ZonedTimestamp',
      version: 1,
    },
  ],
};

/** Debezium's message of a captured change, with the JSON converter's schema. */
function debeziumEvent(change: CapturedChange): Record<string, unknown> {
  const deleted = change.op === 'd';
  const payload = {
    before: deleted ? { id: change.row.id, name: '', qty: 0, updated_at: change.row.updated_at } : null,
    after: deleted ? null : change.row,
    op: change.op,
    source: {
      connector: 'postgresql',
      db: 'postgres',
      schema: 'public',
      table: change.table,
      lsn: change.lsn,
      ts_ms: change.commitMs,
    },
    ts_ms: change.commitMs + 7,
  };
  const schema = {
    type: 'struct',
    name: `shop.public.${change.table}.Envelope`,
    fields: [
      { ...ROW_SCHEMA, field: 'before' },
      { ...ROW_SCHEMA, field: 'after' },
      { field: 'op', type: 'string', optional: false },
      { field: 'ts_ms', type: 'int64', optional: true },
    ],
  };
  return { schema, payload };
}

/** The days a stream ledger scope may be named after while the test runs. */
const days = (since: number) => [
  ...new Set([since, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
];

describe.runIf(postgresql.available)(
  'a polled backfill and a Debezium stream of one PostgreSQL table into one DynamoDB target',
  () => {
    let server: RunningServer;
    let db: pg.Client;
    let project: E2eProject;
    let e2e: E2eStack;
    const since = Date.now();

    beforeAll(async () => {
      server = await startPostgres({ settings: { track_commit_timestamp: 'on' } });
      db = new pg.Client({ connectionString: server.url, types: pgTypeParsers });
      await db.connect();
      await db.query(`CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$`);
      for (const table of ['items_a', 'items_b']) {
        await db.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
        await db.query(
          `CREATE TRIGGER touch BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION touch()`,
        );
      }
      project = createProject({
        'items-backfill-first': pipelineYaml('items-backfill-first', 'items_a', 'items-a.change'),
        'items-stream-first': pipelineYaml('items-stream-first', 'items_b_snapshot', 'items-b.change'),
      });
      e2e = await startE2eStack(project, { 'esync/shop-db': connectionSecret(server) });
    }, 600_000);

    afterAll(async () => {
      await e2e?.stop();
      project?.remove();
      await db?.end();
      await server?.stop();
    });

    /** Runs one statement in its own transaction and captures it as Debezium would. */
    async function capture(op: CapturedChange['op'], table: string, sql: string): Promise<CapturedChange[]> {
      await db.query('BEGIN');
      const rows = await db.query<{ id: number; name: string; qty: number; ts: string }>(
        `${sql} RETURNING id, name, qty, ${ZONED} AS ts`,
      );
      const at = await db.query<{ xid: string; lsn: string }>(
        'SELECT pg_current_xact_id()::text AS xid, pg_current_wal_insert_lsn()::text AS lsn',
      );
      await db.query('COMMIT');
      const { xid, lsn } = at.rows[0] ?? { xid: '', lsn: '' };
      const committed = await db.query<{ ms: string }>(
        'SELECT floor(extract(epoch FROM pg_xact_commit_timestamp($1::xid)) * 1000)::bigint::text AS ms',
        [xid],
      );
      return rows.rows.map((r, i) => ({
        op,
        table,
        row: { id: r.id, name: r.name, qty: r.qty, updated_at: zoned(r.ts) },
        lsn: Number(lsnToBigInt(lsn)) + i,
        commitMs: Number(committed.rows[0]?.ms),
      }));
    }

    /** Inserts, updates twice, deletes some and creates one of them again. */
    async function firstChanges(table: string): Promise<CapturedChange[]> {
      const changes: CapturedChange[] = [];
      for (let id = 1; id <= 12; id++)
        changes.push(
          ...(await capture(
            'c',
            table,
            `INSERT INTO ${table} (id, name, qty) VALUES (${id}, 'item ${id}', ${id})`,
          )),
        );
      changes.push(...(await capture('u', table, `UPDATE ${table} SET qty = qty + 100 WHERE id <= 6`)));
      changes.push(
        ...(await capture('u', table, `UPDATE ${table} SET name = name || ' (v2)' WHERE id <= 3`)),
      );
      changes.push(...(await capture('d', table, `DELETE FROM ${table} WHERE id IN (7, 8)`)));
      changes.push(
        ...(await capture('c', table, `INSERT INTO ${table} (id, name, qty) VALUES (8, 'item 8 again', 80)`)),
      );
      return changes;
    }

    /** Changes after the backfill's snapshot: updates, hard deletes, a row created and deleted. */
    async function laterChanges(table: string): Promise<CapturedChange[]> {
      const changes: CapturedChange[] = [];
      changes.push(...(await capture('u', table, `UPDATE ${table} SET qty = qty * 2 WHERE id IN (1, 2, 9)`)));
      changes.push(...(await capture('d', table, `DELETE FROM ${table} WHERE id IN (4, 10)`)));
      for (const id of [13, 14])
        changes.push(
          ...(await capture(
            'c',
            table,
            `INSERT INTO ${table} (id, name, qty) VALUES (${id}, 'item ${id}', ${id})`,
          )),
        );
      changes.push(...(await capture('u', table, `UPDATE ${table} SET name = 'item 13 (v2)' WHERE id = 13`)));
      changes.push(...(await capture('d', table, `DELETE FROM ${table} WHERE id = 14`)));
      changes.push(
        ...(await capture('c', table, `INSERT INTO ${table} (id, name, qty) VALUES (7, 'item 7 back', 70)`)),
      );
      changes.push(...(await capture('u', table, `UPDATE ${table} SET qty = 0 WHERE id = 1`)));
      return changes;
    }

    /** Every change once, in a shuffled order, and a third of them a second time later on. */
    const deliveries = (changes: readonly CapturedChange[], seed: number) => {
      const once = shuffled(changes, seed);
      return [...once, ...shuffled(once, seed + 1).filter((_, i) => i % 3 === 0)];
    };

    const send = async (changes: readonly CapturedChange[], detailType: string) => {
      await putChangeDetails(
        e2e.clients,
        e2e.stack.env.ESYNC_EVENT_BUS ?? '',
        changes.map(debeziumEvent),
        detailType,
      );
      await e2e.stack.idle();
    };

    const backfill = async (pipeline: string): Promise<RunReport> => {
      const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${pipeline}/runs`, {});
      expect(started.status).toBe(202);
      const run = await waitForRun(e2e.stack, started.body.runId);
      expect(run, JSON.stringify(run.failure)).toMatchObject({ status: 'succeeded' });
      return run;
    };

    /** The live rows of a table, as ESync reads them. */
    async function sourceRows(table: string): Promise<Map<string, Record<string, unknown>>> {
      const rows = await db.query<Record<string, unknown>>(`SELECT id, name, qty, updated_at FROM ${table}`);
      return new Map(rows.rows.map((r) => [String(r.id), r]));
    }

    /** The live records of a pipeline's target, without ESync's meta attributes. */
    async function targetRecords(pipeline: string): Promise<Map<string, Record<string, unknown>>> {
      const live = new Map<string, Record<string, unknown>>();
      for (const [key, item] of await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline)))
        if (item._d !== true)
          live.set(key, Object.fromEntries(Object.entries(item).filter(([name]) => !META.has(name))));
      return live;
    }

    /** The stream ledger's totals of a pipeline since the test started. */
    async function streamTotals(pipeline: string) {
      const sum = zeroCounts();
      for (const day of days(since)) {
        const t = await e2e.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, day));
        for (const name of Object.keys(sum) as (keyof typeof sum)[]) sum[name] += t[name];
      }
      return sum;
    }

    it('ends equal to the source when the backfill comes first and the stream, shuffled and duplicated, after it', async () => {
      // Prepare
      const pipeline = 'items-backfill-first';
      const before = await firstChanges('items_a');
      const run = await backfill(pipeline);
      const after = await laterChanges('items_a');

      // Act
      const sent = deliveries([...before, ...after], 11);
      await send(sent, 'items-a.change');

      // Assess
      expect(run.counts).toMatchObject({ extracted: 11, loaded: 11, quarantined: 0, deadLettered: 0 });
      expect(await targetRecords(pipeline)).toEqual(await sourceRows('items_a'));
      const stream = await streamTotals(pipeline);
      expect(stream).toMatchObject({ conflicts: 0, quarantined: 0, deadLettered: 0 });
      expect(accounted(stream)).toBe(sent.length);
      // Every change the backfill had not seen is loaded (none is dropped as stale).
      expect(stream.loaded).toBeGreaterThanOrEqual(after.length);
    });

    it('ends equal to the source when the stream comes first and a backfill of an older snapshot lands between its events', async () => {
      // Prepare
      const pipeline = 'items-stream-first';
      const before = await firstChanges('items_b');
      await db.query('CREATE TABLE items_b_snapshot AS TABLE items_b');
      await db.query('ALTER TABLE items_b_snapshot ADD PRIMARY KEY (id)');
      const after = await laterChanges('items_b');
      const sent = deliveries([...before, ...after], 23);
      const late = sent.filter((_, i) => i % 4 === 0);

      // Act
      await send(
        sent.filter((_, i) => i % 4 !== 0),
        'items-b.change',
      );
      const run = await backfill(pipeline);
      await send(late, 'items-b.change');

      // Assess
      expect(await targetRecords(pipeline)).toEqual(await sourceRows('items_b'));
      expect(run.counts.extracted).toBe(11);
      expect(accounted(run.counts)).toBe(run.counts.extracted);
      expect(run.counts).toMatchObject({ conflicts: 0, quarantined: 0, deadLettered: 0 });
      const stream = await streamTotals(pipeline);
      expect(stream).toMatchObject({ conflicts: 0, quarantined: 0, deadLettered: 0 });
      expect(accounted(stream)).toBe(sent.length);
    });
  },
);

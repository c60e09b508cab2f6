import pg from 'pg';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createPostgresSource } from '../../../shared/connectors/sources/postgres/source.ts';
import type { SourceConnector } from '../../../shared/connectors/types.ts';
import { windowStart } from '../../../shared/domain/cursor.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { keysOf, readAll, readPages, sourceSetup } from './helpers.ts';

/** A PostgreSQL server the contract runs against (Debian's server, or PGlite behind its socket). */
export interface PostgresUnderTest {
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** Connections the server serves at once. */
  readonly poolSize: number;
  stop(): Promise<void>;
}

const T0 = '2024-05-01T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

/**
 * The behaviour every PostgreSQL server must show through the postgres source. Each call
 * registers its tests in the caller's describe block; the server starts once per file.
 */
export function postgresSourceContract(start: () => Promise<PostgresUnderTest>): {
  server: () => PostgresUnderTest;
  admin: () => pg.Client;
} {
  let server: PostgresUnderTest;
  let admin: pg.Client;
  let proxy: FaultProxy;
  const sources: SourceConnector[] = [];

  const source = (overrides: Record<string, unknown> = {}, port = server.port) => {
    const { config, context } = sourceSetup(
      {
        type: 'postgres',
        connection: { secret: 'db', ssl: 'disable' },
        table: 'items',
        key: ['id'],
        cursor: ['updated_at'],
        pageSize: 4,
        poolSize: server.poolSize,
        ...overrides,
      },
      {
        secrets: {
          db: {
            host: '127.0.0.1',
            port,
            user: server.user,
            password: 'never-shown',
            database: server.database,
          },
        },
      },
    );
    const created = createPostgresSource(config, context);
    sources.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await start();
    admin = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: server.user,
      database: server.database,
    });
    await admin.connect();
    proxy = await startFaultProxy(server.port);
  });

  afterAll(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await proxy?.close();
    await admin?.end();
    await server?.stop();
  });

  beforeEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await admin.query('DROP TABLE IF EXISTS items');
    await admin.query(`CREATE TABLE items (
      id integer PRIMARY KEY,
      name text NOT NULL,
      updated_at timestamptz NOT NULL,
      deleted boolean NOT NULL DEFAULT false,
      payload jsonb
    )`);
    // Ten rows (ids 1-10) share one instant, more than two pages of 4.
    await admin.query(
      `INSERT INTO items (id, name, updated_at, payload)
       SELECT i, 'item ' || i, CASE WHEN i <= 10 THEN $1::timestamptz ELSE $1::timestamptz + (i || ' seconds')::interval END,
              jsonb_build_object('n', i)
       FROM generate_series(1, 20) AS i`,
      [T0],
    );
  });

  it('discovers the columns, their types and the primary key from the catalog', async () => {
    const discovery = await source().discover();
    expect(discovery.fields).toEqual([
      { name: 'id', type: 'integer', nullable: false },
      { name: 'name', type: 'text', nullable: false },
      { name: 'updated_at', type: 'timestamp with time zone', nullable: false },
      { name: 'deleted', type: 'boolean', nullable: false },
      { name: 'payload', type: 'jsonb', nullable: true },
    ]);
    expect(discovery.primaryKey).toEqual(['id']);
    expect(discovery.capabilities).toEqual({ incremental: true, deletes: 'none', cdc: false });
  });

  it('reads every row in (cursor, key) order in pages no larger than pageSize', async () => {
    const reader = source();
    const to = await reader.currentHighWatermark();
    const pages = await readPages(reader, { from: null, to });
    const rows = pages.flat();
    expect(pages.every((p) => p.length > 0 && p.length <= 4)).toBe(true);
    expect(keysOf(rows)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(to).toEqual({ values: [at(20)], key: '20' });
    expect(rows[0]).toEqual({
      data: { id: 1, name: 'item 1', updated_at: T0, deleted: false, payload: { n: 1 } },
      deleted: false,
      cursor: { values: [T0], key: '1' },
      version: `t:${T0}|2|1`,
      ts: T0,
    });
  });

  it('reads rows sharing a cursor value across page boundaries exactly once, also when resumed', async () => {
    const reader = source();
    const window = { from: null, to: { values: [T0], key: '10' } };
    const first = await readPages(reader, window);
    const resumed = await readAll(reader, window, undefined, first[0]?.[3]?.cursor);
    expect(keysOf(first.flat())).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(keysOf(resumed)).toEqual(['5', '6', '7', '8', '9', '10']);
  });

  it('moves only the rows changed after the first window on an incremental second pass', async () => {
    const reader = source();
    const first = await reader.currentHighWatermark();
    await readAll(reader, { from: null, to: first });
    await admin.query(`UPDATE items SET name = 'changed', updated_at = $1 WHERE id IN (3, 15)`, [at(30)]);
    await admin.query(`INSERT INTO items (id, name, updated_at) VALUES (21, 'new', $1)`, [at(31)]);

    const second = await reader.currentHighWatermark();
    const rows = await readAll(reader, { from: first, to: second });

    expect(keysOf(rows)).toEqual(['3', '15', '21']);
    expect(rows.map((r) => r.data.name)).toEqual(['changed', 'changed', 'new']);
  });

  it('re-reads the rows of the lookback window when the window start was moved back', async () => {
    const reader = source();
    const checkpoint = { values: [at(15)], key: '15' };
    const rows = await readAll(reader, {
      from: windowStart(checkpoint, 2),
      to: { values: [at(16)], key: '16' },
    });
    expect(keysOf(rows)).toEqual(['13', '14', '15', '16']);
  });

  it('keeps microseconds so rows within one millisecond are neither skipped nor read again', async () => {
    await admin.query('DELETE FROM items');
    await admin.query(`INSERT INTO items (id, name, updated_at) VALUES
      (1, 'a', '2024-05-01T10:00:00.000100Z'), (2, 'b', '2024-05-01T10:00:00.000200Z'),
      (3, 'c', '2024-05-01T10:00:00.000300Z'), (4, 'd', '2024-05-01T10:00:00.000400Z'),
      (5, 'e', '2024-05-01T10:00:00.000500Z')`);
    const reader = source({ pageSize: 2 });
    const rows = await readAll(reader);
    expect(keysOf(rows)).toEqual(['1', '2', '3', '4', '5']);
    expect(rows[1]?.cursor.values).toEqual(['2024-05-01T10:00:00.000200Z']);
  });

  it('marks rows whose soft-delete column is set as deleted', async () => {
    await admin.query('UPDATE items SET deleted = true WHERE id = 2');
    const rows = await readAll(source({ deletes: { mode: 'soft', column: 'deleted' } }));
    expect(rows.filter((r) => r.deleted).map((r) => r.cursor.key)).toEqual(['2']);
  });

  it('reads only the columns asked for, with the key and cursor columns always', async () => {
    const rows = await readAll(source({ columns: ['name'] }));
    expect(rows[0]?.data).toEqual({ id: 1, name: 'item 1', updated_at: T0 });
  });

  it('splits a window into key ranges, each read in key order, that together hold every row once', async () => {
    const reader = source();
    const window = { from: null, to: await reader.currentHighWatermark() };
    const partitions = await reader.planPartitions(window, 3);
    const perPartition = await Promise.all(partitions.map((p) => readAll(reader, window, p)));
    expect(partitions.map((p) => p.spec)).toEqual([
      { range: { after: null, upTo: [7], kinds: ['integer'] } },
      { range: { after: [7], upTo: [14], kinds: ['integer'] } },
      { range: { after: [14], upTo: null, kinds: ['integer'] } },
    ]);
    expect(perPartition.map(keysOf)).toEqual([
      ['1', '2', '3', '4', '5', '6', '7'],
      ['8', '9', '10', '11', '12', '13', '14'],
      ['15', '16', '17', '18', '19', '20'],
    ]);
  });

  it('resumes a key-range partition after the key of its continuation cursor', async () => {
    const reader = source();
    const window = { from: null, to: null };
    const [, middle] = await reader.planPartitions(window, 3);
    const resumed = await readAll(reader, window, middle, { values: [at(9)], key: '10' });
    expect(keysOf(resumed)).toEqual(['11', '12', '13', '14']);
  });

  it('cuts composite text keys in the database order, so the ranges hold every row once', async () => {
    await admin.query('DROP TABLE IF EXISTS tenants');
    await admin.query(
      'CREATE TABLE tenants (tenant text COLLATE "C", id int, v int, PRIMARY KEY (tenant, id))',
    );
    // Skewed: most rows belong to one tenant, so the cuts fall inside it.
    await admin.query(
      `INSERT INTO tenants SELECT CASE WHEN i % 10 = 0 THEN 'Zeta' ELSE 'acme' END, i, i FROM generate_series(1, 60) AS i`,
    );
    const reader = source({ table: 'tenants', key: ['tenant', 'id'], cursor: [], pageSize: 7 });
    const window = { from: null, to: null };
    const partitions = await reader.planPartitions(window, 4);
    const perPartition = await Promise.all(partitions.map((p) => readAll(reader, window, p)));
    expect(partitions).toHaveLength(4);
    expect(perPartition.map((rows) => rows.length)).toEqual([15, 15, 15, 15]);
    const keys = perPartition.flat().map((r) => r.cursor.key);
    expect(new Set(keys).size).toBe(60);
    expect(keys.slice(0, 2)).toEqual(['Zeta#10', 'Zeta#20']);
  });

  it('plans one partition for a window smaller than a page', async () => {
    const reader = source();
    const partitions = await reader.planPartitions({ from: { values: [at(18)], key: '18' }, to: null }, 8);
    expect(partitions).toEqual([{ id: 'all', spec: {} }]);
  });

  it('reads a table with a composite key and no cursor in key order', async () => {
    await admin.query('DROP TABLE IF EXISTS pairs');
    await admin.query('CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b))');
    await admin.query(
      `INSERT INTO pairs VALUES (2, 'x', 1), (1, 'y', 2), (1, 'x', 3), (10, 'a', 4), (2, 'a', 5)`,
    );
    const reader = source({ table: 'pairs', key: ['a', 'b'], cursor: [], pageSize: 2 });
    const rows = await readAll(reader);
    const resumed = await readAll(reader, undefined, undefined, rows[2]?.cursor);
    expect(keysOf(rows)).toEqual(['1#x', '1#y', '2#a', '2#x', '10#a']);
    expect(keysOf(resumed)).toEqual(['2#x', '10#a']);
    expect(await reader.currentHighWatermark()).toBeNull();
  });

  it('retries a page when the connection is cut in the middle of a read', async () => {
    const reader = source({}, proxy.port);
    const pages: string[][] = [];
    const before = proxy.injected;
    for await (const page of reader.read({ from: null, to: null }, { id: 'all', spec: {} })) {
      pages.push(keysOf(page));
      if (pages.length === 1) proxy.failNext(1);
    }
    expect(proxy.injected).toBe(before + 1);
    expect(pages.flat()).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  });

  it('names the missing table, and the missing cursor column, in a connector error', async () => {
    await expect(source({ table: 'nothere' }).discover()).rejects.toThrow(
      /table "public\.nothere".*no such table/,
    );
    await expect(source({ cursor: ['modified_at'] }).discover()).rejects.toThrow(
      /no column "modified_at" \(cursor\); its columns are id, name, updated_at, deleted, payload/,
    );
  });

  it('refuses a nullable cursor column that holds NULLs', async () => {
    await admin.query('ALTER TABLE items ADD COLUMN touched_at timestamptz');
    await expect(source({ cursor: ['touched_at'] }).discover()).rejects.toThrow(
      /NULL cursor column "touched_at"/,
    );
  });

  it('reports an unreachable server by host and port without its password', async () => {
    const closed = await startFaultProxy(1);
    const port = closed.port;
    await closed.close();
    const error = await source({}, port)
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).toMatch(/cannot connect \(ECONNREFUSED\)/);
    expect((error as Error).message).not.toContain('never-shown');
  });

  return { server: () => server, admin: () => admin };
}

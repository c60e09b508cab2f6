import pg from 'pg';
import { type RunningServer, startPostgres } from '../../support/system-servers.ts';

/** The `updated_at` of row `id`: one second apart, in id order. */
export const itemAt = (id: number) =>
  new Date(Date.parse('2026-11-01T00:00:00.000Z') + id * 1000).toISOString();

/** A polled source of `items` (secret `db`) that finds hard deletes, read `pageSize` rows at a time. */
export const itemsSource = (pageSize: number) => ({
  type: 'postgres',
  connection: { secret: 'db', ssl: 'disable' },
  table: 'items',
  key: ['id'],
  cursor: ['updated_at'],
  pageSize,
  deletes: { mode: 'verify' },
});

export interface ItemsDatabase {
  readonly server: RunningServer;
  /** A connection for the test's own statements. */
  readonly admin: pg.Client;
  /** The connection secret the pipelines read (no TLS). */
  readonly secret: string;
  stop(): Promise<void>;
}

/** A PostgreSQL server holding `items (id, name, updated_at)` with rows 1 to `rows`, named `item <id>`. */
export async function startItemsDatabase(rows: number): Promise<ItemsDatabase> {
  const server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(
    'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)',
  );
  for (let id = 1; id <= rows; id++)
    await admin.query('INSERT INTO items VALUES ($1, $2, $3)', [id, `item ${id}`, itemAt(id)]);
  const secret = JSON.stringify({
    host: '127.0.0.1',
    port: server.port,
    user: server.user,
    password: '',
    database: server.database,
  });
  return {
    server,
    admin,
    secret,
    stop: async () => {
      await admin.end();
      await server.stop();
    },
  };
}

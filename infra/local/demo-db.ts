import type { PGlite } from '@electric-sql/pglite';

/** The embedded PostgreSQL of the demo: PGlite behind a socket, so the ordinary `pg` client connects. */
export interface DemoDatabase {
  readonly db: PGlite;
  readonly host: string;
  readonly port: number;
  /** The secret value a pipeline's `connection.secret` names. */
  readonly secretValue: string;
  stop(): Promise<void>;
}

export async function startDemoDatabase(): Promise<DemoDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 8 } as ConstructorParameters<
    typeof PGLiteSocketServer
  >[0]);
  await server.start();
  const address = (server as unknown as { server?: { address(): { port: number } | null } }).server?.address();
  const port = address?.port ?? Number((server as unknown as { port?: number }).port);
  return {
    db,
    host: '127.0.0.1',
    port,
    secretValue: JSON.stringify({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres' }),
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** Statuses the demo draws from; `banned` is outside the pipeline's enum, so such rows are quarantined. */
const STATUSES = ['active', 'disabled', 'pending'] as const;

/**
 * Creates and fills the demo `users` table: `rows` users, every 1000th with an invalid email and
 * every 1500th with an out-of-range age, so the run has something to quarantine.
 */
export async function seedUsers(db: PGlite, rows: number, baseTime = new Date('2026-11-01T00:00:00Z')): Promise<{ invalid: number }> {
  await db.exec(`
    DROP TABLE IF EXISTS users;
    CREATE TABLE users (
      id integer PRIMARY KEY,
      email text,
      name text NOT NULL,
      age integer,
      status text NOT NULL,
      phone text,
      internal_notes text,
      deleted boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL
    );
    CREATE INDEX users_cursor ON users (updated_at, id);
  `);
  let invalid = 0;
  const chunk = 1000;
  for (let start = 1; start <= rows; start += chunk) {
    const values: string[] = [];
    const params: unknown[] = [];
    for (let id = start; id < Math.min(start + chunk, rows + 1); id++) {
      const badEmail = id % 1000 === 0;
      const badAge = id % 1500 === 0;
      if (badEmail || badAge) invalid++;
      const p = params.length;
      values.push(`($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6}, $${p + 7}, $${p + 8})`);
      params.push(
        id,
        badEmail ? `user${id}-at-example.com` : `user${id}@example.com`,
        `User ${id}`,
        badAge ? 200 : 18 + (id % 60),
        STATUSES[id % STATUSES.length],
        `+1-555-${String(id).padStart(7, '0')}`,
        `note ${id}`,
        new Date(baseTime.getTime() + id * 1000).toISOString(),
      );
    }
    await db.query(
      `INSERT INTO users (id, email, name, age, status, phone, internal_notes, updated_at) VALUES ${values.join(',')}`,
      params,
    );
  }
  return { invalid };
}

/** Updates `count` users (every `step`-th) and soft-deletes `deletes` of them, at `at`. */
export async function changeUsers(db: PGlite, options: { count: number; deletes: number; at: Date }): Promise<void> {
  await db.query(
    `UPDATE users SET name = name || ' (renamed)', updated_at = $2 WHERE id IN (SELECT id FROM users WHERE id % 1000 <> 0 AND id % 1500 <> 0 ORDER BY id LIMIT $1)`,
    [options.count, options.at.toISOString()],
  );
  await db.query(
    `UPDATE users SET deleted = true, updated_at = $2 WHERE id IN (SELECT id FROM users WHERE id % 1000 <> 0 AND id % 1500 <> 0 ORDER BY id DESC LIMIT $1)`,
    [options.deletes, options.at.toISOString()],
  );
}

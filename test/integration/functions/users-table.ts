import { type DemoDatabase, startDemoDatabase } from '../../../demo/demo-db.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

/**
 * The users table the batch-run and unchanged-rerun tests read: rows 1–20 in the embedded
 * PostgreSQL (PGlite), each updated a second after the one before, even ids `active`, odd ones
 * `pending`; row 7's email breaks the email rule of {@link usersPipeline}, so it is quarantined,
 * never loaded.
 */

const BASE_TIME = Date.parse('2026-11-01T00:00:00.000Z');
export const ROWS = 20;
export const INVALID_ID = 7;
/** The `updated_at` of row `id`. */
export const at = (id: number) => new Date(BASE_TIME + id * 1000).toISOString();

export const usersSource = (overrides: Record<string, unknown> = {}) => ({
  type: 'postgres',
  connection: { secret: 'esync/demo/users-db', ssl: 'disable' },
  table: 'users',
  key: ['id'],
  cursor: ['updated_at'],
  pageSize: 5,
  // PGlite serves one connection at a time.
  poolSize: 1,
  ...overrides,
});

/** A pipeline of the users table into a DynamoDB target, four records a message. */
export const usersPipeline = (name: string, overrides: Record<string, unknown> = {}) => ({
  name,
  source: usersSource(),
  target: { type: 'dynamodb' },
  validation: [{ field: 'email', required: true, format: '^[^@\\s]+@[^@\\s]+$' }],
  batch: { size: 4 },
  ...overrides,
});

/** The users table filled, and a functions harness running `pipelines` over it. */
export async function startUsersHarness(
  pipelines: readonly unknown[],
): Promise<{ db: DemoDatabase; h: FunctionsHarness }> {
  const db = await startDemoDatabase();
  await db.db.exec(`
    CREATE TABLE users (
      id integer PRIMARY KEY,
      email text,
      name text NOT NULL,
      status text NOT NULL,
      updated_at timestamptz NOT NULL
    );`);
  for (let id = 1; id <= ROWS; id++)
    await db.db.query('INSERT INTO users (id, email, name, status, updated_at) VALUES ($1, $2, $3, $4, $5)', [
      id,
      id === INVALID_ID ? `user${id}-at-example.com` : `user${id}@example.com`,
      `User ${id}`,
      id % 2 === 0 ? 'active' : 'pending',
      at(id),
    ]);
  const h = await startFunctionsHarness({
    secrets: { 'esync/demo/users-db': db.secretValue },
    pipelines,
  });
  return { db, h };
}

/** Deletes what a test left on its pipelines' queues, so the next test reads only its own messages. */
export async function drainQueues(h: FunctionsHarness): Promise<void> {
  for (const pipeline of h.pipelines.keys()) {
    const left = await h.receiveAll(h.queueUrl(pipeline));
    await h.deleteMessages(h.queueUrl(pipeline), left);
  }
}

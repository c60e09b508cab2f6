import pg from 'pg';
import { startDemoDatabase } from '../../demo/demo-db.ts';
import { insertUsers, type UserFault, userRow, usersTableSql } from '../../demo/users.ts';
import { shuffled } from './chaos-faults.ts';
import { type RunningServer, startPostgres } from './system-servers.ts';

/** The source database of the chaos run: Debian's PostgreSQL when installed, else the embedded PGlite. */
export interface ChaosDatabase {
  readonly engine: 'postgresql' | 'pglite';
  readonly host: string;
  readonly port: number;
  /** The value of the pipeline's connection secret, pointing at `port` unless told otherwise. */
  secretValue(port?: number): Record<string, unknown>;
  query(text: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  /** Runs statements without parameters (several at once allowed). */
  exec(sql: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the source database. `auto` takes PostgreSQL when it can start (3 to 7 times faster)
 * and falls back to PGlite.
 */
export async function startChaosDatabase(
  engine: 'auto' | 'postgresql' | 'pglite' = 'auto',
): Promise<ChaosDatabase> {
  if (engine !== 'pglite') {
    let server: RunningServer | undefined;
    try {
      server = await startPostgres();
    } catch (error) {
      if (engine === 'postgresql') throw error;
    }
    if (server) {
      const running = server;
      const client = new pg.Client({ connectionString: running.url });
      await client.connect();
      return {
        engine: 'postgresql',
        host: '127.0.0.1',
        port: running.port,
        secretValue: (port = running.port) => ({
          host: '127.0.0.1',
          port,
          user: running.user,
          password: running.password,
          database: running.database,
        }),
        query: async (text, params) => ({
          rows: (await client.query(text, params as unknown[])).rows as Record<string, unknown>[],
        }),
        exec: async (sql) => {
          await client.query(sql);
        },
        async stop() {
          await client.end().catch(() => undefined);
          await running.stop();
        },
      };
    }
  }
  const demo = await startDemoDatabase();
  const secret = JSON.parse(demo.secretValue) as Record<string, unknown>;
  return {
    engine: 'pglite',
    host: demo.host,
    port: demo.port,
    secretValue: (port = demo.port) => ({ ...secret, port }),
    query: async (text, params) => ({
      rows: (await demo.db.query(text, params as unknown[])).rows as Record<string, unknown>[],
    }),
    exec: async (sql) => {
      await demo.db.exec(sql);
    },
    stop: () => demo.stop(),
  };
}

/** What the harness knows about each user row it wrote: whether it is meant to fail validation, whether deleted. */
export interface UserRowState {
  invalid: boolean;
  deleted: boolean;
}

/** The users table as the harness shaped it, by id. */
export type UsersModel = Map<number, UserRowState>;

/** Ways a row fails the pipeline's validation rules, one per poison row in turn. */
const POISONS = [
  'email-format',
  'email-missing',
  'age-range',
  'status-enum',
] as const satisfies readonly UserFault[];

type PlannedUser = { id: number; poison: (typeof POISONS)[number] | undefined; updatedAt: Date };

async function insertPlannedUsers(db: ChaosDatabase, rows: readonly PlannedUser[]): Promise<void> {
  await insertUsers(
    db,
    rows.map((row) => userRow(row.id, row.updatedAt, row.poison ? [row.poison] : [])),
  );
}

/**
 * Creates the users table with `count` rows, a `poisonRate` share of them invalid (each failing
 * one rule in turn). Rows share `updated_at` three by three, so pages end inside groups of equal
 * cursor values and the composite cursor's tie-break is exercised.
 */
export async function seedUsers(
  db: ChaosDatabase,
  count: number,
  options: { readonly poisonRate: number; readonly random: () => number; readonly base: Date },
): Promise<{ model: UsersModel; poisoned: number }> {
  await db.exec(usersTableSql());
  const model: UsersModel = new Map();
  const rows: PlannedUser[] = [];
  let poisoned = 0;
  for (let id = 1; id <= count; id++) {
    const poison = options.random() < options.poisonRate ? POISONS[poisoned++ % POISONS.length] : undefined;
    model.set(id, { invalid: poison !== undefined, deleted: false });
    rows.push({ id, poison, updatedAt: new Date(options.base.getTime() + Math.floor(id / 3) * 1000) });
  }
  await insertPlannedUsers(db, rows);
  return { model, poisoned };
}

export interface MutationPlan {
  readonly updates: number;
  readonly deletes: number;
  readonly inserts: number;
  /** Invalid rows corrected at the source, which the next run must then load. */
  readonly fixes: number;
  readonly poisonRate: number;
  readonly random: () => number;
  readonly at: Date;
}

export interface MutationResult {
  readonly updated: number;
  readonly deleted: number;
  readonly inserted: number;
  readonly fixed: number;
  readonly poisoned: number;
}

const idList = (ids: readonly number[]) => ids.map((id) => String(Math.trunc(id))).join(', ');

/**
 * Changes the source between runs the way an application does: renames and ages valid users,
 * soft-deletes some, inserts new ones (a share of them invalid) and corrects invalid ones, all
 * stamped `at`.
 */
export async function mutateUsers(
  db: ChaosDatabase,
  model: UsersModel,
  plan: MutationPlan,
): Promise<MutationResult> {
  const live = [...model].filter(([, s]) => !s.deleted && !s.invalid).map(([id]) => id);
  const picked = shuffled(live, plan.random).slice(0, plan.updates + plan.deletes);
  const updates = picked.slice(0, plan.updates);
  const deletes = picked.slice(plan.updates);
  const fixes = shuffled(
    [...model].filter(([, s]) => s.invalid && !s.deleted).map(([id]) => id),
    plan.random,
  ).slice(0, plan.fixes);
  const at = plan.at.toISOString();
  if (updates.length > 0)
    await db.query(
      `UPDATE users SET name = name || ' *', age = 18 + (age + 7) % 60, updated_at = $1 WHERE id IN (${idList(updates)})`,
      [at],
    );
  if (deletes.length > 0)
    await db.query(`UPDATE users SET deleted = true, updated_at = $1 WHERE id IN (${idList(deletes)})`, [at]);
  if (fixes.length > 0)
    await db.query(
      `UPDATE users SET email = 'user' || id || '@example.com', age = 30, status = 'active', updated_at = $1 WHERE id IN (${idList(fixes)})`,
      [at],
    );
  for (const id of deletes) (model.get(id) as UserRowState).deleted = true;
  for (const id of fixes) (model.get(id) as UserRowState).invalid = false;
  let firstNew = 1;
  for (const id of model.keys()) firstNew = Math.max(firstNew, id + 1);
  const inserted: PlannedUser[] = [];
  let poisoned = 0;
  for (let id = firstNew; id < firstNew + plan.inserts; id++) {
    const poison = plan.random() < plan.poisonRate ? POISONS[poisoned++ % POISONS.length] : undefined;
    model.set(id, { invalid: poison !== undefined, deleted: false });
    inserted.push({ id, poison, updatedAt: plan.at });
  }
  await insertPlannedUsers(db, inserted);
  return {
    updated: updates.length,
    deleted: deletes.length,
    inserted: inserted.length,
    fixed: fixes.length,
    poisoned,
  };
}

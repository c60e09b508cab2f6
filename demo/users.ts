/**
 * The demo's `users` table, read by `pipelines/users-sync.yaml`: one generator of its rows for
 * the demo, `esync dev`, the e2e and chaos tests and the benchmark, so they all exercise the
 * same rows and the same validation rules.
 */

/** A row of the `users` table, as the PostgreSQL source reads it (timestamps as ISO-8601). */
export interface UserRow {
  readonly id: number;
  readonly email: string | null;
  readonly name: string;
  readonly age: number;
  readonly status: string;
  readonly phone: string;
  readonly internal_notes: string;
  readonly deleted: boolean;
  readonly updated_at: string;
}

/** A way a row breaks one of users-sync's validation rules. */
export type UserFault = 'email-format' | 'email-missing' | 'age-range' | 'status-enum';

/** The field whose rule a fault breaks, as a quarantine reason names it. */
export const faultField = (fault: UserFault): string => fault.slice(0, fault.indexOf('-'));

/** Statuses rows draw from; `banned` is outside the pipeline's enum. */
const STATUSES = ['active', 'disabled', 'pending'] as const;

function emailOf(id: number, faults: readonly UserFault[]): string | null {
  if (faults.includes('email-missing')) return null;
  return faults.includes('email-format') ? `user${id}-at-example.com` : `user${id}@example.com`;
}

/** User `id`, last updated at `updatedAt`, breaking the rules `faults` names (none by default). */
export function userRow(id: number, updatedAt: Date, faults: readonly UserFault[] = []): UserRow {
  return {
    id,
    email: emailOf(id, faults),
    name: `User ${id}`,
    age: faults.includes('age-range') ? 200 : 18 + (id % 60),
    status: faults.includes('status-enum') ? 'banned' : (STATUSES[id % STATUSES.length] ?? 'active'),
    phone: `+1-555-${String(id).padStart(7, '0')}`,
    internal_notes: `note ${id}`,
    deleted: false,
    updated_at: updatedAt.toISOString(),
  };
}

/** DDL that (re)creates the `users` table, with `extraColumns` (`bio text`) before `deleted`. */
export function usersTableSql(extraColumns: readonly string[] = []): string {
  const extra = extraColumns.map((column) => `\n      ${column},`).join('');
  return `
    DROP TABLE IF EXISTS users;
    CREATE TABLE users (
      id integer PRIMARY KEY,
      email text,
      name text NOT NULL,
      age integer,
      status text NOT NULL,
      phone text,
      internal_notes text,${extra}
      deleted boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL
    );
    CREATE INDEX users_cursor ON users (updated_at, id);`;
}

/** A database client of the demo, the tests or the benchmark (PGlite, `pg`). */
export interface UsersDatabase {
  query(text: string, params?: unknown[]): Promise<unknown>;
  exec(sql: string): Promise<unknown>;
}

const COLUMNS = [
  'id',
  'email',
  'name',
  'age',
  'status',
  'phone',
  'internal_notes',
  'deleted',
  'updated_at',
] as const;
/** Rows per INSERT: 9,000 parameters, well under PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 1000;

/** Inserts `rows` into the `users` table, a thousand per statement. */
export async function insertUsers(db: UsersDatabase, rows: readonly UserRow[]): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const chunk = rows.slice(start, start + ROWS_PER_INSERT);
    const tuples = chunk.map(
      (_, r) => `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`,
    );
    await db.query(
      `INSERT INTO users (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`,
      chunk.flatMap((row) => COLUMNS.map((column) => row[column])),
    );
  }
}

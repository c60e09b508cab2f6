import { createHmac } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';

/** A row of the `users` table that `pipelines/users-sync.yaml` reads. */
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

/**
 * Rows breaking one rule of users-sync each, with the field the quarantine reason must name:
 * a malformed email, a missing email, an age out of range, a status outside the enum.
 */
export const INVALID_USERS: Readonly<Record<number, string>> = {
  7: 'email',
  42: 'email',
  77: 'age',
  150: 'status',
};

/**
 * Rows are 10 s apart in `updated_at`, so the pipeline's 60 s lookback re-reads only a handful
 * of rows on an incremental run.
 */
const ROW_SPACING_MS = 10_000;

function userRow(id: number, base: number): UserRow {
  const invalid = INVALID_USERS[id];
  return {
    id,
    email: id === 42 ? null : id === 7 ? `user${id}-at-example.com` : `user${id}@example.com`,
    name: `User ${id}`,
    age: invalid === 'age' ? 200 : 18 + (id % 60),
    status:
      invalid === 'status' ? 'banned' : ((['active', 'disabled', 'pending'] as const)[id % 3] ?? 'active'),
    phone: `+1-555-${String(id).padStart(7, '0')}`,
    internal_notes: `note ${id}`,
    deleted: false,
    updated_at: new Date(base + id * ROW_SPACING_MS).toISOString(),
  };
}

/** Creates the `users` table with `count` rows, updated a day ago; returns them as inserted. */
export async function seedE2eUsers(db: PGlite, count: number, now = Date.now()): Promise<UserRow[]> {
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
  const base = now - 86_400_000;
  const rows = Array.from({ length: count }, (_, i) => userRow(i + 1, base));
  const columns = [
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
  const values = rows.map(
    (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`,
  );
  await db.query(
    `INSERT INTO users (${columns.join(', ')}) VALUES ${values.join(', ')}`,
    rows.flatMap((row) => columns.map((c) => row[c])),
  );
  return rows;
}

/**
 * The value `mask: hash` gives a field: HMAC-SHA256 (hex, 32 characters) keyed by the stage's
 * secret mask key and the pipeline name.
 */
export function maskedHash(value: string, maskKey: string, pipeline: string): string {
  return createHmac('sha256', `${maskKey}:${pipeline}`).update(value, 'utf8').digest('hex').slice(0, 32);
}

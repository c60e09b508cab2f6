import { createHmac } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import {
  faultField,
  insertUsers,
  type UserFault,
  type UserRow,
  userRow,
  usersTableSql,
} from '../../demo/users.ts';

export type { UserRow } from '../../demo/users.ts';

/**
 * Rows breaking one rule of users-sync each: a malformed email, a missing email, an age out of
 * range, a status outside the enum.
 */
const FAULTS: Readonly<Record<number, UserFault>> = {
  7: 'email-format',
  42: 'email-missing',
  77: 'age-range',
  150: 'status-enum',
};

/** The invalid rows, with the field the quarantine reason must name. */
export const INVALID_USERS: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(FAULTS).map(([id, fault]) => [id, faultField(fault)]),
);

/**
 * Rows are 10 s apart in `updated_at`, so the pipeline's 60 s lookback re-reads only a handful
 * of rows on an incremental run.
 */
const ROW_SPACING_MS = 10_000;

/** Creates the `users` table with `count` rows, updated a day ago; returns them as inserted. */
export async function seedE2eUsers(db: PGlite, count: number, now = Date.now()): Promise<UserRow[]> {
  const base = now - 86_400_000;
  const rows = Array.from({ length: count }, (_, i) => {
    const id = i + 1;
    const fault = FAULTS[id];
    return userRow(id, new Date(base + id * ROW_SPACING_MS), fault ? [fault] : []);
  });
  await db.exec(usersTableSql());
  await insertUsers(db, rows);
  return rows;
}

/**
 * The value `mask: hash` gives a field: HMAC-SHA256 (hex, 32 characters) keyed by the stage's
 * secret mask key and the pipeline name.
 */
export function maskedHash(value: string, maskKey: string, pipeline: string): string {
  return createHmac('sha256', `${maskKey}:${pipeline}`).update(value, 'utf8').digest('hex').slice(0, 32);
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { userRow, usersTableSql } from '../../demo/users.ts';
import { parsePipelineText } from '../../shared/pipeline/load.ts';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import type { RecordData } from '../../shared/records/envelope.ts';

/** The repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The benchmark's pipeline: users-sync as shipped, reading the benchmark's database. */
export const BENCH_PIPELINE = 'users-sync';
/** Secret name the benchmark's pipeline reads its connection from. */
export const BENCH_SECRET = 'esync/bench/users-db';

/** Timestamp of user 0; user `id` was last updated `id` seconds later. */
const BASE_TIME_MS = Date.parse('2026-11-01T00:00:00Z');
/**
 * A biography of 22 MD5 hex digests (704 characters) brings a user to about 950 bytes as stored in
 * DynamoDB, meta attributes included: one write request unit, the "1 KB record" the cost goal is
 * stated for.
 */
const BIO_REPEAT = 22;

/**
 * One user row of the benchmark table, as the PostgreSQL source reads it (timestamps as ISO-8601
 * strings). Every row passes the users-sync validation rules. The same values as {@link seedSql}.
 */
export function benchUser(id: number): RecordData {
  return {
    ...userRow(id, new Date(BASE_TIME_MS + id * 1000)),
    bio: createHash('md5').update(String(id)).digest('hex').repeat(BIO_REPEAT),
  };
}

/** DDL of the benchmark's `users` table: the demo's columns plus the biography. */
export const CREATE_USERS_SQL = usersTableSql(['bio text']);

/** Inserts users `from` to `to` (inclusive) server-side, with the values of {@link benchUser}. */
export function seedSql(from: number, to: number): string {
  return `INSERT INTO users (id, email, name, age, status, phone, internal_notes, bio, deleted, updated_at)
    SELECT i, 'user' || i || '@example.com', 'User ' || i, 18 + i % 60,
      (ARRAY['active', 'disabled', 'pending'])[1 + i % 3], '+1-555-' || lpad(i::text, 7, '0'), 'note ' || i,
      repeat(md5(i::text), ${BIO_REPEAT}), false, timestamptz '2026-11-01T00:00:00Z' + i * interval '1 second'
    FROM generate_series(${from}, ${to}) AS i`;
}

/** Rows per seeding statement: one statement for a million rows would hold it all in one transaction. */
export const SEED_CHUNK = 50_000;

/** The shipped users-sync pipeline, reading its connection from {@link BENCH_SECRET}. */
export function benchPipeline(): Pipeline {
  const file = path.join(REPO_ROOT, 'pipelines', 'users-sync.yaml');
  const text = readFileSync(file, 'utf8').replace(/secret: \S+/, `secret: ${BENCH_SECRET}`);
  const parsed = parsePipelineText(text, file);
  if (!parsed.pipeline)
    throw new Error(`${file} does not parse: ${parsed.problems.map((p) => p.message).join('; ')}`);
  return parsed.pipeline;
}

/**
 * The targets the benchmark syncs the same rows into, each beside its own raw copy.
 * `dynamodb` is users-sync as shipped (batched inserts: PartiQL, 25 per request); `dynamodb-puts`
 * is DynamoDB with `target.batchInserts: false` (a conditional PutItem per record), beside the
 * same raw copy.
 */
export const BENCH_TARGETS = ['dynamodb', 'dynamodb-puts', 'postgres', 's3'] as const;
export type BenchTarget = (typeof BENCH_TARGETS)[number];

/** Table the PostgreSQL variant writes (jsonb mode, created by the target) in the benchmark's database. */
export const BENCH_PG_TABLE = 'users_target';

/**
 * users-sync as shipped, and the same pipeline writing DynamoDB a PutItem per record, a PostgreSQL
 * table (in the benchmark's database) or the S3 lake instead: only the target differs.
 */
export function benchPipelines(): Record<BenchTarget, Pipeline> {
  const dynamodb = benchPipeline();
  const variant = (name: string, target: unknown) => pipelineSchema.parse({ ...dynamodb, name, target });
  return {
    dynamodb,
    'dynamodb-puts': variant('users-sync-puts', { ...dynamodb.target, batchInserts: false }),
    postgres: variant('users-sync-pg', {
      type: 'postgres',
      connection: { secret: BENCH_SECRET },
      table: BENCH_PG_TABLE,
      mode: 'jsonb',
    }),
    s3: variant('users-sync-lake', { type: 's3' }),
  };
}

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { insertUsers, type UserFault, userRow, usersTableSql } from './users.ts';

/** The embedded PostgreSQL of the demo: PGlite behind a socket, so the ordinary `pg` client connects. */
export interface DemoDatabase {
  readonly db: PGlite;
  readonly host: string;
  readonly port: number;
  /** The secret value a pipeline's `connection.secret` names. */
  readonly secretValue: string;
  stop(): Promise<void>;
}

export interface DemoDatabaseOptions {
  /**
   * Where the empty cluster that `initdb` makes is kept, so that later starts load it instead of
   * running `initdb` again (about 1.5 s instead of 5 s here). `false` keeps nothing.
   * @default '<repo>/.esync/cache'
   */
  readonly cacheDir?: string | false;
}

const DEFAULT_CACHE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.esync', 'cache');

/** The cached cluster of this PGlite version (its data directory format follows the PostgreSQL it embeds). */
function clusterCacheFile(cacheDir: string): string {
  // The package does not export its package.json: it is found beside its entry point.
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version?: string;
  };
  return path.join(cacheDir, `pglite-${version ?? 'unknown'}-cluster.tar.gz`);
}

async function createDatabase(cacheDir: string | false): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  const cacheFile = cacheDir === false ? undefined : clusterCacheFile(cacheDir);
  if (cacheFile && existsSync(cacheFile)) {
    try {
      return await PGlite.create({ loadDataDir: new Blob([readFileSync(cacheFile)]) });
    } catch {
      // An unreadable cache (an interrupted write, another version's format) is made again.
      rmSync(cacheFile, { force: true });
    }
  }
  const db = await PGlite.create();
  if (cacheFile) {
    const dump = await db.dumpDataDir('gzip');
    mkdirSync(path.dirname(cacheFile), { recursive: true });
    // Written whole under another name first: a concurrent start never reads half a file.
    const partial = `${cacheFile}.${process.pid}.partial`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, cacheFile);
  }
  return db;
}

/** Starts PGlite (from the cached empty cluster when there is one) and its socket server on a free port. */
export async function startDemoDatabase(options: DemoDatabaseOptions = {}): Promise<DemoDatabase> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await createDatabase(options.cacheDir ?? DEFAULT_CACHE_DIR);
  const server = new PGLiteSocketServer({
    db,
    port: 0,
    host: '127.0.0.1',
    maxConnections: 8,
  } as ConstructorParameters<typeof PGLiteSocketServer>[0]);
  await server.start();
  const address = (
    server as unknown as { server?: { address(): { port: number } | null } }
  ).server?.address();
  const port = address?.port ?? Number((server as unknown as { port?: number }).port);
  return {
    db,
    host: '127.0.0.1',
    port,
    secretValue: JSON.stringify({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: 'postgres',
      database: 'postgres',
    }),
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** Users generated and inserted at a time, so a large table never sits in memory whole. */
const SEED_CHUNK = 10_000;

/** Every 1000th user has an invalid email and every 1500th an out-of-range age. */
function demoFaults(id: number): UserFault[] {
  return [
    ...(id % 1000 === 0 ? ['email-format' as const] : []),
    ...(id % 1500 === 0 ? ['age-range' as const] : []),
  ];
}

/**
 * Creates and fills the demo `users` table: `rows` users a second apart from `baseTime`, every
 * 1000th with an invalid email and every 1500th with an out-of-range age, so the run has
 * something to quarantine.
 */
export async function seedUsers(
  db: PGlite,
  rows: number,
  baseTime = new Date('2026-11-01T00:00:00Z'),
): Promise<{ invalid: number }> {
  await db.exec(usersTableSql());
  let invalid = 0;
  for (let start = 1; start <= rows; start += SEED_CHUNK) {
    const ids = Array.from({ length: Math.min(SEED_CHUNK, rows - start + 1) }, (_, i) => start + i);
    invalid += ids.filter((id) => demoFaults(id).length > 0).length;
    await insertUsers(
      db,
      ids.map((id) => userRow(id, new Date(baseTime.getTime() + id * 1000), demoFaults(id))),
    );
  }
  return { invalid };
}

/** Updates `count` users (every `step`-th) and soft-deletes `deletes` of them, at `at`. */
export async function changeUsers(
  db: PGlite,
  options: { count: number; deletes: number; at: Date },
): Promise<void> {
  await db.query(
    `UPDATE users SET name = name || ' (renamed)', updated_at = $2 WHERE id IN (SELECT id FROM users WHERE id % 1000 <> 0 AND id % 1500 <> 0 ORDER BY id LIMIT $1)`,
    [options.count, options.at.toISOString()],
  );
  await db.query(
    `UPDATE users SET deleted = true, updated_at = $2 WHERE id IN (SELECT id FROM users WHERE id % 1000 <> 0 AND id % 1500 <> 0 ORDER BY id DESC LIMIT $1)`,
    [options.deletes, options.at.toISOString()],
  );
}

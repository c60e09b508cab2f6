import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { markServerDir } from '../../local/orphan-servers.ts';
import { DYNAMODB_LOCAL_START_BUDGET_MS } from '../../local/servers.ts';
import type { CertificatePair } from './certificates.ts';

/**
 * System servers some integration tests need. A suite that needs one wraps itself in
 * `describe.runIf(server.available)`, so on a bare machine vitest reports its tests by name as
 * not run. CI sets ESYNC_REQUIRE_SYSTEM_SERVERS=1, which turns a missing server into a failure.
 */
export type SystemServerName = 'postgresql' | 'mariadb' | 'java';

export interface SystemServer {
  readonly name: SystemServerName;
  readonly available: boolean;
  /** Where it was looked for, to say why it is missing. */
  readonly detail: string;
}

function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

function findMariadbd(): string | undefined {
  for (const candidate of ['/usr/sbin/mariadbd', '/usr/sbin/mysqld', '/usr/bin/mariadbd'])
    if (existsSync(candidate)) return candidate;
  return undefined;
}

function hasJava(): boolean {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function requireSystemServer(name: SystemServerName): SystemServer {
  let server: SystemServer;
  if (name === 'postgresql') {
    const bin = findPostgresBin();
    server = {
      name,
      available: bin !== undefined,
      detail: bin ?? 'no initdb under /usr/lib/postgresql/*/bin',
    };
  } else if (name === 'mariadb') {
    const bin = findMariadbd();
    server = { name, available: bin !== undefined, detail: bin ?? 'no mariadbd in /usr/sbin' };
  } else {
    const ok = hasJava();
    server = { name, available: ok, detail: ok ? 'java on PATH' : 'no java on PATH' };
  }
  if (!server.available) {
    if (process.env.ESYNC_REQUIRE_SYSTEM_SERVERS === '1')
      throw new Error(
        `system server ${name} is required (ESYNC_REQUIRE_SYSTEM_SERVERS=1) but missing: ${server.detail}`,
      );
    console.warn(`[system-servers] ${name} not installed (${server.detail}): its tests did not run`);
  }
  return server;
}

/** Timeout of a hook that starts the local servers with DynamoDB Local: its start budget and a minute more. */
export const DYNAMODB_LOCAL_HOOK_TIMEOUT_MS = DYNAMODB_LOCAL_START_BUDGET_MS + 60_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** How long a server started here may take to answer: ample on a loaded machine. */
const SERVER_START_BUDGET_MS = 90_000;

/** Polls `check` until it holds; fails when `server` exits first or the budget is spent. */
async function waitFor(check: () => boolean, what: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + SERVER_START_BUDGET_MS;
  while (!check()) {
    if (server.exitCode !== null || server.signalCode !== null)
      throw new Error(`the server exited (${server.exitCode ?? server.signalCode}) before ${what}`);
    if (Date.now() > deadline)
      throw new Error(`timed out after ${SERVER_START_BUDGET_MS / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Marks `dir` with the server running from it and waits for `ready`; returns how to stop the
 * server and delete its directory. A server that could not start is stopped at once, so a failed
 * start leaves no process behind (one left by a killed test worker is the orphan sweep's, see
 * local/orphan-servers.ts).
 */
async function whenReady(
  server: ChildProcess,
  signal: NodeJS.Signals,
  dir: string,
  ready: () => Promise<void>,
): Promise<() => Promise<void>> {
  const exited = new Promise((r) => server.once('exit', r).once('error', r));
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill(signal);
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  if (server.pid !== undefined) markServerDir(dir, { pid: server.pid, commandLineHas: dir, signal });
  try {
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

function tryExec(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A throwaway server on 127.0.0.1, stopped and deleted by `stop()`. */
export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  stop(): Promise<void>;
}

const isRoot = () => process.getuid?.() === 0;

/** The Secrets Manager value of a database connection to `server` (trust auth, no TLS). */
export function connectionSecret(server: RunningServer): string {
  const { port, user, database } = server;
  return JSON.stringify({ host: '127.0.0.1', port, user, password: 'unused', database });
}

/** Options of the PostgreSQL and MariaDB servers tests start. */
export interface ServerOptions {
  /** Serve TLS with this certificate, and refuse connections without TLS. @default - no TLS */
  readonly tls?: CertificatePair;
  /** PostgreSQL only: server settings (`-c name=value`), e.g. track_commit_timestamp. @default - none */
  readonly settings?: Readonly<Record<string, string>>;
  /** PostgreSQL with `tls` only: users that must log in with their password (SCRAM) instead of trust. @default - none */
  readonly passwordUsers?: readonly string[];
}

/**
 * Starts a fresh PostgreSQL cluster (initdb + postgres on a free port, trust auth). PostgreSQL
 * refuses to run as root, so under root it runs as the `postgres` system user.
 */
export async function startPostgres(options: ServerOptions = {}): Promise<RunningServer> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'esync-pg-'));
  markServerDir(dir);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  // Node's uid/gid spawn options (rather than runuser) keep signals going straight to postgres.
  let ids: { uid: number; gid: number } | Record<string, never> = {};
  if (isRoot()) {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    };
    chownSync(dir, ids.uid, ids.gid);
    chownSync(dataDir, ids.uid, ids.gid);
  }
  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'esync', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
    { stdio: 'pipe', cwd: dir, ...ids },
  );
  const port = await freePort();
  const tlsArgs: string[] = [];
  if (options.tls) {
    // PostgreSQL refuses a key file that others can read or that another user owns.
    for (const [name, pem] of [
      ['server.crt', options.tls.certificatePem],
      ['server.key', options.tls.keyPem],
    ] as const) {
      writeFileSync(path.join(dir, name), pem, { mode: 0o600 });
      if ('uid' in ids) chownSync(path.join(dir, name), ids.uid, ids.gid);
    }
    tlsArgs.push('-c', 'ssl=on', '-c', `ssl_cert_file=${path.join(dir, 'server.crt')}`);
    tlsArgs.push('-c', `ssl_key_file=${path.join(dir, 'server.key')}`);
    const byPassword = (options.passwordUsers ?? []).map(
      (u) => `hostssl all ${u} 127.0.0.1/32 scram-sha-256\n`,
    );
    writeFileSync(
      path.join(dataDir, 'pg_hba.conf'),
      `local all all trust\n${byPassword.join('')}hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n`,
    );
  }
  const args = [
    ...tlsArgs,
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    dir,
    '-h',
    '127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  const child: ChildProcess = spawn(path.join(bin, 'postgres'), args, { stdio: 'ignore', cwd: dir, ...ids });
  const stop = await whenReady(child, 'SIGINT', dir, () =>
    waitFor(
      () => tryExec(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']),
      'PostgreSQL to accept connections',
      child,
    ),
  );
  return {
    port,
    url: `postgres://esync@127.0.0.1:${port}/postgres`,
    user: 'esync',
    password: '',
    database: 'postgres',
    stop,
  };
}

/** Server options that make MariaDB serve `tls` and refuse connections without it. */
function mariaDbTlsArgs(dir: string, tls: CertificatePair | undefined): string[] {
  if (!tls) return [];
  writeFileSync(path.join(dir, 'server.crt'), tls.certificatePem);
  writeFileSync(path.join(dir, 'server.key'), tls.keyPem, { mode: 0o600 });
  return [
    `--ssl-cert=${path.join(dir, 'server.crt')}`,
    `--ssl-key=${path.join(dir, 'server.key')}`,
    '--require-secure-transport=ON',
  ];
}

/** Starts a fresh MariaDB server on a free port, root without password over TCP. */
export async function startMariaDb(options: ServerOptions = {}): Promise<RunningServer> {
  const mariadbd = findMariadbd();
  if (!mariadbd) throw new Error('MariaDB is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'esync-maria-'));
  markServerDir(dir);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const installDb = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find((p) => existsSync(p));
  if (!installDb) throw new Error('mariadb-install-db not found');
  const user = isRoot() ? ['--user=root'] : [];
  execFileSync(
    installDb,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...user,
    ],
    { stdio: 'pipe' },
  );
  const port = await freePort();
  const child = spawn(
    mariadbd,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(dir, 'mysql.sock')}`,
      '--skip-grant-tables=0',
      '--innodb-flush-log-at-trx-commit=0',
      '--skip-log-bin',
      ...mariaDbTlsArgs(dir, options.tls),
      ...user,
    ],
    { stdio: 'ignore' },
  );
  const stop = await whenReady(child, 'SIGTERM', dir, () =>
    createMariaDbDatabase(port, options.tls !== undefined, child),
  );
  return {
    port,
    url: `mysql://root@127.0.0.1:${port}/esync`,
    user: 'root',
    password: '',
    database: 'esync',
    stop,
  };
}

/** Creates the `esync` database once the server answers, within the start budget. */
async function createMariaDbDatabase(port: number, tls: boolean, server: ChildProcess): Promise<void> {
  const mysql = await import('mysql2/promise');
  const deadline = Date.now() + SERVER_START_BUDGET_MS;
  for (;;) {
    try {
      const conn = await mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: 'root',
        ...(tls && { ssl: { rejectUnauthorized: false } }),
      });
      await conn.query('CREATE DATABASE IF NOT EXISTS esync');
      await conn.end();
      return;
    } catch (error) {
      if (server.exitCode !== null || server.signalCode !== null)
        throw new Error(`MariaDB exited (${server.exitCode ?? server.signalCode}) at start`, {
          cause: error,
        });
      if (Date.now() > deadline) throw new Error(`MariaDB did not start: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Runs `sql` on `server` as its admin user, on a connection of its own (to create tables a test needs). */
export async function queryPostgres(server: RunningServer, sql: string): Promise<void> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: server.port,
    user: server.user,
    database: server.database,
  });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

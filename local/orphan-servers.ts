import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * PostgreSQL, MariaDB and DynamoDB Local run as child processes, each with a temporary
 * directory. A parent that dies before it stops them (a test hook that timed out, a killed test
 * worker) leaves the server running and the directory behind, and a child outlives its parent.
 * Each directory carries a mark naming the process that started the server, so that a sweep can
 * tell an orphan from a server that another test run on the same machine still uses.
 */
const MARK_FILE = 'esync-server.json';

/** Temporary directories of the servers started by `markServerDir`'s callers. */
export const SERVER_DIR_PREFIXES: readonly string[] = ['esync-pg-', 'esync-maria-', 'esync-dynamodb-local-'];

/** An unmarked directory (made before marks, or between its creation and its mark) is left this long. */
const UNMARKED_GRACE_MS = 3_600_000;

/** How long a server has to stop on its signal before it is killed. */
const STOP_GRACE_MS = 10_000;

/** The server a directory belongs to, and how to stop it. */
export interface ServerProcess {
  readonly pid: number;
  /** Text of its command line, checked before it is signalled, since a pid can be reused. */
  readonly commandLineHas: string;
  /** The signal that shuts it down cleanly (PostgreSQL: SIGINT, a fast shutdown). */
  readonly signal: NodeJS.Signals;
}

interface ServerMark {
  readonly owner: number;
  readonly server?: ServerProcess;
}

/** Marks `dir` as this process's, with the server running from it once it has one. */
export function markServerDir(dir: string, server?: ServerProcess): void {
  const mark: ServerMark = { owner: process.pid, ...(server && { server }) };
  writeFileSync(path.join(dir, MARK_FILE), JSON.stringify(mark));
}

function readMark(dir: string): ServerMark | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, MARK_FILE), 'utf8')) as ServerMark;
  } catch {
    return undefined;
  }
}

/** Whether a process `pid` runs (one of another user's counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** PostgreSQL's own pid file names the postmaster of a directory made before marks. */
function unmarkedServer(dir: string): ServerProcess | undefined {
  const pidFile = path.join(dir, 'data', 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? { pid, commandLineHas: dir, signal: 'SIGINT' } : undefined;
}

async function stopServer(server: ServerProcess): Promise<void> {
  if (!isAlive(server.pid) || !commandLine(server.pid).includes(server.commandLineHas)) return;
  process.kill(server.pid, server.signal);
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isAlive(server.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(server.pid)) process.kill(server.pid, 'SIGKILL');
}

/** Whether `dir` is left by a process that is gone (or, unmarked, old enough to be). */
function isOrphaned(dir: string, mark: ServerMark | undefined, now: number): boolean {
  if (mark) return !isAlive(mark.owner);
  try {
    return now - statSync(dir).mtimeMs > UNMARKED_GRACE_MS;
  } catch {
    return false;
  }
}

/** What a sweep did: the directories it deleted, and those it could not clean up, with why. */
export interface SweepResult {
  readonly removed: readonly string[];
  readonly failed: ReadonlyArray<{ readonly dir: string; readonly error: string }>;
}

/**
 * Stops the servers whose starting process is gone and deletes their directories, in `root`
 * (the system's temporary directory). Servers of live processes are left alone.
 */
export async function stopOrphanedServers(root: string = tmpdir(), now = Date.now()): Promise<SweepResult> {
  const removed: string[] = [];
  const failed: Array<{ dir: string; error: string }> = [];
  for (const name of readdirSync(root)) {
    if (!SERVER_DIR_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const dir = path.join(root, name);
    const mark = readMark(dir);
    if (!isOrphaned(dir, mark, now)) continue;
    try {
      const server = mark ? mark.server : unmarkedServer(dir);
      if (server) await stopServer(server);
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (error) {
      failed.push({ dir, error: (error as Error).message });
    }
  }
  return { removed, failed };
}

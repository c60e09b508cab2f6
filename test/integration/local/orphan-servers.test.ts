import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { markServerDir, stopOrphanedServers } from '../../../local/orphan-servers.ts';
import { requireSystemServer, startPostgres } from '../../support/system-servers.ts';

const systemServers = path.join(import.meta.dirname, '..', '..', 'support', 'system-servers.ts');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) => child.once('exit', resolve));
}

/** The pid of a process that has ended (its parent reaped it). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await exited(child);
  return child.pid ?? 0;
}

function serverPid(dir: string): number {
  return JSON.parse(readFileSync(path.join(dir, 'esync-server.json'), 'utf8')).server.pid;
}

describe('orphaned server sweep', () => {
  let root: string;
  const started: ChildProcess[] = [];

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'orphan-sweep-'));
    // PostgreSQL runs as the postgres user under root: it must reach its directory in here.
    chmodSync(root, 0o755);
  });

  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('leaves a server whose process is alive, and a fresh unmarked directory, alone', async () => {
    // Prepare
    const sleeper = spawn('sleep', ['300']);
    started.push(sleeper);
    const live = path.join(root, 'esync-maria-live');
    mkdirSync(live);
    markServerDir(live, { pid: sleeper.pid ?? 0, commandLineHas: 'sleep 300', signal: 'SIGTERM' });
    const unmarked = path.join(root, 'esync-pg-unmarked');
    mkdirSync(unmarked);

    // Act
    const { removed, failed } = await stopOrphanedServers(root);

    // Assess
    expect(removed).toEqual([]);
    expect(failed).toEqual([]);
    expect(existsSync(live) && existsSync(unmarked)).toBe(true);
    expect(isAlive(sleeper.pid ?? 0)).toBe(true);
  });

  it('deletes an orphan directory but signals no process whose command line is not its server', async () => {
    // Prepare: a dead owner, its server's pid now someone else's
    const bystander = spawn('sleep', ['301']);
    started.push(bystander);
    const dir = path.join(root, 'esync-dynamodb-local-reused');
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, 'esync-server.json'),
      JSON.stringify({
        owner: await deadPid(),
        server: { pid: bystander.pid, commandLineHas: '-port 8000', signal: 'SIGTERM' },
      }),
    );
    const unmarkedOld = path.join(root, 'esync-pg-old');
    mkdirSync(unmarkedOld);
    const other = path.join(root, 'esync-s3-other');
    mkdirSync(other);

    // Act: an hour and more later, the unmarked directory counts as left behind too
    const { removed } = await stopOrphanedServers(root, Date.now() + 3_700_000);

    // Assess
    expect([...removed].sort()).toEqual([dir, unmarkedOld].sort());
    expect(isAlive(bystander.pid ?? 0)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });

  describe.runIf(requireSystemServer('postgresql').available)('PostgreSQL', () => {
    it('stops a PostgreSQL left running by a killed test process and deletes its directory', async () => {
      // Prepare: a process starts PostgreSQL, then dies without stopping it
      const script = `const { startPostgres } = await import(${JSON.stringify(systemServers)});
        const pg = await startPostgres(); console.log(pg.port); setInterval(() => {}, 1000);`;
      const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, TMPDIR: root },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      started.push(owner);
      await new Promise((resolve, reject) => {
        owner.stdout?.once('data', resolve);
        owner.once('exit', (code) =>
          reject(new Error(`the owner exited (${code}) before PostgreSQL answered`)),
        );
      });
      const dir = path.join(root, readdirSync(root).find((name) => name.startsWith('esync-pg-')) ?? '');
      const postmaster = serverPid(dir);
      owner.kill('SIGKILL');
      await exited(owner);
      expect(isAlive(postmaster)).toBe(true);

      // Act
      const { removed } = await stopOrphanedServers(root);

      // Assess
      expect(removed).toEqual([dir]);
      expect(isAlive(postmaster)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    });

    it('marks a running PostgreSQL with this process as its owner, so a sweep leaves it running', async () => {
      // Prepare
      const previous = process.env.TMPDIR;
      process.env.TMPDIR = root;
      const pg = await startPostgres().finally(() => {
        if (previous === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = previous;
      });
      try {
        const dir = path.join(root, readdirSync(root).find((name) => name.startsWith('esync-pg-')) ?? '');

        // Act
        const { removed } = await stopOrphanedServers(root);

        // Assess
        expect(removed).toEqual([]);
        expect(isAlive(serverPid(dir))).toBe(true);
      } finally {
        await pg.stop();
      }
      expect(readdirSync(root).filter((name) => name.startsWith('esync-pg-'))).toEqual([]);
    });
  });
});

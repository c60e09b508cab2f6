import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProject,
  type E2eProject,
  eventually,
  REPO_ROOT,
  s3OrdersPipeline,
} from '../support/e2e-stack.ts';

/** Pids of the processes whose command line mentions `marker`. */
function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false; // ended while we looked
      }
    })
    .map(Number);
}

/**
 * The processes still mentioning `marker` once they had a minute to end: stopping saves the
 * stack's state, which took over 15 s on a machine busy with the whole suite.
 */
function processesLeft(marker: string): Promise<number[]> {
  return eventually(
    'every process of esync dev to end',
    async () => (processesWith(marker).length === 0 ? [] : undefined),
    60_000,
  ).catch(() => processesWith(marker));
}

describe('esync dev started through npx', () => {
  let project: E2eProject;

  beforeAll(() => {
    project = createProject({ orders: s3OrdersPipeline('orders') });
  });

  afterAll(() => {
    for (const pid of processesWith(project.pipelinesDir)) process.kill(pid, 'SIGKILL');
    project?.remove();
  });

  // SIGTERM to npx alone, as a supervisor or `kill` sends it; SIGINT to the whole process group,
  // as Ctrl-C in a terminal sends it (npm waits for its child on a SIGINT of its own).
  for (const [signal, group] of [
    ['SIGTERM', false],
    ['SIGINT', true],
  ] as const)
    it(`leaves no process behind when npx gets ${signal}${group ? ' with its process group' : ''}`, async () => {
      // Prepare
      const npx = spawn('npx', ['esync', 'dev', '--json', '--pipelines-dir', project.pipelinesDir], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const exited = new Promise((resolve) => npx.once('exit', resolve));
      const ready = new Promise<void>((resolve) =>
        npx.stdout?.on('data', (chunk) => String(chunk).includes('{') && resolve()),
      );
      npx.stderr?.resume();
      await ready;
      expect(processesWith(project.pipelinesDir).length).toBeGreaterThan(0);

      // Act
      if (group) process.kill(-(npx.pid ?? 0), signal);
      else npx.kill(signal);
      await exited;

      // Assess
      expect(await processesLeft(project.pipelinesDir)).toEqual([]);
    }, 150_000);

  it('leaves no process behind when npx gets SIGTERM while the stack is still starting', async () => {
    // Prepare: the stack's first log line says `esync dev` runs, and has not yet said it is ready.
    const npx = spawn('npx', ['esync', 'dev', '--json', '--pipelines-dir', project.pipelinesDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = new Promise((resolve) => npx.once('exit', resolve));
    let ready = false;
    npx.stdout?.on('data', (chunk) => {
      ready ||= String(chunk).includes('{');
    });
    await new Promise<void>((resolve) => npx.stderr?.once('data', () => resolve()));
    npx.stderr?.resume();
    const startedBeforeReady = !ready;

    // Act
    npx.kill('SIGTERM');
    await exited;

    // Assess
    expect(startedBeforeReady).toBe(true);
    expect(await processesLeft(project.pipelinesDir)).toEqual([]);
  }, 150_000);
});

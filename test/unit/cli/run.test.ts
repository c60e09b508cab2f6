import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunCommand } from '../../../cli/commands/run.ts';
import type { RunView } from '../../../cli/commands/runs.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const RUN_ID = 'users-sync-20250102T030405Z-abc123';
const run = createRunCommand({ pollMs: 5 });

const counts = (loaded: number) => ({
  extracted: 10,
  loaded,
  skipped: 0,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
});
const phase = (name: string, status: string, durationMs = 100) => ({
  name,
  status,
  startedAt: '2025-01-02T03:04:05.000Z',
  endedAt: status === 'running' ? null : '2025-01-02T03:04:05.100Z',
  durationMs,
  detail: {},
});

function view(overrides: Partial<RunView>): RunView {
  return {
    runId: RUN_ID,
    pipeline: 'users-sync',
    status: 'running',
    trigger: 'api',
    requestedBy: 'arn:aws:iam::000000000000:user/me',
    executionArn: 'arn:exec',
    startedAt: '2025-01-02T03:04:05.000Z',
    endedAt: null,
    durationMs: 1000,
    phases: [],
    counts: counts(0),
    pendingMessages: null,
    verify: null,
    cost: null,
    failure: null,
    reportKey: null,
    ...overrides,
  };
}

/** A stub API that starts the run and then answers its polls with `views`, in order, the last one forever. */
async function apiWithRun(views: RunView[]): Promise<StubApi> {
  let polls = 0;
  return startStubApi((req) => {
    if (req.method === 'POST' && req.path === '/pipelines/users-sync/runs')
      return { status: 202, body: { runId: RUN_ID, executionArn: 'arn:exec' } };
    if (req.method === 'GET' && req.path === `/runs/${RUN_ID}`)
      return { status: 200, body: views[Math.min(polls++, views.length - 1)] };
    return undefined;
  });
}

const finished = (overrides: Partial<RunView>) =>
  view({
    status: 'succeeded',
    endedAt: '2025-01-02T03:05:05.000Z',
    durationMs: 60_000,
    phases: ['Discover', 'Plan', 'AwaitLoad', 'Verify', 'Cleanup'].map((n) => phase(n, 'succeeded')),
    counts: counts(10),
    verify: { status: 'passed', compared: 10, mismatches: 0 },
    cost: { usd: 0.0042 },
    ...overrides,
  });

let api: StubApi | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

describe('esync run', () => {
  it('starts a run and prints its id without waiting', async () => {
    api = await apiWithRun([]);
    const io = captureIo(api.devDir);

    const code = await run(['users-sync', '--local'], io);

    expect(code).toBe(0);
    expect(io.text()).toContain(`started run ${RUN_ID}`);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /pipelines/users-sync/runs']);
  });

  it('follows a run phase by phase, one line per change, and ends with the report (exit 0)', async () => {
    // Prepare
    api = await apiWithRun([
      view({ phases: [phase('Discover', 'running')] }),
      view({ phases: [phase('Discover', 'succeeded', 800), phase('Plan', 'running')] }),
      view({
        phases: [
          phase('Discover', 'succeeded', 800),
          phase('Plan', 'succeeded'),
          phase('AwaitLoad', 'succeeded'),
        ],
        counts: counts(10),
      }),
      finished({}),
    ]);
    const io = captureIo(api.devDir);

    // Act
    const code = await run(['users-sync', '--wait', '--local'], io);

    // Assess
    expect(code).toBe(0);
    const out = io.text();
    expect(out).toMatch(
      /Discover +running\nDiscover +succeeded in 800 ms\nPlan +running\nPlan +succeeded in 100 ms\nAwaitLoad +succeeded in 100 ms +extracted 10 · loaded 10/,
    );
    expect(out.match(/Discover +running/g)).toHaveLength(1);
    expect(out).toMatch(/verify +passed \(10 compared, 0 mismatches\)/);
    expect(out).toMatch(/estimated cost +\$0\.0042/);
    expect(out).toMatch(
      /EXTRACTED +LOADED +SKIPPED +FILTERED +CONFLICTS +QUARANTINED +DEAD-LETTERED\n +10 +10 +0 +0 +0 +0 +0/,
    );
  });

  it('redraws one progress line in place on a terminal, and ends it before the report', async () => {
    // Prepare
    api = await apiWithRun([
      view({ phases: [phase('Discover', 'running')] }),
      view({ phases: [phase('Plan', 'running')] }),
      finished({}),
    ]);
    const io = captureIo(api.devDir, { terminal: true });
    // Polls farther apart than two frames (10 per second): each new state is drawn as it comes.
    const terminalRun = createRunCommand({ pollMs: 250 });

    // Act
    await terminalRun(['users-sync', '--wait', '--local'], io);

    // Assess: each drawing goes back to the line's start (CSI 1G) and clears what is right of it.
    const drawings = io.terminalText().split('\x1b[1G').slice(1);
    const text = drawings.map((d) => stripVTControlCharacters(d));
    expect(text[0]).toMatch(new RegExp(`^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] ${RUN_ID} {2}Discover running`));
    expect(text.some((t) => t.includes('Plan running'))).toBe(true);
    expect(text.at(-1)).toMatch(/Cleanup succeeded {2}\[#{20}\] 10\/10 with an outcome/);
    expect(drawings.slice(0, -1).every((d) => !d.includes('\n'))).toBe(true);
    const raw = io.terminalText();
    expect(raw.indexOf('\x1b[?25l')).toBeLessThan(raw.lastIndexOf('\x1b[?25h')); // cursor hidden, then shown
    expect(raw.endsWith('\n')).toBe(true);
    expect(io.text()).toMatch(/^started run .*\n\nrun /s);
  });

  it('exits 1 when verification failed', async () => {
    api = await apiWithRun([finished({ verify: { status: 'failed', compared: 10, mismatches: 3 } })]);
    const io = captureIo(api.devDir);

    const code = await run(['users-sync', '--wait', '--local'], io);

    expect(code).toBe(1);
    expect(io.text()).toMatch(/verify +failed \(10 compared, 3 mismatches\)/);
  });

  it('exits 0 when verification was off, and 1 with the cause when the run failed', async () => {
    api = await apiWithRun([finished({ verify: { status: 'skipped', compared: 0, mismatches: 0 } })]);
    expect(await run(['users-sync', '--wait', '--local'], captureIo(api.devDir))).toBe(0);
    await api.stop();

    api = await apiWithRun([
      finished({
        status: 'failed',
        verify: null,
        failure: { error: 'ConnectorError', cause: 'postgres: password authentication failed' },
      }),
    ]);
    const io = captureIo(api.devDir);
    expect(await run(['users-sync', '--wait', '--local'], io)).toBe(1);
    expect(io.text()).toContain('failure: ConnectorError: postgres: password authentication failed');
  });

  it('prints one JSON object per change of progress with --json, and the run as the last line', async () => {
    api = await apiWithRun([
      view({ phases: [phase('Discover', 'running')] }),
      view({ phases: [phase('Discover', 'running')] }),
      finished({}),
    ]);
    const io = captureIo(api.devDir);

    const code = await run(['users-sync', '--wait', '--json', '--local'], io);

    expect(code).toBe(0);
    const lines = io.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(0, -1)).toEqual([
      expect.objectContaining({ type: 'progress', phase: 'Discover', phaseStatus: 'running', accounted: 0 }),
      expect.objectContaining({
        type: 'progress',
        phase: 'Cleanup',
        extracted: 10,
        accounted: 10,
        extractionDone: true,
      }),
    ]);
    expect(lines.at(-1)).toMatchObject({ runId: RUN_ID, status: 'succeeded' });
  });

  it('prints a progress line with records, rate and ETA while records load, in a pipe', async () => {
    // Prepare: Execute started 8 s before the polls; 4 of 10 records have an outcome.
    const loading = view({
      phases: [
        phase('Discover', 'succeeded'),
        phase('Plan', 'succeeded'),
        { ...phase('Execute', 'succeeded'), startedAt: new Date(Date.now() - 8_000).toISOString() },
        phase('AwaitLoad', 'running'),
      ],
      counts: { ...counts(0), extracted: 10, loaded: 4 },
    });
    api = await apiWithRun([loading, loading, loading, finished({})]);
    const io = captureIo(api.devDir);
    const pipeRun = createRunCommand({ pollMs: 5, progressEveryMs: 0 });

    // Act
    await pipeRun(['users-sync', '--wait', '--local'], io);

    // Assess
    const progress = io.stdout.filter((l) => l.includes('with an outcome'));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatch(/\[########-+\] 4\/10 with an outcome {2}\d+ records\/s {2}ETA \d+(\.\d)? s/);
  });

  it("exits 1 with the API's message when the pipeline is unknown", async () => {
    api = await startStubApi(() => ({
      status: 404,
      body: { error: 'unknown pipeline "nope"; known pipelines: users-sync' },
    }));
    const io = captureIo(api.devDir);

    const code = await run(['nope', '--local'], io);

    expect(code).toBe(1);
    expect(io.errText()).toBe(
      'esync: POST /pipelines/nope/runs failed with 404 Not Found: unknown pipeline "nope"; known pipelines: users-sync',
    );
  });

  it('exits 2 naming the bad flag, or saying the pipeline is missing', async () => {
    const io = captureIo(tmpdir());

    expect(await run(['users-sync', '--wiat'], io)).toBe(2);
    expect(await run(['--local'], io)).toBe(2);

    expect(io.stderr[0]).toBe('esync: unknown flag --wiat');
    expect(io.stderr[2]).toBe('esync: run needs a pipeline name');
  });

  it('says how to start the local stack when none is running or it does not answer', async () => {
    // Prepare: one directory without .esync/dev.json, one whose dev.json names a closed port.
    const empty = mkdtempSync(path.join(tmpdir(), 'esync-nostack-'));
    const stale = mkdtempSync(path.join(tmpdir(), 'esync-stale-'));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    mkdirSync(path.join(stale, '.esync'));
    writeFileSync(
      path.join(stale, '.esync', 'dev.json'),
      JSON.stringify({ apiUrl: `http://127.0.0.1:${port}` }),
    );
    const noFile = captureIo(empty);
    const unreachable = captureIo(stale);

    // Act
    const codes = [
      await run(['users-sync', '--local'], noFile),
      await run(['users-sync', '--local'], unreachable),
    ];
    rmSync(empty, { recursive: true, force: true });
    rmSync(stale, { recursive: true, force: true });

    // Assess
    expect(codes).toEqual([1, 1]);
    expect(noFile.errText()).toMatch(
      /^esync: no local stack running: start it with `npx esync dev` \(no \.esync\/dev\.json/,
    );
    expect(unreachable.errText()).toMatch(
      new RegExp(
        `^esync: no local stack running: start it with \`npx esync dev\` \\(nothing answers at http://127\\.0\\.0\\.1:${port}`,
      ),
    );
  });
});

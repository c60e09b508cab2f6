import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatRunCost,
  formatRunReport,
  formatSchema,
  type RunView,
  runs,
} from '../../../cli/commands/runs.ts';
import { cut } from '../../../cli/format.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const summary = (runId: string, status: string, failure: string | null = null) => ({
  runId,
  pipeline: 'users-sync',
  status,
  trigger: 'schedule',
  startedAt: '2025-01-02T03:04:05.000Z',
  durationMs: 65_000,
  counts: { extracted: 10_000, loaded: 9_990, skipped: 0, conflicts: 0, quarantined: 10, deadLettered: 0 },
  verify: status === 'succeeded' ? 'passed' : null,
  failure,
});

const report = {
  runId: 'users-sync-20250102T030405Z-abc123',
  pipeline: 'users-sync',
  status: 'failed',
  trigger: 'api',
  requestedBy: 'arn:aws:iam::123456789012:user/ops',
  executionArn: 'arn:exec',
  startedAt: '2025-01-02T03:04:05.000Z',
  endedAt: '2025-01-02T03:06:10.000Z',
  durationMs: 125_000,
  phases: [
    {
      name: 'Discover',
      status: 'succeeded',
      startedAt: '',
      endedAt: '',
      durationMs: 850,
      detail: { fields: 6 },
    },
    {
      name: 'Plan',
      status: 'succeeded',
      startedAt: '',
      endedAt: '',
      durationMs: 1200,
      detail: { partitionCount: 4 },
    },
    { name: 'Verify', status: 'failed', startedAt: '', endedAt: '', durationMs: 12_300, detail: {} },
  ],
  counts: {
    extracted: 10_000,
    loaded: 9_980,
    skipped: 0,
    filtered: 10,
    conflicts: 0,
    quarantined: 10,
    deadLettered: 0,
  },
  pendingMessages: null,
  verify: { status: 'failed', compared: 10_000, mismatches: 3 },
  cost: { usd: 0.0123, final: false },
  failure: { error: 'VerifyFailedError', cause: '3 records differ; see reports/users-sync/x.json' },
  reportKey: null,
};

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/runs')
      return {
        status: 200,
        body: {
          runs: [
            summary('users-sync-b', 'succeeded'),
            summary('users-sync-a', 'failed', 'VerifyFailedError'),
          ],
          next: 'CURSOR2',
        },
      };
    if (req.path === `/runs/${report.runId}`) return { status: 200, body: report };
    return undefined;
  });
});
afterAll(() => api.stop());

describe('esync runs', () => {
  it('lists runs as a table, passing the filters to the API', async () => {
    const io = captureIo(api.devDir);

    const code = await runs(
      ['list', '--pipeline', 'users-sync', '--status', 'failed', '--limit', '5', '--local'],
      io,
    );

    expect(code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ pipeline: 'users-sync', status: 'failed', limit: '5' });
    const lines = io.text().split('\n');
    expect(lines[0]).toMatch(/^RUN +PIPELINE +STATUS +STARTED +DURATION +EXTRACTED +LOADED +VERIFY$/);
    expect(lines[1]).toMatch(
      /^users-sync-b +users-sync +succeeded +2025-01-02 03:04:05 +1m 05s +10,000 +9,990 +passed$/,
    );
    expect(lines[2]).toMatch(/failed \(VerifyFailedError\)/);
    expect(lines.at(-1)).toBe('more runs: repeat with --after CURSOR2');
  });

  it('prints the page as JSON with --json', async () => {
    const io = captureIo(api.devDir);

    await runs(['list', '--json', '--local'], io);

    expect(JSON.parse(io.text())).toMatchObject({
      next: 'CURSOR2',
      runs: [{ runId: 'users-sync-b' }, { runId: 'users-sync-a' }],
    });
  });

  it('shows a run with phases, durations, counts, verify result, cost and failure cause', async () => {
    const io = captureIo(api.devDir);

    const code = await runs(['show', report.runId, '--local'], io);

    expect(code).toBe(0);
    const out = io.text();
    expect(out).toMatch(/status +failed/);
    expect(out).toMatch(/trigger +api by arn:aws:iam::123456789012:user\/ops/);
    expect(out).toMatch(/duration +2m 05s/);
    expect(out).toMatch(/verify +failed \(10,000 compared, 3 mismatches\)/);
    expect(out).toMatch(/estimated cost +\$0\.012 \(estimate so far\)/);
    expect(out).toMatch(/Discover +succeeded +850 ms +fields 6/);
    expect(out).toMatch(/Plan +succeeded +1\.2 s +partitionCount 4/);
    expect(out).toMatch(/Verify +failed +12\.3 s/);
    expect(out).toMatch(
      /EXTRACTED +LOADED +SKIPPED +FILTERED +CONFLICTS +QUARANTINED +DEAD-LETTERED\n +10,000 +9,980 +0 +10 +0 +10 +0/,
    );
    expect(out).toContain('failure: VerifyFailedError: 3 records differ; see reports/users-sync/x.json');
  });

  it('shows no cost for a run that failed before it extracted a record', () => {
    // Act
    const idle = formatRunCost({ ...report, counts: { ...report.counts, extracted: 0 } });
    const working = formatRunCost(report);

    // Assess
    expect(idle).toBe('-');
    expect(working).toBe('$0.012 (estimate so far)');
  });

  it('shows the schema drift a run found and what its policy did', () => {
    const schema = {
      policy: 'discard',
      fields: [{ name: 'id' }, { name: 'phone' }],
      summary: 'added phone (text)',
      action: 'discarded',
      discarded: ['phone'],
      targetChanges: [],
      fieldsDiscarded: 1_200,
    };

    const out = formatRunReport({ ...report, schema } as RunView);

    expect(out).toContain(
      'schema drift: added phone (text)\npolicy discard, discarded: phone left out of 1,200 record(s)',
    );
    expect(
      formatSchema({
        ...schema,
        policy: 'evolve',
        action: 'evolved',
        targetChanges: ['added column phone text'],
      }),
    ).toBe('schema drift: added phone (text)\npolicy evolve, evolved: added column phone text');
    expect(formatSchema({ ...schema, summary: null, action: null })).toBe('');
    expect(formatRunReport(report as RunView)).not.toContain('schema drift');
  });

  it('ends a cut cell with an ellipsis and leaves a short one whole', () => {
    // Act
    const long = cut('ResourceNotFoundException', 12);
    const short = cut('deadLettered', 12);

    // Assess
    expect(long).toBe('ResourceNot…');
    expect(long).toHaveLength(12);
    expect(short).toBe('deadLettered');
  });

  it('exits 1 with the API message for an unknown run', async () => {
    const io = captureIo(api.devDir);

    const code = await runs(['show', 'nope', '--local'], io);

    expect(code).toBe(1);
    expect(io.errText()).toMatch(/^esync: GET \/runs\/nope failed with 404/);
  });

  it('exits 2 for a bad status, a missing subcommand or run id', async () => {
    const io = captureIo(api.devDir);

    const codes = [
      await runs(['list', '--status', 'done', '--local'], io),
      await runs([], io),
      await runs(['show', '--local'], io),
    ];

    expect(codes).toEqual([2, 2, 2]);
    expect(io.stderr.filter((l) => l.startsWith('esync:'))).toEqual([
      'esync: --status must be running, succeeded, failed, aborted or timed-out, got "done"',
      'esync: runs needs a subcommand: list, show or history',
      'esync: runs show needs a run id',
    ]);
  });

  it('prints its usage with --help', async () => {
    const io = captureIo(api.devDir);

    expect(await runs(['list', '--help'], io)).toBe(0);
    expect(io.text()).toContain('esync runs list [--pipeline P]');
  });
});

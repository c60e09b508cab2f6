import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpoint } from '../../../cli/commands/checkpoint.ts';
import { dlq } from '../../../cli/commands/dlq.ts';
import { runs } from '../../../cli/commands/runs.ts';
import type { CliIo } from '../../../cli/io.ts';
import { type ApiHarness, type CliGateway, startApiHarness, startCliGateway } from './harness.ts';

let h: ApiHarness;
let cli: CliGateway;

beforeAll(async () => {
  h = await startApiHarness();
  cli = await startCliGateway(h.deps, 'esync-cli-e2e-');
});

afterAll(async () => {
  await cli?.stop();
  await h?.stop();
});

function io(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    terminal: null,
    env: {},
    cwd: cli.devDir,
    stdout,
    stderr,
  };
}

describe('esync commands through the HTTP API', () => {
  it('resets a checkpoint with --local and audits it under the local user', async () => {
    const out = io();

    const code = await checkpoint(
      [
        'reset',
        'users-sync',
        '--reason',
        'replay',
        '--to',
        '{"values":["2025-01-01T00:00:00Z"],"key":"7"}',
        '--local',
      ],
      out,
    );

    expect(code).toBe(0);
    expect((await h.deps.state.checkpoints.get('users-sync'))?.cursor).toEqual({
      values: ['2025-01-01T00:00:00Z'],
      key: '7',
    });
    const who = (await h.deps.state.audit.list('users-sync'))[0]?.who;
    expect(who).toBe(`arn:aws:iam::000000000000:user/${userInfo().username.replace(/[^\w+=,.@-]/g, '')}`);
  });

  it('signs requests with SigV4 outside --local, which an IAM route requires', async () => {
    const out = io();

    const code = await dlq(['list', 'users-sync', '--api-url', cli.gateway.url], out);

    expect(out.stderr).toEqual([]);
    expect(code).toBe(0);
    expect(out.stdout[0]).toBe('DLQ of users-sync is empty');
  });

  it("exits 1 with the API's 404 for an unknown run", async () => {
    const out = io();

    const code = await runs(['show', 'users-sync-20990101T000000Z-none00', '--local'], out);

    expect(code).toBe(1);
    expect(out.stderr).toEqual([
      'esync: GET /runs/users-sync-20990101T000000Z-none00 failed with 404 Not Found: run "users-sync-20990101T000000Z-none00" does not exist',
    ]);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpoint } from '../../../cli/commands/checkpoint.ts';
import { dlq } from '../../../cli/commands/dlq.ts';
import { runs } from '../../../cli/commands/runs.ts';
import type { CliIo } from '../../../cli/io.ts';
import { createManagementHandler } from '../../../functions/api/handler.ts';
import { type HttpGateway, startHttpGateway } from '../../../infra/local/http-gateway.ts';
import { MANAGEMENT_ROUTES } from '../../../shared/usecases/api.ts';
import { type ApiHarness, startApiHarness } from './harness.ts';

let h: ApiHarness;
let gateway: HttpGateway;
let devDir: string;

beforeAll(async () => {
  h = await startApiHarness();
  const handler = createManagementHandler(h.deps);
  gateway = await startHttpGateway({
    routes: MANAGEMENT_ROUTES.map((r) => ({ method: r.method, path: r.template, iam: true, handler })),
    requireSigV4: true,
    logger: { warn() {}, error() {} },
  });
  devDir = mkdtempSync(path.join(tmpdir(), 'esync-cli-e2e-'));
  mkdirSync(path.join(devDir, '.esync'));
  writeFileSync(path.join(devDir, '.esync', 'dev.json'), JSON.stringify({ apiUrl: gateway.url }));
});

afterAll(async () => {
  await gateway?.stop();
  await h?.stop();
  rmSync(devDir, { recursive: true, force: true });
});

function io(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    isTty: false,
    env: {},
    cwd: devDir,
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

    const code = await dlq(['list', 'users-sync', '--api-url', gateway.url], out);

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

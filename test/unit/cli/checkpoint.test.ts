import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpoint } from '../../../cli/commands/checkpoint.ts';
import { exactNumber } from '../../../shared/records/exact-json.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const current = {
  cursor: { values: ['2025-01-31T00:00:00.000Z'], key: '42' },
  setBy: 'users-sync-20250131T000000Z-abc123',
  updatedAt: '2025-01-31T00:05:00.000Z',
};

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/pipelines/users-sync/checkpoint' && req.method === 'GET')
      return {
        status: 200,
        body: { pipeline: 'users-sync', cursorFields: ['updated_at'], checkpoint: current },
      };
    if (req.path === '/pipelines/ledger-sync/checkpoint')
      return {
        status: 200,
        body: {
          pipeline: 'ledger-sync',
          cursorFields: ['seq'],
          checkpoint: { ...current, cursor: { values: [exactNumber('123456789012345678901')], key: '7' } },
        },
      };
    if (req.path === '/pipelines/fresh-sync/checkpoint')
      return {
        status: 200,
        body: { pipeline: 'fresh-sync', cursorFields: ['updated_at'], checkpoint: null },
      };
    if (req.path === '/pipelines/users-sync/checkpoint' && req.method === 'PUT') {
      const body = req.body as { cursor: unknown; reason: string };
      return {
        status: 200,
        body: {
          checkpoint: { cursor: body.cursor, setBy: 'reset', updatedAt: 'now', reason: body.reason },
          previous: current,
        },
      };
    }
    return undefined;
  });
});
afterAll(() => api.stop());

describe('esync checkpoint', () => {
  it('shows where the next run starts and which run set it', async () => {
    const io = captureIo(api.devDir);

    const code = await checkpoint(['show', 'users-sync', '--local'], io);

    expect(code).toBe(0);
    expect(io.text()).toMatch(/next run starts after +\["2025-01-31T00:00:00.000Z"\] after key "42"/);
    expect(io.text()).toMatch(/set by +run users-sync-20250131T000000Z-abc123/);
  });

  it('prints a cursor value beyond a double as its exact literal, as text and as JSON', async () => {
    const io = captureIo(api.devDir);

    const codes = [
      await checkpoint(['show', 'ledger-sync', '--local'], io),
      await checkpoint(['show', 'ledger-sync', '--json', '--local'], io),
    ];

    expect(codes).toEqual([0, 0]);
    expect(io.text()).toMatch(/next run starts after +\[123456789012345678901\] after key "7"/);
    expect(io.stdout.at(-1)).toContain('"cursor":{"values":[123456789012345678901],"key":"7"}');
  });

  it('says a pipeline without checkpoint reads from the beginning', async () => {
    const io = captureIo(api.devDir);

    await checkpoint(['show', 'fresh-sync', '--local'], io);

    expect(io.text()).toBe('fresh-sync has no checkpoint: the next run reads from the beginning');
  });

  it('resets to a given cursor with the reason, and to the beginning without --to', async () => {
    const io = captureIo(api.devDir);
    const to = { values: ['2025-01-01T00:00:00.000Z'], key: '0' };

    const codes = [
      await checkpoint(
        ['reset', 'users-sync', '--reason', 'replay January', '--to', JSON.stringify(to), '--local'],
        io,
      ),
      await checkpoint(['reset', 'users-sync', '--reason', 'full reload', '--local'], io),
    ];

    expect(codes).toEqual([0, 0]);
    expect(api.requests.slice(-2).map((r) => r.body)).toEqual([
      { cursor: to, reason: 'replay January' },
      { cursor: null, reason: 'full reload' },
    ]);
    expect(io.stdout[0]).toBe(
      'checkpoint of users-sync reset: the next run starts after ["2025-01-01T00:00:00.000Z"] after key "0"',
    );
    expect(io.stdout[2]).toBe('checkpoint of users-sync reset: the next run starts after the beginning');
  });

  it('exits 2 naming --reason when it is missing, and --to when it is not a cursor', async () => {
    const io = captureIo(api.devDir);
    const before = api.requests.length;

    const codes = [
      await checkpoint(['reset', 'users-sync', '--local'], io),
      await checkpoint(['reset', 'users-sync', '--reason', 'x', '--to', '{"values": 1}', '--local'], io),
    ];

    expect(codes).toEqual([2, 2]);
    const messages = io.stderr.filter((l) => l.startsWith('esync:'));
    expect(messages[0]).toMatch(/^esync: --reason is required/);
    expect(messages[1]).toBe('esync: --to must be {"values": [...], "key": "..."} or null');
    expect(api.requests.length).toBe(before);
  });
});

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conflicts } from '../../../cli/commands/conflicts.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const conflict = {
  id: 'c1',
  pipeline: 'users-sync',
  key: 'u42',
  status: 'open',
  createdAt: '2025-01-02T03:04:05.000Z',
  strategy: 'field-merge',
  fields: ['email'],
  source: { version: 'p:2', data: { id: 'u42', name: 'Ann', email: 'ann@new', plan: 'pro' } },
  target: { version: 'p:1', data: { id: 'u42', name: 'Ann', email: 'ann@edited', plan: 'free' } },
  base: { id: 'u42', name: 'Ann', email: 'ann@old', plan: 'free' },
};

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/conflicts')
      return {
        status: 200,
        body: {
          conflicts: [{ ...conflict, sourceVersion: 'p:2', targetVersion: 'p:1', resolution: null }],
          next: null,
        },
      };
    if (req.path === '/conflicts/c1') return { status: 200, body: conflict };
    if (req.path === '/conflicts/c1/resolve')
      return {
        status: 200,
        body: {
          key: 'u42',
          choice: (req.body as { choice: string }).choice,
          applied: true,
          version: 'p:2',
          eventPublished: true,
        },
      };
    if (req.path === '/conflicts/done/resolve')
      return { status: 409, body: { error: 'conflict "done" is already resolved (source by x at y)' } };
    return undefined;
  });
});
afterAll(() => api.stop());

describe('esync conflicts', () => {
  it('lists the open conflicts of a pipeline', async () => {
    const io = captureIo(api.devDir);

    const code = await conflicts(['list', '--pipeline', 'users-sync', '--local'], io);

    expect(code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ pipeline: 'users-sync' });
    expect(io.stdout[0]).toMatch(
      /^ID +KEY +CREATED +STRATEGY +FIELDS +STATUS\nc1 +u42 +2025-01-02 03:04:05 +field-merge +email +open$/,
    );
  });

  it('shows both versions side by side and marks the fields in conflict', async () => {
    const io = captureIo(api.devDir);

    await conflicts(['show', 'c1', '--local'], io);

    const lines = io.text().split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^ +FIELD +BASE +SOURCE \(p:2\) +TARGET \(p:1\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\* +email +ann@old +ann@new +ann@edited$/));
    expect(lines).toContainEqual(expect.stringMatching(/^~ +plan +free +pro +free$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +name +Ann +Ann +Ann$/));
  });

  it('resolves with merged data read from a file, sending choice, data and reason', async () => {
    // Prepare
    writeFileSync(
      path.join(api.devDir, 'merged.json'),
      JSON.stringify({ id: 'u42', email: 'ann@new', plan: 'free' }),
    );
    const io = captureIo(api.devDir);

    // Act
    const code = await conflicts(
      ['resolve', 'c1', '--choice', 'merged', '--data', '@merged.json', '--reason', 'plan stays', '--local'],
      io,
    );

    // Assess
    expect(code).toBe(0);
    expect(api.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/conflicts/c1/resolve',
      body: { choice: 'merged', data: { id: 'u42', email: 'ann@new', plan: 'free' }, reason: 'plan stays' },
    });
    expect(io.text()).toBe('resolved conflict c1 (key u42) with the merged version, written at p:2');
  });

  it('exits 2 naming the flag for a bad choice, a missing reason, merged without data, bad JSON, or a bad listing flag', async () => {
    const io = captureIo(api.devDir);
    const before = api.requests.length;

    const codes = [
      await conflicts(['resolve', 'c1', '--choice', 'mine', '--reason', 'x', '--local'], io),
      await conflicts(['resolve', 'c1', '--choice', 'source', '--local'], io),
      await conflicts(['resolve', 'c1', '--choice', 'merged', '--reason', 'x', '--local'], io),
      await conflicts(
        ['resolve', 'c1', '--choice', 'merged', '--data', '{oops', '--reason', 'x', '--local'],
        io,
      ),
      await conflicts(['list', '--local'], io),
      await conflicts(['list', '--pipeline', 'p', '--limit', '500', '--local'], io),
      await conflicts(['list', '--pipeline', 'p', '--status', 'closed', '--local'], io),
    ];

    expect(codes).toEqual([2, 2, 2, 2, 2, 2, 2]);
    const messages = io.stderr.filter((l) => l.startsWith('esync:'));
    expect(messages[0]).toBe('esync: --choice must be source, target or merged, got "mine"');
    expect(messages[1]).toMatch(/^esync: --reason is required/);
    expect(messages[2]).toMatch(/^esync: --choice merged needs --data/);
    expect(messages[3]).toMatch(/^esync: --data is not valid JSON/);
    expect(messages[4]).toBe('esync: conflicts list needs --pipeline P');
    expect(messages[5]).toBe('esync: --limit must be a whole number from 1 to 100, got "500"');
    expect(messages[6]).toBe('esync: --status must be open or resolved, got "closed"');
    expect(api.requests.length).toBe(before);
  });

  it('exits 1 with the message when the conflict was already resolved', async () => {
    const io = captureIo(api.devDir);

    const code = await conflicts(['resolve', 'done', '--choice', 'source', '--reason', 'x', '--local'], io);

    expect(code).toBe(1);
    expect(io.errText()).toMatch(/409 Conflict: conflict "done" is already resolved/);
  });
});

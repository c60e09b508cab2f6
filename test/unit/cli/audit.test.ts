import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../../cli/commands/audit.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path !== '/audit') return undefined;
    if (req.query.pipeline === 'empty-sync') return { status: 200, body: { entries: [], next: null } };
    return {
      status: 200,
      body: {
        entries: [
          {
            pipeline: 'users-sync',
            who: 'local:alice',
            at: '2025-01-02T03:04:05.000Z',
            action: 'checkpoint.reset',
            what: { from: null, to: null },
            why: 'reload after the schema change of January, which touched every row of the users table',
          },
        ],
        next: 'eyJiZWZvcmUiOiJ4In0',
      },
    };
  });
});
afterAll(() => api.stop());

describe('esync audit', () => {
  it('sends every filter as a query parameter and prints the entries with the next page command', async () => {
    const io = captureIo(api.devDir);

    const code = await audit(
      [
        '--pipeline',
        'users-sync',
        '--action',
        'checkpoint.reset',
        '--actor',
        'alice',
        '--since',
        '2025-01-01T00:00:00Z',
        '--until',
        '2025-02-01T00:00:00Z',
        '--limit',
        '1',
        '--after',
        'c1',
        '--local',
      ],
      io,
    );

    expect(code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({
      pipeline: 'users-sync',
      action: 'checkpoint.reset',
      actor: 'alice',
      since: '2025-01-01T00:00:00Z',
      until: '2025-02-01T00:00:00Z',
      limit: '1',
      after: 'c1',
    });
    const lines = io.text().split('\n');
    expect(lines[0]).toMatch(/^AT +PIPELINE +ACTION +WHO +WHY +WHAT$/);
    expect(lines[1]).toMatch(
      /^2025-01-02 03:04:05 +users-sync +checkpoint\.reset +local:alice +reload after the schema change of Janua… +\{"from":null,"to":null\}$/,
    );
    expect(lines[2]).toBe('more entries: repeat with --after eyJiZWZvcmUiOiJ4In0');
  });

  it('says so when no entry matches', async () => {
    const io = captureIo(api.devDir);

    const code = await audit(['--pipeline', 'empty-sync', '--local'], io);

    expect(code).toBe(0);
    expect(io.text()).toBe('no audit entries match');
  });

  it('exits 2 without calling the API for a time that is not ISO-8601, a bad limit or an argument', async () => {
    const before = api.requests.length;
    const results = await Promise.all(
      [['--since', 'last week'], ['--limit', '500'], ['users-sync']].map(async (args) => {
        const io = captureIo(api.devDir);
        return { code: await audit([...args, '--local'], io), err: io.errText() };
      }),
    );

    expect(results.map((r) => r.code)).toEqual([2, 2, 2]);
    expect(results[0]?.err).toMatch(/--since must be an ISO-8601 time .* got "last week"/);
    expect(results[1]?.err).toMatch(/--limit must be a whole number from 1 to 100, got "500"/);
    expect(results[2]?.err).toMatch(/audit takes no arguments, got "users-sync"/);
    expect(api.requests.length).toBe(before);
  });
});

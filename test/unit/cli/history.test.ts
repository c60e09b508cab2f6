import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { history } from '../../../cli/commands/history.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/pipelines/lake-sync/records/k/1/history')
      return {
        status: 200,
        body: {
          pipeline: 'lake-sync',
          key: 'k/1',
          at: '2025-01-03T00:00:00.000Z',
          versions: [
            { key: 'k/1', op: 'upsert', version: 'p:1', ts: '2025-01-01T00:00:00.000Z', data: { n: 1 } },
            { key: 'k/1', op: 'delete', version: 'p:2', ts: '2025-01-05T00:00:00.000Z', data: null },
          ],
          state: { exists: true, version: 'p:1', ts: '2025-01-01T00:00:00.000Z', data: { n: 1 } },
        },
      };
    if (req.path === '/pipelines/users-sync/records/u1/history')
      return {
        status: 400,
        body: {
          error:
            'pipeline "users-sync" writes to a dynamodb target, which keeps only the current version of a record',
        },
      };
    return undefined;
  });
});
afterAll(() => api.stop());

describe('esync history', () => {
  it('prints the versions of a record and its state at the given time', async () => {
    const io = captureIo(api.devDir);

    const code = await history(['lake-sync', 'k/1', '--at', '2025-01-03T00:00:00Z', '--local'], io);

    expect(code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ at: '2025-01-03T00:00:00Z' });
    const lines = io.text().split('\n');
    expect(lines[0]).toMatch(/^VERSION +CHANGED +OP +DATA$/);
    expect(lines[1]).toMatch(/^p:1 +2025-01-01 00:00:00 +upsert +\{"n":1\}$/);
    expect(lines[2]).toMatch(/^p:2 +2025-01-05 00:00:00 +delete +null$/);
    expect(lines.at(-1)).toBe('k/1 at 2025-01-03 00:00:00 (version p:1): {"n":1}');
  });

  it("exits 1 with the API's explanation for a target that keeps no history", async () => {
    const io = captureIo(api.devDir);

    const code = await history(['users-sync', 'u1', '--local'], io);

    expect(code).toBe(1);
    expect(io.errText()).toMatch(/400 Bad Request: pipeline "users-sync" writes to a dynamodb target/);
  });

  it('exits 2 for a missing key or a time that is not ISO-8601', async () => {
    const io = captureIo(api.devDir);

    const codes = [
      await history(['lake-sync', '--local'], io),
      await history(['lake-sync', 'k', '--at', 'soon'], io),
    ];

    expect(codes).toEqual([2, 2]);
    expect(io.stderr.filter((l) => l.startsWith('esync:'))).toEqual([
      'esync: history needs a pipeline and a record key',
      'esync: --at must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got "soon"',
    ]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dlq } from '../../../cli/commands/dlq.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const messages = [
  {
    messageId: 'm-1',
    receiveCount: 6,
    sentAt: '2025-01-02T03:04:05.000Z',
    body: { kind: 'records', scope: 'RUN#users-sync-r1', records: 2, keys: ['u1', 'u2'] },
    firstError: null,
  },
  {
    messageId: 'm-2',
    receiveCount: 1,
    sentAt: null,
    body: { kind: 'event', detailType: 'esync.change', source: 'app.orders', id: 'e1' },
    firstError: 'SQS_QUEUE_FULL: queue is full',
  },
];

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/pipelines/users-sync/dlq') {
      const limit = Number(req.query.limit);
      return {
        status: 200,
        body: {
          pipeline: 'users-sync',
          queueUrl: 'http://q/esync-dev-users-sync-load-dlq',
          depth: { visible: 3, inFlight: 0 },
          messages: messages.slice(0, limit),
        },
      };
    }
    if (req.path === '/pipelines/users-sync/dlq/redrive')
      return { status: 202, body: { taskHandle: 'task-123', approximateMessages: 3 } };
    return undefined;
  });
});
afterAll(() => api.stop());

describe('esync dlq', () => {
  it('lists the depth of the dead-letter queue', async () => {
    const io = captureIo(api.devDir);

    const code = await dlq(['list', 'users-sync', '--local'], io);

    expect(code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ limit: '0' });
    expect(io.stdout).toEqual([
      'DLQ of users-sync: 3 message(s) waiting, 0 in flight',
      'queue: http://q/esync-dev-users-sync-load-dlq',
    ]);
  });

  it('inspects messages: id, receive count, body summary and first error', async () => {
    const io = captureIo(api.devDir);

    await dlq(['inspect', 'users-sync', '--limit', '5', '--local'], io);

    const lines = io.text().split('\n');
    expect(lines[0]).toMatch(/^MESSAGE +RECEIVES +SENT +BODY +ERROR$/);
    expect(lines[1]).toMatch(/^m-1 +6 +2025-01-02 03:04:05 +2 record\(s\), RUN#users-sync-r1: u1, u2 +-$/);
    expect(lines[2]).toMatch(
      /^m-2 +1 +- +event esync.change from app.orders +SQS_QUEUE_FULL: queue is full$/,
    );
    expect(lines[3]).toBe('showing 2 of about 3 message(s)');
  });

  it('starts a redrive and prints the task handle', async () => {
    const io = captureIo(api.devDir);

    const code = await dlq(['redrive', 'users-sync', '--reason', 'target fixed', '--local'], io);

    expect(code).toBe(0);
    expect(api.requests.at(-1)).toMatchObject({ method: 'POST', body: { reason: 'target fixed' } });
    expect(io.stdout).toEqual([
      'moving about 3 message(s) from the DLQ of users-sync back to its load queue',
      'task handle: task-123',
    ]);
  });

  it('exits 2 for a missing pipeline, a bad limit or an unknown subcommand', async () => {
    const io = captureIo(api.devDir);

    const codes = [
      await dlq(['inspect', '--local'], io),
      await dlq(['inspect', 'users-sync', '--limit', '500', '--local'], io),
      await dlq(['purge', 'users-sync'], io),
    ];

    expect(codes).toEqual([2, 2, 2]);
    expect(io.stderr.filter((l) => l.startsWith('esync:'))).toEqual([
      'esync: dlq inspect needs a pipeline name',
      'esync: --limit must be a whole number from 1 to 50, got "500"',
      'esync: unknown subcommand "dlq purge"; use list, inspect or redrive',
    ]);
  });
});

import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalServers, startLocalServers } from '../../../local/servers.ts';
import type { AwsClients } from '../../../shared/aws/clients.ts';
import { recordHistory } from '../../../shared/connectors/targets/s3/history.ts';
import { createS3LakeTarget } from '../../../shared/connectors/targets/s3/s3-target.ts';
import { keepNewest, liveRecordsOf } from '../../../shared/connectors/targets/support/target-changes.ts';
import type { TargetChange, TargetWrite } from '../../../shared/connectors/types.ts';
import { ConnectorError, TransientError, ValidationError } from '../../../shared/errors.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { collect, FAST_RETRY, localClients, remove, targetContext, upsert } from './support.ts';

let servers: LocalServers;
let clients: AwsClients;
let bucketCount = 0;
let lakeBucket: string;
let dataBucket: string;

beforeAll(async () => {
  servers = await startLocalServers();
  clients = localClients(servers.endpoints);
});

afterAll(async () => {
  await servers?.stop();
});

beforeEach(async () => {
  bucketCount++;
  lakeBucket = `lake-${bucketCount}`;
  dataBucket = `data-${bucketCount}`;
  for (const Bucket of [lakeBucket, dataBucket]) await clients.s3.send(new CreateBucketCommand({ Bucket }));
});

function lake(
  options: { bucket?: string; clients?: AwsClients; writeConcurrency?: number; historyDays?: number } = {},
) {
  const config = { type: 's3', bucket: options.bucket ?? lakeBucket, prefix: 'lake/' } as const;
  return createS3LakeTarget(
    config,
    targetContext(config, options.clients ?? clients, {
      dataBucket,
      ...(options.writeConcurrency === undefined ? {} : { writeConcurrency: options.writeConcurrency }),
      ...(options.historyDays === undefined ? {} : { historyDays: options.historyDays }),
    }),
  );
}

async function listKeys(bucket: string, prefix = ''): Promise<string[]> {
  const out = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function readLines(bucket: string, key: string): Promise<unknown[]> {
  const out = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = (await out.Body?.transformToString()) ?? '';
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** A write at an explicit time, for the history tests. */
function at(write: TargetWrite, ts: string): TargetWrite {
  return { ...write, ts };
}

describe('s3 lake target', () => {
  it('discovers the bucket and reports a missing one', async () => {
    // Act
    const existing = await lake().discover();
    const missing = await lake({ bucket: 'no-such-bucket' }).discover();

    // Assess
    expect(existing).toEqual({
      exists: true,
      detail: expect.stringContaining(`s3://${lakeBucket}/lake/users-sync/`),
    });
    expect(missing).toEqual({ exists: false, detail: 'bucket "no-such-bucket" does not exist' });
  });

  it('writes one JSON Lines object per day and message under the pipeline partition', async () => {
    // Prepare
    const writes = [
      at(upsert('1', 1, { id: 1, name: 'a' }, 'msg-1'), '2025-03-01T10:00:00.000Z'),
      at(upsert('2', 1, { id: 2, name: 'b' }, 'msg-1'), '2025-03-01T23:59:59.999Z'),
      at(remove('3', 2, 'msg-1'), '2025-03-02T00:00:00.000Z'),
    ];

    // Act
    const outcomes = await lake().write(writes);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'applied']);
    const keys = await listKeys(lakeBucket);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^lake\/users-sync\/dt=2025-03-01\/msg-1-[0-9a-f]{12}\.jsonl$/);
    expect(keys[1]).toMatch(/^lake\/users-sync\/dt=2025-03-02\/msg-1-[0-9a-f]{12}\.jsonl$/);
    expect(await readLines(lakeBucket, keys[0] as string)).toEqual([
      {
        key: '1',
        op: 'upsert',
        version: positionVersion(1),
        ts: '2025-03-01T10:00:00.000Z',
        hash: contentHash({ id: 1, name: 'a' }),
        data: { id: 1, name: 'a' },
      },
      {
        key: '2',
        op: 'upsert',
        version: positionVersion(1),
        ts: '2025-03-01T23:59:59.999Z',
        hash: contentHash({ id: 2, name: 'b' }),
        data: { id: 2, name: 'b' },
      },
    ]);
    expect(await readLines(lakeBucket, keys[1] as string)).toEqual([
      {
        key: '3',
        op: 'delete',
        version: positionVersion(2),
        ts: '2025-03-02T00:00:00.000Z',
        hash: 'deleted',
        data: null,
      },
    ]);
  });

  it('rewrites the same object when a message is retried', async () => {
    // Prepare
    const writes = [upsert('1', 1, { id: 1 }, 'msg-7'), upsert('2', 1, { id: 2 }, 'msg-7')];
    await lake().write(writes);
    const before = await listKeys(lakeBucket);

    // Act
    await lake().write(writes);

    // Assess
    expect(await listKeys(lakeBucket)).toEqual(before);
    expect(before).toHaveLength(1);
  });

  it('keeps no per-key state to read back', async () => {
    // Prepare
    await lake().write([upsert('1', 1, { id: 1 })]);

    // Act
    const state = await lake().readState(['1'], { withData: true });

    // Assess
    expect(state.size).toBe(0);
  });

  it('reads the newest archived change of each key, by version then hash, a delete too', async () => {
    // Prepare: key 1 holds a tie at its newest version; key 2 ends deleted.
    const t = lake();
    await t.write([upsert('1', 1, { id: 1 }, 'm0'), upsert('2', 1, { id: 2 }, 'm0')]);
    await t.write([upsert('1', 2, { id: 1, v: 'a' }, 'm1'), remove('2', 2, 'm1')]);
    await t.write([upsert('1', 2, { id: 1, v: 'b' }, 'm2')]);

    // Act
    const newest = await t.readNewestChanges?.(['1', '2', '3']);

    // Assess
    const higher = [contentHash({ id: 1, v: 'a' }), contentHash({ id: 1, v: 'b' })].sort()[1];
    expect(newest).toEqual(
      new Map([
        ['1', { version: positionVersion(2), hash: higher, deleted: false }],
        ['2', { version: positionVersion(2), hash: 'deleted', deleted: true }],
      ]),
    );
  });

  it('snapshots the newest version of each key, whatever order changes arrived in, without deleted keys', async () => {
    // Prepare
    const t = lake();
    await t.write([upsert('1', 3, { id: 1, v: 'newest' }, 'm1'), upsert('2', 1, { id: 2 }, 'm1')]);
    await t.write([
      upsert('1', 2, { id: 1, v: 'late older' }, 'm2'),
      remove('2', 2, 'm2'),
      upsert('3', 1, { id: 3 }, 'm2'),
    ]);

    // Act
    const records = await collect(t.snapshot());

    // Assess
    expect(records.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: '1', version: positionVersion(3), hash: contentHash({ id: 1, v: 'newest' }) },
      { key: '3', version: positionVersion(1), hash: contentHash({ id: 3 }) },
    ]);
  });

  it('reads its objects split in segments by name, page by page, into the same newest records as a snapshot', async () => {
    // Prepare: six messages' objects, key 1 changed in three of them, key 2 deleted in the last.
    const t = lake();
    for (let m = 0; m < 6; m++)
      await t.write([
        upsert('1', m + 1, { id: 1, v: m }, `m${m}`),
        m === 5 ? remove('2', 6, `m${m}`) : upsert('2', m + 1, { id: 2 }, `m${m}`),
        upsert(`k${m}`, 1, { id: m }, `m${m}`),
      ]);
    const segmented = t.segmented;
    if (!segmented) throw new Error('the lake reads by segment');

    // Act: three segments, listing two objects per page.
    const changes: TargetChange[] = [];
    let pages = 0;
    for (let index = 0; index < 3; index++) {
      let from: string | null = null;
      do {
        const page = await segmented.readSegment({ index, total: 3 }, from, 2);
        changes.push(...page.changes);
        from = page.next;
        pages++;
      } while (from !== null);
    }

    // Assess: every change read once, and reduced to what the snapshot reads.
    expect(changes).toHaveLength(18);
    expect(pages).toBeGreaterThan(3);
    const newest = new Map<string, TargetChange>();
    keepNewest(newest, changes);
    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
    expect(liveRecordsOf(newest).sort(byKey)).toEqual((await collect(t.snapshot())).sort(byKey));
    expect(newest.get('1')?.version).toBe(positionVersion(6));
    expect(newest.get('2')?.hash).toBeNull();
  });

  it('archives every change so a record can be rebuilt as it was at a given time', async () => {
    // Prepare
    const t = lake();
    await t.write([at(upsert('u1', 1, { id: 'u1', name: 'first' }, 'a'), '2025-01-01T00:00:00.000Z')]);
    await t.write([at(upsert('u1', 2, { id: 'u1', name: 'second' }, 'b'), '2025-01-02T00:00:00.000Z')]);
    await t.write([
      at(remove('u1', 3, 'c'), '2025-01-03T00:00:00.000Z'),
      at(upsert('u2', 1, { id: 'u2' }, 'c'), '2025-01-03T00:00:00.000Z'),
    ]);
    const context = { clients, dataBucket, retry: FAST_RETRY };

    // Act
    const midway = await recordHistory(context, 'users-sync', 'u1', '2025-01-02T12:00:00Z');
    const before = await recordHistory(context, 'users-sync', 'u1', new Date('2024-12-31T00:00:00Z'));
    const now = await recordHistory(context, 'users-sync', 'u1');
    const unknown = await recordHistory(context, 'users-sync', 'nobody');

    // Assess
    expect(midway.versions.map((v) => [v.version, v.op])).toEqual([
      [positionVersion(1), 'upsert'],
      [positionVersion(2), 'upsert'],
      [positionVersion(3), 'delete'],
    ]);
    expect(midway.state).toEqual({
      exists: true,
      version: positionVersion(2),
      ts: '2025-01-02T00:00:00.000Z',
      data: { id: 'u1', name: 'second' },
    });
    expect(before.state).toEqual({ exists: false, version: null, ts: null, data: null });
    expect(now.state).toMatchObject({ exists: false, version: positionVersion(3), data: null });
    expect(unknown.versions).toEqual([]);
  });

  it('refuses an unreadable --at time with a ValidationError', async () => {
    // Act
    const reading = recordHistory({ clients, dataBucket }, 'users-sync', 'u1', 'yesterday-ish');

    // Assess
    await expect(reading).rejects.toThrow(ValidationError);
  });

  it('fails only the record whose timestamp cannot be partitioned', async () => {
    // Act
    const outcomes = await lake().write([
      at(upsert('1', 1, { id: 1 }), 'not a time'),
      upsert('2', 1, { id: 2 }),
    ]);

    // Assess
    expect(outcomes[0]).toMatchObject({ key: '1', status: 'failed', error: expect.any(ValidationError) });
    expect(outcomes[1]).toEqual({ key: '2', status: 'applied' });
  });

  it('retries a throttled PutObject and applies the write', async () => {
    // Prepare
    const throttled = localClients(servers.endpoints);
    let injected = 0;
    throttled.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand' && injected < 2) {
          injected++;
          throw Object.assign(new Error('Please reduce your request rate.'), {
            name: 'SlowDown',
            $metadata: { httpStatusCode: 503 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'inject-slow-down' },
    );

    // Act
    const outcomes = await lake({ clients: throttled }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(injected).toBe(2);
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
    expect(await listKeys(lakeBucket)).toHaveLength(1);
  });

  it('writes lake and archive objects side by side, at most load.writeConcurrency at once', async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    let inFlight = 0;
    let maxInFlight = 0;
    tracked.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'PutObjectCommand') return next(args);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await next(args);
        } finally {
          inFlight--;
        }
      },
      { step: 'initialize', name: 'track-puts' },
    );
    const writes = Array.from({ length: 30 }, (_, i) => upsert(`k${i}`, 1, { id: i }));

    // Act
    const outcomes = await lake({ clients: tracked, writeConcurrency: 6 }).write(writes);

    // Assess
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(maxInFlight).toBe(6);
    expect(await listKeys(dataBucket, 'archive/')).toHaveLength(30);
  });

  it('sends each archive object with the tag of its pipeline’s history tier, rounded up, and the lake objects with none', async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    const sent: Array<{ path: string; tagging: string | undefined }> = [];
    tracked.s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { path: string; headers: Record<string, string> };
        sent.push({ path: request.path, tagging: request.headers['x-amz-tagging'] });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'record-tagging' },
    );

    // Act
    const outcomes = await lake({ clients: tracked, historyDays: 45 }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
    const tagsOf = (prefix: string) => sent.filter((s) => s.path.includes(prefix)).map((s) => s.tagging);
    expect(tagsOf('/archive/users-sync/')).toEqual(['esync-history-days=90']);
    expect(tagsOf('/lake/users-sync/')).toEqual([undefined]);
    expect(await listKeys(dataBucket, 'archive/')).toHaveLength(1);
  });

  it('fails records with a TransientError when S3 cannot be reached', async () => {
    // Prepare
    const unreachable = localClients({ ...servers.endpoints, s3: 'http://127.0.0.1:9' });

    // Act
    const [outcome] = await lake({ clients: unreachable }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(outcome).toMatchObject({ key: '1', status: 'failed', error: expect.any(TransientError) });
  });

  it('throws a ConnectorError naming the bucket when it does not exist', async () => {
    // Act
    const writing = lake({ bucket: 'no-such-bucket' }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    await expect(writing).rejects.toThrow(ConnectorError);
    await expect(writing).rejects.toThrow('bucket "no-such-bucket" does not exist');
  });
});

import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, type LocalServers, startLocalServers } from '../../../local/servers.ts';
import { S3Source } from '../../../shared/connectors/sources/s3/source.ts';
import type { ChangeWindow } from '../../../shared/connectors/types.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { keysOf, readAll, readPages, sourceSetup } from './helpers.ts';

const BUCKET = 'source-bucket';

describe('s3 source against the local S3 server', () => {
  let servers: LocalServers;
  let s3: S3Client;
  let proxy: FaultProxy;

  const client = (
    endpoint: string,
    credentials: { accessKeyId: string; secretAccessKey: string } = LOCAL_CREDENTIALS,
  ) =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });

  const source = (overrides: Record<string, unknown> = {}, options: { s3?: S3Client; now?: Date } = {}) => {
    const { config, context } = sourceSetup(
      { type: 's3', bucket: BUCKET, prefix: 'in/', key: ['id'], pageSize: 2, ...overrides },
      { clients: { s3: options.s3 ?? s3 } },
    );
    return new S3Source(config, context, { now: () => options.now ?? new Date(Date.now() + 5000) });
  };

  const put = (key: string, body: string | Buffer) =>
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const jsonl = (...records: object[]) => records.map((r) => JSON.stringify(r)).join('\n');
  /** Waits into the next second, so objects written next get a later LastModified. */
  const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));

  beforeAll(async () => {
    servers = await startLocalServers();
    s3 = client(servers.endpoints.s3);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    proxy = await startFaultProxy(Number(new URL(servers.endpoints.s3).port));
  });

  afterAll(async () => {
    await proxy?.close();
    await servers?.stop();
  });

  beforeEach(async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    for (const object of listed.Contents ?? [])
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: object.Key }));
    await put('in/a.jsonl', jsonl({ id: 1, name: 'one' }, { id: 2, name: 'two' }, { id: 3, name: 'three' }));
    await put(
      'in/b.jsonl.gz',
      gzipSync(jsonl({ id: 4, name: 'four' }, { id: 5, name: 'five', deleted: true })),
    );
    await put('other/c.jsonl', jsonl({ id: 99, name: 'outside the prefix' }));
  });

  it('discovers the fields of the first record under the prefix', async () => {
    const discovery = await source().discover();
    expect(discovery.fields).toEqual([
      { name: 'id', type: 'number', nullable: false },
      { name: 'name', type: 'string', nullable: false },
    ]);
    expect(discovery.capabilities).toEqual({ incremental: true, deletes: 'none', cdc: false });
  });

  it('streams JSON Lines objects, gzip ones too, in (LastModified, key, line) order', async () => {
    const reader = source({ deletes: { mode: 'soft', column: 'deleted' } });
    const pages = await readPages(reader, { from: null, to: await reader.currentHighWatermark() });
    const rows = pages.flat();
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(keysOf(rows)).toEqual(['1', '2', '3', '4', '5']);
    expect(rows.map((r) => r.deleted)).toEqual([false, false, false, false, true]);
    const modified = rows[0]?.cursor.values[0] as string;
    expect(rows[1]).toEqual({
      data: { id: 2, name: 'two' },
      deleted: false,
      cursor: { values: [modified, 'in/a.jsonl', 2], key: '2' },
      version: `t:${modified}|2|in/a.jsonl|000000000002`,
      ts: modified,
    });
  });

  it('reads CSV objects with quoted fields as records named by the header', async () => {
    await put(
      'csv/people.csv',
      'id,name,note\r\n1,Ada,"likes ""engines"", and math"\r\n2,Alan,"two\nlines"\r\n',
    );
    const rows = await readAll(source({ prefix: 'csv/', format: 'csv' }));
    expect(rows.map((r) => r.data)).toEqual([
      { id: '1', name: 'Ada', note: 'likes "engines", and math' },
      { id: '2', name: 'Alan', note: 'two\nlines' },
    ]);
  });

  it('streams a large gzip object page by page, and lets the caller stop after the first page', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) =>
      JSON.stringify({ id: i + 1, text: 'x'.repeat(40) }),
    );
    await put('big/all.jsonl.gz', gzipSync(lines.join('\n')));
    const reader = source({ prefix: 'big/', pageSize: 1000 });
    let pages = 0;
    let last: unknown;
    for await (const page of reader.read({ from: null, to: null }, { id: 'all', spec: {} })) {
      pages++;
      last = page[page.length - 1]?.data.id;
    }
    const firstPage = await (async () => {
      for await (const page of reader.read({ from: null, to: null }, { id: 'all', spec: {} })) return page;
    })();
    expect(pages).toBe(20);
    expect(last).toBe(20_000);
    expect(firstPage?.map((r) => r.data.id).slice(0, 2)).toEqual([1, 2]);
  });

  it('resumes inside an object after the last row read, without skipping or repeating one', async () => {
    const reader = source();
    const all = await readAll(reader);
    const resumed = await readAll(reader, { from: null, to: null }, undefined, all[1]?.cursor);
    expect(keysOf(resumed)).toEqual(['3', '4', '5']);
  });

  it('moves only the objects written after the first window on an incremental second pass', async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const written = Math.max(...(listed.Contents ?? []).map((o) => o.LastModified?.getTime() ?? 0));
    const first = await source({}, { now: new Date(written + 2000) }).currentHighWatermark();
    const initial = await readAll(source(), { from: null, to: first });
    await nextSecond();
    await put('in/a.jsonl', jsonl({ id: 1, name: 'one, rewritten' }));
    await put('in/d.jsonl', jsonl({ id: 6, name: 'six' }));
    const second = await source().currentHighWatermark();

    const rows = await readAll(source(), { from: first, to: second });

    expect(keysOf(initial)).toEqual(['1', '2', '3', '4', '5']);
    expect(rows.map((r) => r.data)).toEqual([
      { id: 1, name: 'one, rewritten' },
      { id: 6, name: 'six' },
    ]);
    expect(rows[0]?.version.localeCompare(initial[0]?.version ?? '')).toBe(1);
  });

  it('leaves objects of the current second to the next window', async () => {
    const now = new Date();
    const to = await source({}, { now }).currentHighWatermark();
    expect(to).toEqual({
      values: [new Date(Math.floor(now.getTime() / 1000) * 1000 - 1000).toISOString(), '', 0],
      key: '',
    });
    expect(await readAll(source(), { from: null, to })).toEqual([]);
  });

  it('splits the object list into key ranges that together hold every row once', async () => {
    const reader = source();
    const window: ChangeWindow = { from: null, to: await reader.currentHighWatermark() };
    const partitions = await reader.planPartitions(window, 4);
    const perPartition = await Promise.all(partitions.map((p) => readAll(reader, window, p)));
    expect(partitions).toHaveLength(2);
    expect(perPartition.every((rows) => rows.length > 0)).toBe(true);
    expect(keysOf(perPartition.flat()).sort()).toEqual(['1', '2', '3', '4', '5']);
  });

  it('retries requests the server answered with 503', async () => {
    const flaky = client(`http://127.0.0.1:${proxy.port}`);
    const before = proxy.injected;
    proxy.failNext(2, 'http-503');
    const rows = await readAll(source({}, { s3: flaky }));
    expect(proxy.injected).toBe(before + 2);
    expect(keysOf(rows)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('names the object and line of a record that is not JSON or has no key', async () => {
    await put('bad/x.jsonl', '{"id": 1}\n{"id": 2,,}\n');
    await put('nokey/y.jsonl', '{"id": 1}\n{"name": "no id"}\n');
    await expect(readAll(source({ prefix: 'bad/' }))).rejects.toThrow(
      /s3:\/\/source-bucket\/bad\/x\.jsonl line 2: not valid JSON/,
    );
    await expect(readAll(source({ prefix: 'nokey/' }))).rejects.toThrow(
      /s3:\/\/source-bucket\/nokey\/y\.jsonl record 2: key field "id" is missing or empty/,
    );
  });

  it('names the object and line of CSV that does not parse, and the record whose fields miss the header', async () => {
    await put('badcsv/q.csv', 'id,name\r\n1,Ada\r\n2,"Alan\r\n');
    await put('shortcsv/s.csv', 'id,name\n1,Ada\n2\n');
    await expect(readAll(source({ prefix: 'badcsv/', format: 'csv' }))).rejects.toThrow(
      /^s3 source: s3:\/\/source-bucket\/badcsv\/q\.csv: not valid CSV: Quote Not Closed: .* at line 4$/,
    );
    await expect(readAll(source({ prefix: 'shortcsv/', format: 'csv' }))).rejects.toThrow(
      's3://source-bucket/shortcsv/s.csv record 2: 1 fields where the header has 2',
    );
  });

  it('reports a missing bucket, refused credentials and an unreachable endpoint', async () => {
    const closed = await startFaultProxy(1);
    await closed.close();
    const stranger = client(servers.endpoints.s3, {
      accessKeyId: 'unknown-key',
      secretAccessKey: 'unknown-secret',
    });
    await expect(source({ bucket: 'no-such-bucket' }).discover()).rejects.toThrow(
      /s3:\/\/no-such-bucket\/in\/: no such bucket/,
    );
    await expect(source({}, { s3: stranger }).discover()).rejects.toThrow(
      /access denied \(InvalidAccessKeyId\)/,
    );
    const error = await source({}, { s3: client(`http://127.0.0.1:${closed.port}`) })
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(/cannot reach S3 \(ECONNREFUSED\)/);
  });
});

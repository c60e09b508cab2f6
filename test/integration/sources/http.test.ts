import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpSource } from '../../../shared/connectors/sources/http/source.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { type HttpApiServer, startHttpApiServer } from '../../support/http-api-server.ts';
import { startFaultProxy } from './fault-proxy.ts';
import { keysOf, readAll, sourceSetup } from './helpers.ts';

const TOKEN = 'api-token-never-shown';
const T0 = '2024-05-01T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const NOW = new Date('2024-05-02T00:00:00.000Z');

describe('http source against a paginated JSON API', () => {
  let api: HttpApiServer;

  const source = (overrides: Record<string, unknown> = {}) => {
    const { config, context } = sourceSetup(
      {
        type: 'http',
        url: api.url,
        recordsPath: 'data.items',
        pagination: { type: 'cursor', cursorPath: 'next' },
        sinceParam: 'since',
        auth: { secret: 'api' },
        key: ['id'],
        cursor: ['updated_at'],
        ...overrides,
      },
      { secrets: { api: TOKEN } },
    );
    return new HttpSource(config, context, { now: () => NOW });
  };

  beforeAll(async () => {
    api = await startHttpApiServer({ token: TOKEN, pageSize: 3 });
  });

  afterAll(async () => {
    await api?.close();
  });

  beforeEach(() => {
    api.reset();
    // Records 1-5 share one instant and straddle the server's pages of 3.
    for (let id = 1; id <= 5; id++) api.upsert({ id, name: `record ${id}`, updated_at: T0 });
    api.upsert({ id: 6, name: 'record 6', updated_at: at(10) });
    api.upsert({ id: 7, name: 'record 7', updated_at: at(20) });
  });

  it('discovers the fields of the first record', async () => {
    const discovery = await source().discover();
    expect(discovery.fields).toEqual([
      { name: 'id', type: 'number', nullable: false },
      { name: 'name', type: 'string', nullable: false },
      { name: 'updated_at', type: 'string', nullable: false },
    ]);
    expect(discovery.capabilities).toEqual({ incremental: true, deletes: 'none', cdc: false });
  });

  it.each([
    ['a next cursor in the body', { type: 'cursor', cursorPath: 'next' }],
    ['page numbers', { type: 'page', size: 2 }],
    ['Link headers', { type: 'link' }],
  ])('reads every record once, ties in key order, following %s', async (_name, pagination) => {
    const reader = source({ pagination });
    const rows = await readAll(reader, { from: null, to: await reader.currentHighWatermark() });
    expect(keysOf(rows)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(rows[0]).toEqual({
      data: { id: 1, name: 'record 1', updated_at: T0 },
      deleted: false,
      cursor: { values: [T0], key: '1' },
      version: `t:${T0}|2|1`,
      ts: T0,
    });
  });

  it('bounds a timestamp cursor at the current time, below every key of that instant', async () => {
    expect(await source().currentHighWatermark()).toEqual({ values: [NOW.toISOString()], key: '' });
  });

  it('resumes after a row in the middle of a group of ties', async () => {
    const rows = await readAll(source(), { from: null, to: null }, undefined, { values: [T0], key: '3' });
    expect(keysOf(rows)).toEqual(['4', '5', '6', '7']);
  });

  it('moves only the records changed after the first window, passing its start as since', async () => {
    const reader = source();
    const first = { values: [at(20)], key: '7' };
    api.upsert({ id: 2, name: 'changed', updated_at: at(30) });
    api.upsert({ id: 8, name: 'new', updated_at: at(31) });
    const second = await reader.currentHighWatermark();
    api.requests.length = 0;

    const rows = await readAll(reader, { from: first, to: second });

    expect(keysOf(rows)).toEqual(['2', '8']);
    expect(api.requests[0]?.query.since).toBe(at(20));
  });

  it('retries a 503 and a 429 with Retry-After', async () => {
    api.failNext({ status: 503 });
    api.failNext({ status: 429, headers: { 'retry-after': '0' } });
    const rows = await readAll(source());
    expect(keysOf(rows)).toHaveLength(7);
    expect(api.requests.slice(0, 2).map((r) => r.status)).toEqual([503, 429]);
  });

  it('refuses a listing that is not in ascending cursor order', async () => {
    api.listDescending(true);
    await expect(readAll(source())).rejects.toThrow(
      /the API must list records in ascending updated_at order/,
    );
  });

  it('reads a listing without cursor as a full read, resuming after a key', async () => {
    const reader = source({ cursor: [], sinceParam: undefined });
    const all = await readAll(reader);
    const resumed = await readAll(reader, undefined, undefined, all[2]?.cursor);
    expect(keysOf(all)).toEqual(['5', '4', '3', '2', '1', '6', '7']);
    expect(keysOf(resumed)).toEqual(['2', '1', '6', '7']);
    expect(await reader.currentHighWatermark()).toBeNull();
  });

  it('says where the records were expected when the path finds none', async () => {
    await expect(readAll(source({ recordsPath: 'data.rows' }))).rejects.toThrow(
      /127\.0\.0\.1:\d+\/items: no array of records at data\.rows/,
    );
  });

  it('reports a refused token as unauthorized, naming the secret but not the token', async () => {
    const { config, context } = sourceSetup(
      { type: 'http', url: api.url, recordsPath: 'data.items', auth: { secret: 'api' }, key: ['id'] },
      { secrets: { api: 'wrong-token' } },
    );
    const error = await new HttpSource(config, context).discover().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(
      /unauthorized \(HTTP 401: invalid token\); check the token in secret "api"/,
    );
    expect((error as Error).message).not.toContain('wrong-token');
  });

  it('reports an unreachable server', async () => {
    const closed = await startFaultProxy(1);
    await closed.close();
    const url = `http://127.0.0.1:${closed.port}/items`;
    await expect(source({ url }).discover()).rejects.toThrow(`cannot reach ${url} (ECONNREFUSED)`);
  });
});

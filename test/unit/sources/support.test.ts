import { describe, expect, it } from 'vitest';
import { readRecordsPath } from '../../../shared/connectors/sources/http/records-path.ts';
import {
  EtagCache,
  nextLink,
  rateLimitDelay,
} from '../../../shared/connectors/sources/support/http-client.ts';
import { isSoftDeleted, RowMapper } from '../../../shared/connectors/sources/support/rows.ts';
import { TieGroupPager } from '../../../shared/connectors/sources/support/tie-group-pager.ts';
import { ConnectorError } from '../../../shared/errors.ts';

const NOW = Date.parse('2024-05-01T10:00:00.000Z');

describe('rateLimitDelay', () => {
  it('waits the Retry-After seconds or date of a 429 or 403', () => {
    expect(rateLimitDelay(429, new Headers({ 'retry-after': '3' }), '', NOW)).toBe(3000);
    expect(
      rateLimitDelay(403, new Headers({ 'retry-after': 'Wed, 01 May 2024 10:00:05 GMT' }), '', NOW),
    ).toBe(5000);
  });

  it('waits until x-ratelimit-reset when the quota is spent', () => {
    const headers = new Headers({
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(NOW / 1000 + 42),
    });
    expect(rateLimitDelay(403, headers, '', NOW)).toBe(42_000);
  });

  it('waits a minute on a secondary rate limit named only in the message', () => {
    expect(
      rateLimitDelay(403, new Headers(), '{"message":"You have exceeded a secondary rate limit"}', NOW),
    ).toBe(60_000);
  });

  it('does not take a plain 403 or a 500 for a rate limit', () => {
    expect(
      rateLimitDelay(403, new Headers({ 'x-ratelimit-remaining': '12' }), '{"message":"Forbidden"}', NOW),
    ).toBeUndefined();
    expect(rateLimitDelay(500, new Headers({ 'retry-after': '1' }), '', NOW)).toBeUndefined();
  });
});

describe('nextLink', () => {
  it('finds the next target among the relations of a Link header', () => {
    const link =
      '<https://api.example.com/x?page=1>; rel="prev", <https://api.example.com/x?page=3>; rel="next"';
    expect(nextLink(link)).toBe('https://api.example.com/x?page=3');
    expect(nextLink('<https://api.example.com/x?page=9>; rel="last"')).toBeUndefined();
    expect(nextLink(null)).toBeUndefined();
  });
});

describe('EtagCache', () => {
  it('drops the least recently stored page beyond its size', () => {
    const cache = new EtagCache(2);
    cache.set('a', { etag: '1', body: [], link: null });
    cache.set('b', { etag: '2', body: [], link: null });
    cache.set('a', { etag: '3', body: [], link: null });
    cache.set('c', { etag: '4', body: [], link: null });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.etag).toBe('3');
    expect(cache.size).toBe(2);
  });
});

describe('isSoftDeleted', () => {
  const soft = (value: string | number | boolean) => ({ mode: 'soft' as const, column: 'deleted', value });

  it('takes any set value as deleted when the configured value is true', () => {
    for (const value of [true, 1, 't', 'yes', '2024-05-01T10:00:00Z'])
      expect(isSoftDeleted({ deleted: value }, soft(true)), String(value)).toBe(true);
    for (const value of [false, 0, 'f', 'false', '0', '', null, undefined])
      expect(isSoftDeleted({ deleted: value }, soft(true)), String(value)).toBe(false);
  });

  it('compares other configured values as text', () => {
    expect(isSoftDeleted({ deleted: 'archived' }, soft('archived'))).toBe(true);
    expect(isSoftDeleted({ deleted: 2 }, soft('2'))).toBe(true);
    expect(isSoftDeleted({ deleted: 'live' }, soft('archived'))).toBe(false);
    expect(isSoftDeleted({ deleted: true }, { mode: 'none' })).toBe(false);
  });
});

describe('RowMapper', () => {
  const mapper = new RowMapper(
    { connector: 'test source', key: ['org', 'id'], cursor: ['updated_at'], deletes: { mode: 'none' } },
    new Date('2024-06-01T00:00:00.000Z'),
  );

  it('builds the composite cursor, the version and the change time of a row', () => {
    const row = mapper.row({ org: 'acme', id: 7, updated_at: '2024-05-01T10:00:00.123456Z' }, 'table t');
    expect(row.cursor).toEqual({ values: ['2024-05-01T10:00:00.123456Z'], key: 'acme#7' });
    expect(row.version).toBe('t:2024-05-01T10:00:00.123Z|2|acme#7');
    expect(row.ts).toBe('2024-05-01T10:00:00.123Z');
  });

  it('names where a row without its key was found', () => {
    expect(() => mapper.row({ org: 'acme', updated_at: '2024-05-01T10:00:00Z' }, 'table t')).toThrow(
      ConnectorError,
    );
    expect(() => mapper.row({ org: 'acme', updated_at: '2024-05-01T10:00:00Z' }, 'table t')).toThrow(
      'test source: table t: key field "id" is missing or empty',
    );
  });

  it('versions rows without a cursor by the time the read started', () => {
    const plain = new RowMapper(
      { connector: 'x', key: ['id'], cursor: [], deletes: { mode: 'none' } },
      new Date('2024-06-01T00:00:00.000Z'),
    );
    expect(plain.row({ id: 1 }, 'x').version).toBe('t:2024-06-01T00:00:00.000Z|2|1');
  });
});

describe('TieGroupPager', () => {
  const row = (updated: string, key: string) => ({
    data: {},
    deleted: false,
    cursor: { values: [updated], key },
    version: '',
    ts: updated,
  });

  it('holds back the newest group of ties and releases it sorted by key', () => {
    const pager = new TieGroupPager(2);
    const out = [
      ...pager.push(row('t1', '9')),
      ...pager.push(row('t2', '5')),
      ...pager.push(row('t2', '3')),
      ...pager.push(row('t2', '4')),
      ...pager.push(row('t3', '1')),
      ...pager.flush(),
    ];
    expect(out.map((page) => page.map((r) => `${r.cursor.values[0]}/${r.cursor.key}`))).toEqual([
      ['t1/9', 't2/3'],
      ['t2/4', 't2/5'],
      ['t3/1'],
    ]);
  });
});

describe('readRecordsPath', () => {
  it('walks members and array indexes, and answers undefined for a missing step', () => {
    const body = { data: { items: [1, 2] }, results: [{ rows: ['x'] }] };
    expect(readRecordsPath(body, 'data.items')).toEqual([1, 2]);
    expect(readRecordsPath(body, 'results[0].rows')).toEqual(['x']);
    expect(readRecordsPath(body, '')).toBe(body);
    expect(readRecordsPath(body, 'data.missing')).toBeUndefined();
    expect(readRecordsPath(body, 'results[3].rows')).toBeUndefined();
  });
});

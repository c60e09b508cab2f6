import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { mysqlDialect } from '../../../shared/connectors/sources/mysql/source.ts';
import { postgresDialect } from '../../../shared/connectors/sources/postgres/source.ts';
import { keysetCount, keysetKeysAt, keysetSelect, splitKey } from '../../../shared/connectors/sql/keyset.ts';
import type { KeyTuple } from '../../../shared/domain/key-range.ts';

const cursor = [{ name: 'updated_at', kind: 'timestamp' as const }];
const key = [
  { name: 'tenant', kind: 'text' as const },
  { name: 'id', kind: 'integer' as const },
];
const base = { table: '"public"."items"', select: '*' as const, cursor, key };

describe('keysetSelect', () => {
  it('bounds a PostgreSQL page by row values after the start and up to the end, in cursor order', () => {
    const statement = keysetSelect(postgresDialect, {
      ...base,
      after: [{ values: ['2024-05-01T10:00:00.000Z'], key: 'acme#7' }],
      upTo: { values: ['2024-05-02T00:00:00.000Z'], key: 'zeta#1' },
      limit: 100,
    });
    expect(statement.text).toBe(
      'SELECT * FROM "public"."items" WHERE "updated_at" IS NOT NULL AND ("updated_at", "tenant", "id") > ($1, $2, $3) AND ("updated_at", "tenant", "id") <= ($4, $5, $6) ORDER BY "updated_at", "tenant", "id" LIMIT 100',
    );
    expect(statement.params).toEqual([
      '2024-05-01T10:00:00.000Z',
      'acme',
      '7',
      '2024-05-02T00:00:00.000Z',
      'zeta',
      '1',
    ]);
  });

  it('expands the comparison for MySQL and binds timestamps as UTC DATETIME literals', () => {
    const statement = keysetSelect(mysqlDialect, {
      ...base,
      table: '`db`.`items`',
      key: [key[1] as (typeof key)[number]],
      after: [{ values: ['2024-05-01T10:00:00.000250Z'], key: '7' }],
      upTo: null,
      limit: 10,
    });
    expect(statement.text).toBe(
      'SELECT * FROM `db`.`items` WHERE `updated_at` IS NOT NULL AND (`updated_at` > ? OR (`updated_at` = ? AND `id` > ?)) ORDER BY `updated_at`, `id` LIMIT 10',
    );
    expect(statement.params).toEqual(['2024-05-01 10:00:00.000250', '2024-05-01 10:00:00.000250', 7n]);
  });

  it('writes MySQL bounds of BIGINT and DECIMAL keys as exact unquoted literals, not strings compared as doubles', () => {
    const page = (kind: 'integer' | 'decimal', after: KeyTuple, upTo: KeyTuple) => {
      const statement = keysetSelect(mysqlDialect, {
        ...base,
        table: '`db`.`items`',
        cursor: [],
        key: [{ name: 'k', kind }],
        after: [],
        upTo: null,
        range: { after, upTo },
        orderBy: 'key',
      });
      return mysql.format(statement.text, statement.params as Parameters<typeof mysql.format>[1]);
    };
    expect(page('integer', ['9007199254740993'], ['18446744073709551615'])).toBe(
      'SELECT * FROM `db`.`items` WHERE `k` > 9007199254740993 AND `k` <= 18446744073709551615 ORDER BY `k`',
    );
    expect(page('decimal', ['9007199254740993.25'], [1e21])).toBe(
      'SELECT * FROM `db`.`items` WHERE `k` > 9007199254740993.25 AND `k` <= 1000000000000000000000 ORDER BY `k`',
    );
    expect(page('decimal', ["1' OR '1"], ['-0.5'])).toContain("`k` > '1\\' OR \\'1' AND `k` <= -0.5");
  });

  it('treats an empty key as below every key: at or after a moved-back start, before an end', () => {
    const statement = keysetSelect(postgresDialect, {
      ...base,
      after: [{ values: ['2024-05-01T09:59:00.000Z'], key: '' }],
      upTo: { values: ['2024-05-02T00:00:00.000Z'], key: '' },
    });
    expect(statement.text).toContain('"updated_at" >= $1 AND "updated_at" < $2');
  });

  it('restricts a page to its key range in key order, and counts a window up to a cap', () => {
    const page = keysetSelect(postgresDialect, {
      ...base,
      after: [],
      upTo: null,
      range: { after: ['acme', 7], upTo: ['zeta', 1] },
      orderBy: 'key',
      limit: 50,
    });
    expect(page.text).toBe(
      'SELECT * FROM "public"."items" WHERE "updated_at" IS NOT NULL AND ("tenant", "id") > ($1, $2) AND ("tenant", "id") <= ($3, $4) ORDER BY "tenant", "id" LIMIT 50',
    );
    expect(page.params).toEqual(['acme', 7, 'zeta', 1]);
    const count = keysetCount(postgresDialect, { ...base, after: [], upTo: null }, 400);
    expect(count.text).toBe(
      'SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM "public"."items" WHERE "updated_at" IS NOT NULL LIMIT 400) AS windowed',
    );
  });

  it('numbers the window in key order to pick the keys at the boundary positions', () => {
    const statement = keysetKeysAt(
      mysqlDialect,
      { ...base, table: '`db`.`items`', after: [], upTo: { values: ['2024-05-02T00:00:00.000Z'], key: '' } },
      [250, 500],
    );
    expect(statement.text).toBe(
      'SELECT `tenant`, `id` FROM (SELECT `tenant`, `id`, ROW_NUMBER() OVER (ORDER BY `tenant`, `id`) AS esync_position FROM `db`.`items` WHERE `updated_at` IS NOT NULL AND `updated_at` < ?) AS numbered WHERE esync_position IN (250, 500) ORDER BY esync_position',
    );
    expect(() => keysetKeysAt(mysqlDialect, { ...base, after: [], upTo: null }, [0])).toThrow(
      /not a row position: 0/,
    );
  });

  it('cuts and reads key ranges by code point where a key column is collated otherwise', () => {
    const tenant = { name: 'tenant', kind: 'text' as const, byCodePoint: '"tenant" COLLATE "C"' };
    const collated = { ...base, key: [tenant, key[1] as (typeof key)[number]], after: [], upTo: null };
    const page = keysetSelect(postgresDialect, {
      ...collated,
      range: { after: ['acme', 7], upTo: null },
      orderBy: 'key',
      limit: 50,
    });
    const numbered = keysetKeysAt(postgresDialect, collated, [10]);
    const incremental = keysetSelect(postgresDialect, { ...collated, limit: 50 });
    expect(page.text).toBe(
      'SELECT * FROM "public"."items" WHERE "updated_at" IS NOT NULL AND ("tenant" COLLATE "C", "id") > ($1, $2) ORDER BY "tenant" COLLATE "C", "id" LIMIT 50',
    );
    expect(numbered.text).toContain(
      'SELECT "tenant", "id", ROW_NUMBER() OVER (ORDER BY "tenant" COLLATE "C", "id")',
    );
    // Reads in cursor order compare with the database (its order is the cursor's tie-break).
    expect(incremental.text).toContain('ORDER BY "updated_at", "tenant", "id"');
  });

  it('reads a MySQL FLOAT key whole for boundaries and bounds it by the double its single widens to', () => {
    const single = { name: 'k', kind: 'single' as const, readAs: 'CAST(`k` AS DOUBLE)' };
    const query = { ...base, table: '`db`.`f`', cursor: [], key: [single], after: [], upTo: null };
    const numbered = keysetKeysAt(mysqlDialect, query, [10]);
    const page = keysetSelect(mysqlDialect, {
      ...query,
      range: { after: [0.1], upTo: null },
      orderBy: 'key',
    });
    expect(numbered.text).toContain('SELECT CAST(`k` AS DOUBLE) AS `k`, ROW_NUMBER() OVER (ORDER BY `k`)');
    expect(page.text).toContain('WHERE `k` > ? ORDER BY `k`');
    expect(page.params).toEqual([Math.fround(0.1)]);
  });

  it('refuses a key range bound whose width differs from the key', () => {
    expect(() =>
      keysetSelect(postgresDialect, { ...base, after: [], upTo: null, range: { after: [1], upTo: null } }),
    ).toThrow(/a key range bound with 1 value\(s\) cannot bound 2 key column\(s\) \(tenant, id\)/);
  });

  it('refuses a bound whose number of values does not match the cursor columns', () => {
    expect(() =>
      keysetSelect(postgresDialect, { ...base, after: [{ values: [1, 2], key: 'a#1' }], upTo: null }),
    ).toThrow(/a cursor with 2 value\(s\) cannot bound a read by 1 cursor column\(s\) \(updated_at\)/);
  });

  it('quotes identifiers so a name cannot break out of its quotes', () => {
    expect(postgresDialect.quote('we"ird')).toBe('"we""ird"');
    expect(mysqlDialect.quote('we`ird')).toBe('`we``ird`');
  });
});

describe('splitKey', () => {
  it('splits a composite key into its parts, the last part keeping any further #', () => {
    expect(splitKey('acme#7', 2)).toEqual(['acme', '7']);
    expect(splitKey('acme#a#b', 2)).toEqual(['acme', 'a#b']);
    expect(splitKey('x#y', 1)).toEqual(['x#y']);
    expect(() => splitKey('acme', 2)).toThrow(/fewer than 2 parts/);
  });
});

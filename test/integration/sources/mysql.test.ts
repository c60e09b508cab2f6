import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMysqlSource } from '../../../shared/connectors/sources/mysql/source.ts';
import type { SourceConnector } from '../../../shared/connectors/types.ts';
import { inKeyRange, type KeyRange } from '../../../shared/domain/key-range.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { type RunningServer, requireSystemServer, startMariaDb } from '../../support/system-servers.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { keysOf, misplacedKeys, readAll, readPages, readPlanned, sourceSetup } from './helpers.ts';

const T0 = '2024-05-01T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const sqlTime = (iso: string) => iso.replace('T', ' ').replace('Z', '');

describe.runIf(requireSystemServer('mariadb').available)('mysql source on Debian MariaDB', () => {
  let server: RunningServer;
  let admin: mysql.Connection;
  let proxy: FaultProxy;
  const sources: SourceConnector[] = [];

  const source = (overrides: Record<string, unknown> = {}, secret: Record<string, unknown> = {}) => {
    const { config, context } = sourceSetup(
      {
        type: 'mysql',
        connection: { secret: 'db', ssl: 'disable' },
        table: 'items',
        key: ['id'],
        cursor: ['updated_at'],
        pageSize: 4,
        ...overrides,
      },
      {
        secrets: {
          db: {
            host: '127.0.0.1',
            port: server.port,
            user: 'root',
            password: '',
            database: 'esync',
            ...secret,
          },
        },
      },
    );
    const created = createMysqlSource(config, context);
    sources.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startMariaDb();
    admin = await mysql.createConnection({
      host: '127.0.0.1',
      port: server.port,
      user: 'root',
      database: 'esync',
    });
    proxy = await startFaultProxy(server.port);
  });

  afterAll(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await proxy?.close();
    await admin?.end();
    await server?.stop();
  });

  beforeEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await admin.query('DROP TABLE IF EXISTS items');
    await admin.query(`CREATE TABLE items (
      id INT PRIMARY KEY,
      name VARCHAR(50) NOT NULL,
      updated_at DATETIME(6) NOT NULL,
      deleted TINYINT(1) NOT NULL DEFAULT 0,
      INDEX by_cursor (updated_at, id)
    )`);
    // Ten rows (ids 1-10) share one instant, more than two pages of 4.
    const rows = Array.from({ length: 20 }, (_, i) => [
      i + 1,
      `item ${i + 1}`,
      sqlTime(i < 10 ? T0 : at(i + 1)),
    ]);
    await admin.query('INSERT INTO items (id, name, updated_at) VALUES ?', [rows]);
  });

  it('discovers the columns, their types and the primary key from information_schema', async () => {
    const discovery = await source().discover();
    expect(discovery.fields).toEqual([
      { name: 'id', type: 'int(11)', nullable: false },
      { name: 'name', type: 'varchar(50)', nullable: false },
      { name: 'updated_at', type: 'datetime(6)', nullable: false },
      { name: 'deleted', type: 'tinyint(1)', nullable: false },
    ]);
    expect(discovery.primaryKey).toEqual(['id']);
    expect(discovery.capabilities).toEqual({ incremental: true, deletes: 'none', cdc: false });
  });

  it('reads every row in (cursor, key) order with DATETIME values as UTC ISO-8601', async () => {
    const reader = source();
    const to = await reader.currentHighWatermark();
    const pages = await readPages(reader, { from: null, to });
    expect(pages.every((p) => p.length > 0 && p.length <= 4)).toBe(true);
    expect(keysOf(pages.flat())).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(to).toEqual({ values: [at(20)], key: '20' });
    expect(pages[0]?.[0]).toEqual({
      data: { id: 1, name: 'item 1', updated_at: T0, deleted: 0 },
      deleted: false,
      cursor: { values: [T0], key: '1' },
      version: `t:${T0}|2|1`,
      ts: T0,
    });
  });

  it('reads rows sharing a cursor value across page boundaries exactly once, also when resumed', async () => {
    const reader = source();
    const window = { from: null, to: { values: [T0], key: '10' } };
    const first = await readPages(reader, window);
    const resumed = await readAll(reader, window, undefined, first[1]?.[0]?.cursor);
    expect(keysOf(first.flat())).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(keysOf(resumed)).toEqual(['6', '7', '8', '9', '10']);
  });

  it('moves only the rows changed after the first window on an incremental second pass', async () => {
    const reader = source();
    const first = await reader.currentHighWatermark();
    await readAll(reader, { from: null, to: first });
    await admin.query(`UPDATE items SET name = 'changed', updated_at = ? WHERE id IN (4, 12)`, [
      sqlTime(at(40)),
    ]);
    await admin.query(`INSERT INTO items (id, name, updated_at) VALUES (21, 'new', ?)`, [
      '2024-05-01 10:00:41.000250',
    ]);

    const second = await reader.currentHighWatermark();
    const rows = await readAll(reader, { from: first, to: second });

    expect(keysOf(rows)).toEqual(['4', '12', '21']);
    expect(rows[2]?.cursor.values).toEqual(['2024-05-01T10:00:41.000250Z']);
  });

  it('marks rows whose soft-delete flag is 1 as deleted', async () => {
    await admin.query('UPDATE items SET deleted = 1 WHERE id IN (5, 6)');
    const rows = await readAll(source({ deletes: { mode: 'soft', column: 'deleted' } }));
    expect(rows.filter((r) => r.deleted).map((r) => r.cursor.key)).toEqual(['5', '6']);
  });

  it('splits a window into key ranges, each read in key order, that together hold every row once', async () => {
    const reader = source();
    const window = { from: null, to: await reader.currentHighWatermark() };
    const partitions = await reader.planPartitions(window, 2);
    const perPartition = await Promise.all(partitions.map((p) => readAll(reader, window, p)));
    expect(partitions.map((p) => p.spec)).toEqual([
      { range: { after: null, upTo: [10], kinds: ['integer'] } },
      { range: { after: [10], upTo: null, kinds: ['integer'] } },
    ]);
    expect(perPartition.map(keysOf)).toEqual([
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'],
      ['11', '12', '13', '14', '15', '16', '17', '18', '19', '20'],
    ]);
  });

  it('cuts and reads key ranges by code point under a case-insensitive collation, as Verify places keys', async () => {
    // Prepare: utf8mb4_general_ci orders "apple" < "Banana" < "éclair" < "Fig"; code points
    // order "Banana" < "Fig" < "apple" < "éclair".
    const words = ['apple', 'Banana', 'cherry', 'Date', 'éclair', 'Fig', 'zebra', 'Zulu', '_x', '0'];
    const keys = words.flatMap((w) => [w, `${w}-2`, `${w}3`]);
    await admin.query('DROP TABLE IF EXISTS words');
    await admin.query(
      'CREATE TABLE words (word varchar(40) PRIMARY KEY, v int) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci',
    );
    await admin.query('INSERT INTO words (word, v) VALUES ?', [keys.map((k) => [k, 1])]);
    const reader = source({ table: 'words', key: ['word'], cursor: [] });
    const window = { from: null, to: null };

    // Act
    const partitions = await reader.planPartitions(window, 5);
    const perPartition = await Promise.all(
      partitions.map(async (p) => keysOf(await readAll(reader, window, p))),
    );

    // Assess: every key read lies in its partition's range as the key comparison sees it.
    expect(partitions).toHaveLength(5);
    expect(perPartition.flat().sort()).toEqual([...keys].sort());
    const misplaced = partitions.flatMap((p, i) =>
      (perPartition[i] ?? []).filter((k) => !inKeyRange([k], p.spec.range as KeyRange)),
    );
    expect(misplaced).toEqual([]);
  });

  it('cuts and reads key ranges by code point under a PAD SPACE _bin collation, trailing spaces and control characters included', async () => {
    // Prepare: utf8mb4_bin pads with spaces: "a" compares as "a " and so after "a\t" and
    // "a\u0001"; code points put "a" first, and "b " after "b".
    const keys = ['a', 'a\t', 'a\u0001', 'a!', 'a b', 'b ', 'b\t', 'c', 'c\u0002', 'e  ', 'd', 'd\u001f'];
    await admin.query('DROP TABLE IF EXISTS padded');
    await admin.query(
      'CREATE TABLE padded (k varchar(10) PRIMARY KEY, v int) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
    );
    await admin.query('INSERT INTO padded (k, v) VALUES ?', [keys.map((k) => [k, 1])]);
    const reader = source({ table: 'padded', key: ['k'], cursor: [], pageSize: 1 });
    const window = { from: null, to: null };

    // Act
    const partitions = await reader.planPartitions(window, 12);
    const perPartition = await Promise.all(
      partitions.map(async (p) => keysOf(await readAll(reader, window, p))),
    );

    // Assess: one key per range, each where the key comparison places it.
    expect(partitions).toHaveLength(12);
    expect(perPartition.flat().sort()).toEqual([...keys].sort());
    expect(misplacedKeys(partitions, perPartition)).toEqual([]);
  });

  it('cuts and reads key ranges of an enum key by its labels, not its declaration order', async () => {
    // Prepare: declared sad < ok < happy < Zen; their labels order "Zen" < "happy" < "ok" < "sad".
    await admin.query('DROP TABLE IF EXISTS moods');
    await admin.query(
      "CREATE TABLE moods (m enum('sad', 'ok', 'happy', 'Zen') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, n int, PRIMARY KEY (m, n))",
    );
    const moods = ['sad', 'ok', 'happy', 'Zen'];
    await admin.query('INSERT INTO moods (m, n) VALUES ?', [
      moods.flatMap((m) => [1, 2, 3].map((n) => [m, n])),
    ]);
    const reader = source({ table: 'moods', key: ['m', 'n'], cursor: [], pageSize: 2 });
    const window = { from: null, to: null };

    // Act
    const partitions = await reader.planPartitions(window, 6);
    const perPartition = await Promise.all(
      partitions.map(async (p) => keysOf(await readAll(reader, window, p))),
    );

    // Assess
    expect(partitions).toHaveLength(6);
    expect(new Set(perPartition.flat()).size).toBe(12);
    expect(perPartition.flat()).toHaveLength(12);
    expect(misplacedKeys(partitions, perPartition, 2)).toEqual([]);
    expect(perPartition[0]?.[0]).toBe('Zen#1');
  });

  /** `n` consecutive microseconds-apart DATETIME texts from `start` (mixed precision: some whole). */
  const datetimes = (start: string, n: number, stepMicros: number) =>
    Array.from({ length: n }, (_, i) => {
      const micros = BigInt(Date.parse(start)) * 1000n + BigInt(i * stepMicros);
      const whole = new Date(Number(micros / 1_000_000n) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      return `${whole}.${String(micros % 1_000_000n).padStart(6, '0')}`;
    });

  /** Keys of each type a key range compares by value: beyond 2^53, mixed scales and precisions, skewed. */
  const TYPED_KEYS: Record<string, { type: string; keys: (string | Buffer)[] }> = {
    decimal: {
      type: 'DECIMAL(30, 6)',
      keys: [
        ...Array.from({ length: 60 }, (_, i) => `9007199254740993.${String(i).padStart(6, '0')}`),
        ...Array.from({ length: 40 }, (_, i) => (i % 2 ? (i / 8).toFixed(3) : (-i / 7).toFixed(6))),
        '123456789012345678901234.5',
        '1.5',
      ],
    },
    bigint: {
      type: 'BIGINT',
      keys: [
        ...Array.from({ length: 100 }, (_, i) => String(9007199254740990n + BigInt(i))),
        '-9223372036854775808',
        '9223372036854775807',
        '7',
      ],
    },
    'bigint unsigned': {
      type: 'BIGINT UNSIGNED',
      keys: [...Array.from({ length: 100 }, (_, i) => String(18446744073709551515n + BigInt(i))), '0', '9'],
    },
    datetime: {
      type: 'DATETIME(6)',
      keys: [
        ...datetimes('2026-01-01T00:00:00Z', 100, 100_123),
        '1000-01-01 00:00:00',
        '9999-12-31 23:59:59.999999',
      ],
    },
    timestamp: {
      type: 'TIMESTAMP(6)',
      keys: [
        ...datetimes('2026-01-01T00:00:00Z', 100, 499_900),
        '1970-01-02 00:00:00',
        '2038-01-01 00:00:00.5',
      ],
    },
    date: {
      type: 'DATE',
      keys: [
        ...Array.from({ length: 100 }, (_, i) =>
          new Date(Date.UTC(2026, 0, 1 + ((i * i) % 3000) - 1500)).toISOString().slice(0, 10),
        ),
        '1000-01-01',
        '9999-12-31',
      ],
    },
    double: {
      type: 'DOUBLE',
      keys: [
        ...Array.from({ length: 100 }, (_, i) =>
          String(i % 10 === 0 ? i * 1e300 : i % 7 === 0 ? -i * 1e-310 : i % 3 === 0 ? -i / 7 : i / 1000),
        ),
        '0.1',
        '0.3',
        '0.30000000000000004',
        '123456789012345678',
        '1e-7',
        '5e-324',
        '1.7976931348623157e308',
      ],
    },
    float: {
      type: 'FLOAT',
      keys: [
        ...Array.from({ length: 100 }, (_, i) =>
          String(i % 10 === 0 ? i * 1e36 : i % 7 === 0 ? -i * 1e-40 : i % 3 === 0 ? -i / 7 : i / 1000),
        ),
        '0.1',
        '16777217',
        '16777218',
        '123456.7',
        '3.4028234e38',
        '-3.4028234e38',
        '1e-45',
      ],
    },
    varbinary: {
      type: 'VARBINARY(8)',
      keys: [
        ...Array.from({ length: 100 }, (_, i) =>
          Buffer.from(((i * 2654435761) % 4294967296).toString(16).padStart(8, '0'), 'hex').subarray(
            0,
            (i % 4) + 1,
          ),
        ),
        ...['00', '0000', '61', '6100', '6120', 'ff', 'ffff'].map((hex) => Buffer.from(hex, 'hex')),
      ],
    },
  };

  for (const [name, { type, keys }] of Object.entries(TYPED_KEYS))
    it(`cuts a table keyed by ${name} into key ranges that read each row once, where Verify places its key`, async () => {
      // Prepare
      const table = `keyed_${name.replace(' ', '_')}`;
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.query(`CREATE TABLE ${table} (k ${type} PRIMARY KEY, v int)`);
      await admin.query(`INSERT IGNORE INTO ${table} (k, v) VALUES ?`, [keys.map((k) => [k, 1])]);
      const [[count]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${table}`)) as unknown as [
        [{ n: number }],
      ];
      const reader = source({ table, key: ['k'], cursor: [], pageSize: 10 });

      // Act
      const { partitions, perPartition } = await readPlanned(reader, 5);
      const whole = keysOf(await readAll(reader));

      // Assess: five ranges, every row read once, each in the range the key comparison places it in.
      expect(new Set(whole).size).toBe(Number(count.n));
      expect(whole).toHaveLength(Number(count.n));
      expect(partitions).toHaveLength(5);
      expect(perPartition.flat()).toHaveLength(Number(count.n));
      expect(new Set(perPartition.flat()).size).toBe(Number(count.n));
      expect(perPartition.every((k) => k.length >= 10)).toBe(true);
      expect(misplacedKeys(partitions, perPartition)).toEqual([]);
    });

  it('reads single-precision FLOAT keys as stored, so rows MariaDB prints alike stay apart and pages read each once', async () => {
    // Prepare: MariaDB prints FLOAT to six digits: 16777216 and 16777218 both as 16777200, and
    // 0.1 as 0.1 while it stores 0.100000001490116, which a page bound of 0.1 stays below.
    const stored = [
      0.1,
      -0.1,
      1 / 3,
      16777217,
      16777218,
      123456.7,
      3.4e38,
      -3.4e38,
      1.17549435e-38,
      1e-45,
      2.5,
    ];
    await admin.query('DROP TABLE IF EXISTS keyed_single');
    await admin.query('CREATE TABLE keyed_single (k FLOAT PRIMARY KEY, v int)');
    await admin.query('INSERT INTO keyed_single (k, v) VALUES ?', [stored.map((k, i) => [k, i])]);
    const reader = source({ table: 'keyed_single', key: ['k'], cursor: [], pageSize: 1 });

    // Act
    const rows = await readAll(reader);

    // Assess: each key is the shortest number that reads back as the stored single.
    const expected = stored
      .map((k) => Math.fround(k))
      .sort((a, b) => a - b)
      .map((k) =>
        [1, 2, 3, 4, 5, 6, 7, 8, 9].map((p) => Number(k.toPrecision(p))).find((n) => Math.fround(n) === k),
      );
    expect(keysOf(rows)).toEqual(expected.map(String));
    expect(rows.map((r) => r.data.k)).toEqual(expected);
    expect(expected.slice(0, 3)).toEqual([-3.4e38, -0.1, 1e-45]);
  });

  it('pages a composite key mixing FLOAT, DOUBLE and DECIMAL columns one row at a time, and cuts it into ranges, reading each row once', async () => {
    // Prepare
    await admin.query('DROP TABLE IF EXISTS keyed_mixed');
    await admin.query(
      'CREATE TABLE keyed_mixed (f FLOAT, d DOUBLE, n DECIMAL(12, 4), v int, PRIMARY KEY (f, d, n))',
    );
    const rows = Array.from({ length: 60 }, (_, i) => [
      [0.1, 16777217, -1 / 3][i % 3],
      [0.3, 0.1 + 0.2, 1e-7, -5e-324][i % 4],
      ((i * 7) % 11) / 8,
      i,
    ]);
    await admin.query('INSERT IGNORE INTO keyed_mixed (f, d, n, v) VALUES ?', [rows]);
    const [[count]] = (await admin.query('SELECT COUNT(*) AS n FROM keyed_mixed')) as unknown as [
      [{ n: number }],
    ];
    const reader = source({ table: 'keyed_mixed', key: ['f', 'd', 'n'], cursor: [], pageSize: 2 });

    // Act
    const whole = keysOf(await readAll(reader));
    const { partitions, perPartition } = await readPlanned(reader, 4);

    // Assess
    expect(whole).toHaveLength(Number(count.n));
    expect(new Set(whole).size).toBe(Number(count.n));
    expect(partitions).toHaveLength(4);
    expect(perPartition.flat().sort()).toEqual([...whole].sort());
    expect(misplacedKeys(partitions, perPartition, 3)).toEqual([]);
  });

  it('retries a page when the connection is cut in the middle of a read', async () => {
    const reader = source({}, { port: proxy.port });
    const keys: string[] = [];
    let pages = 0;
    const before = proxy.injected;
    for await (const page of reader.read({ from: null, to: null }, { id: 'all', spec: {} })) {
      keys.push(...keysOf(page));
      if (++pages === 1) proxy.failNext(1);
    }
    expect(proxy.injected).toBe(before + 1);
    expect(keys).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  });

  it('names the missing table and the missing key column in a connector error', async () => {
    await expect(source({ table: 'nothere' }).discover()).rejects.toThrow(
      /table "esync\.nothere".*no such table/,
    );
    await expect(source({ key: ['uuid'] }).discover()).rejects.toThrow(/no column "uuid" \(key\)/);
  });

  it('reports a wrong password as access denied without showing it', async () => {
    await admin.query(`CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'right-password'`);
    const error = await source({}, { user: 'reader', password: 'wrong-password' })
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(
      /MySQL at reader@127\.0\.0\.1:\d+\/esync: access denied for user "reader"/,
    );
    expect((error as Error).message).not.toContain('wrong-password');
  });

  it('reports an unreachable server by host and port', async () => {
    const closed = await startFaultProxy(1);
    const port = closed.port;
    await closed.close();
    const error = await source({}, { port })
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}/esync: cannot connect (ECONNREFUSED)`);
  });
});

import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { createPostgresSource } from '../../../shared/connectors/sources/postgres/source.ts';
import { inKeyRange, type KeyRange } from '../../../shared/domain/key-range.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { requireSystemServer, startPostgres } from '../../support/system-servers.ts';
import { keysOf, misplacedKeys, readAll, readPlanned, sourceSetup } from './helpers.ts';
import { postgresSourceContract } from './postgres-contract.ts';

describe.runIf(requireSystemServer('postgresql').available)('postgres source on Debian PostgreSQL', () => {
  const { server, admin } = postgresSourceContract(async () => {
    const pg = await startPostgres();
    return { port: pg.port, user: pg.user, database: pg.database, poolSize: 4, stop: () => pg.stop() };
  });

  const sourceAs = (user: string, overrides: Record<string, unknown> = {}) => {
    const { config, context } = sourceSetup(
      {
        type: 'postgres',
        connection: { secret: 'db', ssl: 'disable' },
        table: 'items',
        key: ['id'],
        cursor: ['updated_at'],
        ...overrides,
      },
      { secrets: { db: { url: `postgres://${user}:pw@127.0.0.1:${server().port}/${server().database}` } } },
    );
    return createPostgresSource(config, context);
  };

  /** The scan nodes of the plan PostgreSQL makes for a statement: node type and index used. */
  async function scansOf(text: string, params: unknown[]): Promise<string[]> {
    const { rows } = await admin().query(`EXPLAIN (FORMAT JSON) ${text}`, params);
    const scans: string[] = [];
    const walk = (node: Record<string, unknown>) => {
      const type = String(node['Node Type']);
      if (type.endsWith('Scan')) scans.push(`${type}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((rows[0]['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]?.Plan ?? {});
    return scans;
  }

  /** The statement a source sends for the first page of its second key range (of four). */
  async function rangePageStatement(
    table: string,
    key: string,
  ): Promise<{ text: string; values: unknown[] }> {
    const reader = sourceAs('esync', { table, key: [key], cursor: [], pageSize: 100 });
    const window = { from: null, to: null };
    const [, second] = await reader.planPartitions(window, 4);
    const sent: { text: string; values: unknown[] }[] = [];
    const spy = vi.spyOn(pg.Pool.prototype, 'query').mockImplementation(function (
      this: pg.Pool,
      ...args: unknown[]
    ) {
      sent.push({ text: String(args[0]), values: (args[1] as unknown[]) ?? [] });
      spy.mockRestore();
      return (pg.Pool.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    for await (const _ of reader.read(window, second as NonNullable<typeof second>)) break;
    spy.mockRestore();
    await reader.close();
    if (!sent[0]) throw new Error(`no statement was sent to read ${table}`);
    return sent[0];
  }

  it('cuts and reads key ranges by code point under a linguistic collation, as Verify places keys', async () => {
    // Prepare: ICU orders "apple" < "Banana" < "éclair"; code points order "Banana" < "apple" < "éclair".
    const words = ['apple', 'Apple', 'banana', 'Banana', 'éclair', 'Eclair', 'zebra', 'Zebra', '0', '_x'];
    const keys = [...new Set(words.flatMap((w) => [w, `${w}-2`, `${w.toUpperCase()}3`]))];
    await admin().query('DROP TABLE IF EXISTS words');
    await admin().query('CREATE TABLE words (word text COLLATE "und-x-icu" PRIMARY KEY, v int)');
    await admin().query('INSERT INTO words SELECT w, 1 FROM unnest($1::text[]) AS w', [keys]);
    const reader = sourceAs('esync', { table: 'words', key: ['word'], cursor: [], pageSize: 4 });
    const window = { from: null, to: null };

    // Act
    const partitions = await reader.planPartitions(window, 5);
    const perPartition = await Promise.all(
      partitions.map(async (p) => keysOf(await readAll(reader, window, p))),
    );
    await reader.close();

    // Assess: every key read lies in its partition's range as the key comparison sees it.
    expect(partitions).toHaveLength(5);
    expect(perPartition.flat().sort()).toEqual(keys.sort());
    const misplaced = partitions.flatMap((p, i) =>
      (perPartition[i] ?? []).filter((k) => !inKeyRange([k], p.spec.range as KeyRange)),
    );
    expect(misplaced).toEqual([]);
  });

  it('cuts and reads key ranges of an enum key by its labels, not its declaration order', async () => {
    // Prepare: declared sad < ok < happy < Zen; their labels order "Zen" < "happy" < "ok" < "sad".
    await admin().query('DROP TABLE IF EXISTS moods; DROP TYPE IF EXISTS mood');
    await admin().query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'Zen')`);
    await admin().query('CREATE TABLE moods (m mood, n int, PRIMARY KEY (m, n))');
    await admin().query(
      `INSERT INTO moods SELECT m, n FROM unnest(enum_range(NULL::mood)) AS m, generate_series(1, 3) AS n`,
    );
    const reader = sourceAs('esync', { table: 'moods', key: ['m', 'n'], cursor: [], pageSize: 2 });
    const window = { from: null, to: null };

    // Act
    const partitions = await reader.planPartitions(window, 6);
    const perPartition = await Promise.all(
      partitions.map(async (p) => keysOf(await readAll(reader, window, p))),
    );
    await reader.close();

    // Assess: six ranges, each key read once and in the range the key comparison places it in.
    expect(partitions).toHaveLength(6);
    expect(perPartition.flat()).toHaveLength(12);
    expect(new Set(perPartition.flat()).size).toBe(12);
    expect(misplacedKeys(partitions, perPartition, 2)).toEqual([]);
    expect(perPartition[0]?.[0]).toBe('Zen#1');
  });

  /** Rows keyed by each type a key range compares by value: a mix of scales, precisions, zones and specials. */
  const TYPED_KEYS: Record<string, { type: string; values: string }> = {
    numeric: {
      type: 'numeric',
      values: `SELECT CASE WHEN i % 10 = 0 THEN i * 1e20 WHEN i % 3 = 0 THEN -i / 7.0 ELSE i / 1000.0 END
               FROM generate_series(1, 117) AS i
               UNION ALL VALUES ('NaN'::numeric), ('Infinity'), ('-Infinity'), (1.5), (9007199254740993.25)`,
    },
    bigint: {
      type: 'bigint',
      values: `SELECT 9007199254740900 + i * 3 FROM generate_series(1, 117) AS i
               UNION ALL VALUES (-9223372036854775808), (9223372036854775807), (0), (9007199254740993)`,
    },
    timestamp: {
      type: 'timestamp',
      values: `SELECT '2026-01-01'::timestamp + i * interval '0.100123 second' FROM generate_series(0, 116) AS i
               UNION ALL VALUES ('infinity'::timestamp), ('-infinity'), ('0044-03-15 12:00:00 BC'), ('10000-01-01 00:00:00')`,
    },
    timestamptz: {
      type: 'timestamptz',
      values: `SELECT ('2026-01-01 00:00:00' || CASE i % 3 WHEN 0 THEN '+05:30' WHEN 1 THEN '-08' ELSE 'Z' END)::timestamptz
                      + i * interval '0.4999 second' FROM generate_series(0, 116) AS i
               UNION ALL VALUES ('infinity'::timestamptz), ('-infinity'), ('2026-01-01 00:00:00.5+00')`,
    },
    date: {
      type: 'date',
      values: `SELECT '2026-01-01'::date + (i * i) % 5000 - 2500 FROM generate_series(1, 117) AS i
               UNION ALL VALUES ('infinity'::date), ('-infinity'), ('0044-03-15 BC'), ('10000-01-01')`,
    },
    double: {
      type: 'double precision',
      values: `SELECT CASE WHEN i % 10 = 0 THEN i * 1e300 WHEN i % 7 = 0 THEN -i * 1e-310
                          WHEN i % 3 = 0 THEN -i / 7.0 ELSE i / 1000.0 END::float8
               FROM generate_series(1, 117) AS i
               UNION ALL VALUES ('NaN'::float8), ('Infinity'), ('-Infinity'), (0.1), (0.3), (0.30000000000000004),
                                (1e15), (1e-7), ('5e-324'), ('1.7976931348623157e308'), (0)`,
    },
    real: {
      type: 'real',
      values: `SELECT (CASE WHEN i % 10 = 0 THEN i * 1e30 WHEN i % 3 = 0 THEN -i / 7.0 ELSE i / 1000.0 END)::real
               FROM generate_series(1, 117) AS i
               UNION ALL VALUES ('NaN'::real), ('Infinity'), ('-Infinity'), (16777217), (3.4e38), ('1e-45')`,
    },
    bytea: {
      type: 'bytea',
      values: `SELECT substring(decode(lpad(to_hex((i * 2654435761) % 4294967296), 8, '0'), 'hex') FROM 1 FOR i % 4 + 1)
               FROM generate_series(1, 117) AS i
               UNION ALL VALUES ('\\x00'::bytea), ('\\x0000'), ('\\x61'), ('\\x6100'), ('\\x6120'), ('\\xff'), ('\\xffff')`,
    },
  };

  for (const [name, { type, values }] of Object.entries(TYPED_KEYS))
    it(`cuts a table keyed by ${name} into key ranges that read each row once, where Verify places its key`, async () => {
      // Prepare
      const table = `keyed_${name}`;
      await admin().query(`DROP TABLE IF EXISTS ${table}`);
      await admin().query(`CREATE TABLE ${table} (k ${type} PRIMARY KEY, v int)`);
      await admin().query(`INSERT INTO ${table} (k, v) SELECT DISTINCT k, 1 FROM (${values}) AS t (k)`);
      const { rows } = await admin().query(`SELECT count(*)::int AS n FROM ${table}`);
      const reader = sourceAs('esync', { table, key: ['k'], cursor: [], pageSize: 10 });

      // Act
      const { partitions, perPartition } = await readPlanned(reader, 5);
      const whole = keysOf(await readAll(reader));
      await reader.close();

      // Assess: five ranges, every row read once, each in the range the key comparison places it in.
      expect(whole).toHaveLength(rows[0].n);
      expect(new Set(whole).size).toBe(rows[0].n);
      expect(partitions).toHaveLength(5);
      expect(perPartition.flat()).toHaveLength(rows[0].n);
      expect(new Set(perPartition.flat()).size).toBe(rows[0].n);
      expect(perPartition.every((keys) => keys.length >= 10)).toBe(true);
      expect(misplacedKeys(partitions, perPartition)).toEqual([]);
    });

  it('cuts a table keyed by text read out of a jsonb column (a generated column, and a view) into text ranges that read each row once', async () => {
    // Prepare: ids that read as numbers too, which text ranges must still order by code point.
    await admin().query('DROP VIEW IF EXISTS docs_view');
    await admin().query('DROP TABLE IF EXISTS docs');
    await admin().query(
      `CREATE TABLE docs (doc jsonb NOT NULL, id text GENERATED ALWAYS AS (doc->>'id') STORED PRIMARY KEY)`,
    );
    await admin().query(`INSERT INTO docs (doc)
      SELECT jsonb_build_object('id', CASE WHEN i % 2 = 0 THEN (i * 37)::text ELSE 'k' || i END, 'n', i)
      FROM generate_series(1, 60) AS i`);
    await admin().query(`CREATE VIEW docs_view AS SELECT doc->>'id' AS id, doc FROM docs`);

    for (const table of ['docs', 'docs_view']) {
      const reader = sourceAs('esync', { table, key: ['id'], cursor: [], pageSize: 5 });

      // Act
      const { partitions, perPartition } = await readPlanned(reader, 4);
      await reader.close();

      // Assess
      expect(partitions.map((p) => (p.spec.range as KeyRange).kinds)).toEqual([
        ['text'],
        ['text'],
        ['text'],
        ['text'],
      ]);
      expect(perPartition.map((keys) => keys.length)).toEqual([15, 15, 15, 15]);
      expect(new Set(perPartition.flat()).size).toBe(60);
      expect(misplacedKeys(partitions, perPartition)).toEqual([]);
    }
  });

  it('pages a composite key mixing real, double precision and numeric columns two rows at a time, and cuts it into ranges, reading each row once', async () => {
    // Prepare
    await admin().query('DROP TABLE IF EXISTS keyed_mixed');
    await admin().query(
      'CREATE TABLE keyed_mixed (f real, d double precision, n numeric, v int, PRIMARY KEY (f, d, n))',
    );
    await admin().query(`INSERT INTO keyed_mixed (f, d, n, v)
      SELECT DISTINCT (ARRAY[0.1, 16777217, -1 / 3.0, 'NaN'])[i % 4 + 1]::real,
             (ARRAY[0.3, 0.1 + 0.2::float8, 1e-7, '-Infinity'])[i / 4 % 4 + 1]::float8,
             (i * 7 % 11) / 8.0, 1
      FROM generate_series(0, 79) AS i`);
    const { rows } = await admin().query('SELECT count(*)::int AS n FROM keyed_mixed');
    const reader = sourceAs('esync', { table: 'keyed_mixed', key: ['f', 'd', 'n'], cursor: [], pageSize: 2 });

    // Act
    const whole = keysOf(await readAll(reader));
    const { partitions, perPartition } = await readPlanned(reader, 4);
    await reader.close();

    // Assess
    expect(whole).toHaveLength(rows[0].n);
    expect(new Set(whole).size).toBe(rows[0].n);
    expect(partitions).toHaveLength(4);
    expect(perPartition.flat().sort()).toEqual([...whole].sort());
    expect(misplacedKeys(partitions, perPartition, 3)).toEqual([]);
  });

  it('reads a timestamp key with a time zone in another session zone as one partition when its BC values print with an offset', async () => {
    // Prepare: a database whose zone prints the BC value with a local mean time offset.
    await admin().query('DROP TABLE IF EXISTS zoned');
    await admin().query('CREATE TABLE zoned (at timestamptz PRIMARY KEY, v int)');
    await admin().query(
      `INSERT INTO zoned SELECT '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 second', i FROM generate_series(1, 40) AS i
       UNION ALL VALUES ('0044-03-15 12:00:00+00 BC'::timestamptz, 0)`,
    );
    await admin().query(`ALTER ROLE esync SET TimeZone = 'America/New_York'`);
    const reader = sourceAs('esync', { table: 'zoned', key: ['at'], cursor: [], pageSize: 5 });

    // Act
    const { partitions, perPartition } = await readPlanned(reader, 4).finally(async () => {
      await reader.close();
      await admin().query('ALTER ROLE esync RESET TimeZone');
    });

    // Assess
    expect(partitions).toEqual([{ id: 'all', spec: {} }]);
    expect(perPartition[0]).toHaveLength(41);
  });

  it('reads a key range by an index range scan, for a linguistic text key once it has an index in code point order', async () => {
    // Prepare: 20,000 rows keyed by integer, and by text under ICU (whose own index cannot serve
    // code point order: the README tells to add one in that order).
    await admin().query('DROP TABLE IF EXISTS big_ids, big_words');
    await admin().query('CREATE TABLE big_ids (id int PRIMARY KEY, v int)');
    await admin().query('INSERT INTO big_ids SELECT i, i FROM generate_series(1, 20000) AS i');
    await admin().query('CREATE TABLE big_words (word text COLLATE "und-x-icu" PRIMARY KEY, v int)');
    await admin().query(
      `INSERT INTO big_words SELECT CASE WHEN i % 2 = 0 THEN 'w' ELSE 'W' END || lpad(i::text, 6, '0'), i FROM generate_series(1, 20000) AS i`,
    );
    await admin().query('ANALYZE big_ids, big_words');

    // Act
    const byId = await rangePageStatement('big_ids', 'id');
    const byWord = await rangePageStatement('big_words', 'word');
    const withoutIndex = await scansOf(byWord.text, byWord.values);
    await admin().query('CREATE INDEX big_words_c ON big_words (word COLLATE "C")');
    await admin().query('ANALYZE big_words');

    // Assess
    expect(byId.text).toMatch(/WHERE "id" > \$1 AND "id" <= \$2 ORDER BY "id" LIMIT 100/);
    expect(await scansOf(byId.text, byId.values)).toEqual(['Index Scan big_ids_pkey']);
    expect(byWord.text).toContain('ORDER BY "word" COLLATE "C" LIMIT 100');
    expect(withoutIndex).toEqual(['Seq Scan']);
    expect(await scansOf(byWord.text, byWord.values)).toEqual(['Index Scan big_words_c']);
  });

  it('reads a key range of a timestamp, numeric, date, double or bytea key by an index range scan of its primary key', async () => {
    // Prepare: 20,000 rows keyed by each.
    await admin().query('DROP TABLE IF EXISTS big_times, big_amounts, big_days, big_ratios, big_hashes');
    await admin().query('CREATE TABLE big_times (at timestamptz PRIMARY KEY, v int)');
    await admin().query(
      `INSERT INTO big_times SELECT '2026-01-01Z'::timestamptz + i * interval '1.000001 second', i FROM generate_series(1, 20000) AS i`,
    );
    await admin().query('CREATE TABLE big_amounts (amount numeric(20, 4) PRIMARY KEY, v int)');
    await admin().query('INSERT INTO big_amounts SELECT i / 3.0, i FROM generate_series(1, 20000) AS i');
    await admin().query('CREATE TABLE big_days (day date PRIMARY KEY, v int)');
    await admin().query(
      `INSERT INTO big_days SELECT '1970-01-01'::date + i, i FROM generate_series(1, 20000) AS i`,
    );
    await admin().query('CREATE TABLE big_ratios (ratio double precision PRIMARY KEY, v int)');
    await admin().query('INSERT INTO big_ratios SELECT i / 7.0, i FROM generate_series(1, 20000) AS i');
    await admin().query('CREATE TABLE big_hashes (hash bytea PRIMARY KEY, v int)');
    await admin().query(
      `INSERT INTO big_hashes SELECT sha256(int4send(i)), i FROM generate_series(1, 20000) AS i`,
    );
    await admin().query('ANALYZE big_times, big_amounts, big_days, big_ratios, big_hashes');

    // Act
    const byTime = await rangePageStatement('big_times', 'at');
    const byAmount = await rangePageStatement('big_amounts', 'amount');
    const byDay = await rangePageStatement('big_days', 'day');
    const byRatio = await rangePageStatement('big_ratios', 'ratio');
    const byHash = await rangePageStatement('big_hashes', 'hash');

    // Assess
    expect(byTime.text).toMatch(/WHERE "at" > \$1 AND "at" <= \$2 ORDER BY "at" LIMIT 100/);
    expect(await scansOf(byTime.text, byTime.values)).toEqual(['Index Scan big_times_pkey']);
    expect(await scansOf(byAmount.text, byAmount.values)).toEqual(['Index Scan big_amounts_pkey']);
    expect(await scansOf(byDay.text, byDay.values)).toEqual(['Index Scan big_days_pkey']);
    expect(await scansOf(byRatio.text, byRatio.values)).toEqual(['Index Scan big_ratios_pkey']);
    expect(byHash.values.every((v) => Buffer.isBuffer(v))).toBe(true);
    expect(await scansOf(byHash.text, byHash.values)).toEqual(['Index Scan big_hashes_pkey']);
  });

  it('reports a user the server does not know as an authentication failure', async () => {
    const reader = sourceAs('nobody');
    const error = await reader.discover().catch((e: unknown) => e);
    await reader.close();
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(/authentication failed for user "nobody"/);
  });

  it('reports a user without privilege on the table as permission denied', async () => {
    await admin().query('DROP ROLE IF EXISTS reader');
    await admin().query('CREATE ROLE reader LOGIN');
    const reader = sourceAs('reader');
    const error = await reader.currentHighWatermark().catch((e: unknown) => e);
    await reader.close();
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(
      /table "public\.items" in PostgreSQL at reader@127\.0\.0\.1:\d+\/postgres: permission denied/,
    );
  });

  it('refuses TLS settings the server cannot meet with a hint', async () => {
    const { config, context } = sourceSetup(
      { type: 'postgres', connection: { secret: 'db' }, table: 'items', key: ['id'] },
      { secrets: { db: { host: '127.0.0.1', port: server().port, user: 'esync', database: 'postgres' } } },
    );
    const reader = createPostgresSource(config, context);
    const error = await reader.discover().catch((e: unknown) => e);
    await reader.close();
    expect((error as Error).message).toMatch(/does not accept TLS; set connection.ssl to disable/);
  });
});

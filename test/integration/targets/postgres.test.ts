import { createServer, type Server, Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresTarget } from '../../../shared/connectors/targets/postgres/postgres-target.ts';
import type { TargetConnector, TargetWrite } from '../../../shared/connectors/types.ts';
import {
  compareKeyTuples,
  inKeyRange,
  type KeyKind,
  type KeyRange,
  type KeyTuple,
  rangesFromBoundaries,
} from '../../../shared/domain/key-range.ts';
import { ConfigError, ConnectorError, TransientError, ValidationError } from '../../../shared/errors.ts';
import type { PipelineInput } from '../../../shared/pipeline/schema.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { freePort, requireSystemServer, startPostgres } from '../../support/system-servers.ts';
import { collect, localClients, remove, targetContext, upsert } from './support.ts';

interface Database {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  stop(): Promise<void>;
}

const clients = localClients({
  sqs: 'http://127.0.0.1:1',
  dynamodb: 'http://127.0.0.1:1',
  s3: 'http://127.0.0.1:1',
});

type PostgresTargetInput = Extract<PipelineInput['target'], { type: 'postgres' }>;

function makeTarget(
  db: { host: string; port: number; user: string; database: string },
  target: Partial<PostgresTargetInput>,
  secret?: Record<string, unknown>,
): TargetConnector {
  const config = {
    type: 'postgres',
    connection: { secret: 'pg-target', ssl: 'disable' },
    table: 'users',
    ...target,
  } as const;
  const context = targetContext(config, clients, {
    secrets: {
      'pg-target': secret ?? {
        host: db.host,
        port: db.port,
        user: db.user,
        password: 'unused',
        database: db.database,
      },
    },
  });
  return createPostgresTarget(context.pipeline.target as Parameters<typeof createPostgresTarget>[0], context);
}

/** Runs `sql` on its own connection, as someone other than ESync would. */
async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  db: Database,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, database: db.database });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function startDebianPostgres(): Promise<Database> {
  const server = await startPostgres();
  return {
    host: '127.0.0.1',
    port: server.port,
    user: server.user,
    database: server.database,
    stop: () => server.stop(),
  };
}

async function startPglite(): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** A columns-mode target of `accounts`, keyed by (org, id). */
function compositeTarget(db: {
  host: string;
  port: number;
  user: string;
  database: string;
}): TargetConnector {
  const config = {
    type: 'postgres',
    connection: { secret: 's', ssl: 'disable' },
    schema: 'public',
    table: 'accounts',
    mode: 'columns',
  } as const;
  const context = targetContext(config, clients, {
    secrets: { s: { host: db.host, port: db.port, user: db.user, database: db.database } },
  });
  const pipeline = { ...context.pipeline, source: { ...context.pipeline.source, key: ['org', 'id'] } };
  return createPostgresTarget(config, { ...context, pipeline });
}

/** The behaviour every PostgreSQL server must show, run against each engine below. */
function targetSuite(start: () => Promise<Database>) {
  let db: Database;
  let opened: TargetConnector[] = [];
  const target = (config: Partial<PostgresTargetInput> = {}, secret?: Record<string, unknown>) => {
    const t = makeTarget(db, config, secret);
    opened.push(t);
    return t;
  };

  beforeAll(async () => {
    db = await start();
  }, 60_000);

  afterAll(async () => {
    await db?.stop();
  });

  beforeEach(async () => {
    for (const t of opened) await t.close();
    opened = [];
    await sql(db, 'DROP TABLE IF EXISTS users, accounts');
  });

  it('creates its jsonb table on discover and reports the key', async () => {
    // Act
    const first = await target({ mode: 'jsonb' }).discover();
    const second = await target({ mode: 'jsonb' }).discover();

    // Assess
    expect(first).toMatchObject({ exists: true, detail: expect.stringContaining('mode jsonb, key (key)') });
    expect(second.exists).toBe(true);
    const columns = await sql<{ column_name: string }>(
      db,
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => c.column_name)).toEqual(['key', 'data', '_v', '_h', '_d']);
  });

  it('upserts a batch in jsonb mode and reads its state back', async () => {
    // Prepare
    const t = target({ mode: 'jsonb' });
    const writes = Array.from({ length: 50 }, (_, i) =>
      upsert(`u${i}`, 3, { id: i, name: `n${i}`, tags: ['a', 'b'] }),
    );

    // Act
    const outcomes = await t.write(writes);
    const lean = await t.readState(['u1', 'u2', 'nobody'], { withData: false });
    const full = await t.readState(['u7'], { withData: true });

    // Assess
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(lean.get('u1')).toEqual({
      version: positionVersion(3),
      hash: contentHash({ id: 1, name: 'n1', tags: ['a', 'b'] }),
      deleted: false,
    });
    expect(lean.has('nobody')).toBe(false);
    expect(full.get('u7')?.data).toEqual({ id: 7, name: 'n7', tags: ['a', 'b'] });
  });

  it('skips a record whose stored version is newer and applies only the changes of a second pass', async () => {
    // Prepare
    const t = target({ mode: 'jsonb' });
    await t.write([upsert('1', 5, { v: 'five' }), upsert('2', 5, { v: 'two' })]);

    // Act
    const outcomes = await t.write([
      upsert('1', 4, { v: 'four' }),
      upsert('2', 5, { v: 'two' }),
      upsert('3', 1, { v: 'new' }),
    ]);

    // Assess
    expect(outcomes.map((o) => `${o.key}:${o.status}`)).toEqual(['1:stale', '2:stale', '3:applied']);
    expect((await t.readState(['1'], { withData: true })).get('1')?.data).toEqual({ v: 'five' });
  });

  it('orders versions by bytes, not by the database collation', async () => {
    // Prepare: in most locales "t:...|B" sorts before "t:...|a"; in bytes it is after.
    const t = target({ mode: 'jsonb' });
    const base = {
      key: 'k',
      op: 'upsert',
      hash: 'h',
      messageKey: 'm',
      ts: '2025-01-01T00:00:00.000Z',
    } as const;
    await t.write([{ ...base, version: 't:2025-01-01T00:00:00.000Z|a', data: { v: 'lower-a' } }]);

    // Act
    const [outcome] = await t.write([
      { ...base, version: 't:2025-01-01T00:00:00.000Z|B', data: { v: 'upper-b' } },
    ]);

    // Assess
    expect(outcome?.status).toBe('stale');
  });

  it('keeps a jsonb tombstone so a late older upsert cannot resurrect the record', async () => {
    // Prepare
    const t = target({ mode: 'jsonb' });
    await t.write([upsert('9', 1, { v: 1 })]);

    // Act
    const deleted = await t.write([remove('9', 3)]);
    const late = await t.write([upsert('9', 2, { v: 2 })]);

    // Assess
    expect(deleted[0]?.status).toBe('applied');
    expect(late[0]?.status).toBe('stale');
    expect((await t.readState(['9'], { withData: true })).get('9')).toEqual({
      version: positionVersion(3),
      hash: 'deleted',
      deleted: true,
    });
    expect(await sql(db, `SELECT data, _d FROM users WHERE key = '9'`)).toEqual([{ data: null, _d: true }]);
  });

  it('reports the older of two writes of one key in a batch as stale', async () => {
    // Act
    const outcomes = await target({ mode: 'jsonb' }).write([
      upsert('1', 1, { v: 'old' }),
      upsert('1', 2, { v: 'new' }),
    ]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['stale', 'applied']);
  });

  it('snapshots live rows with hashes of the data they hold now', async () => {
    // Prepare
    const t = target({ mode: 'jsonb' });
    await t.write([...Array.from({ length: 1203 }, (_, i) => upsert(`k${i}`, 1, { i })), remove('gone', 1)]);
    await sql(db, `UPDATE users SET data = '{"i": -1}' WHERE key = 'k5'`);

    // Act
    const records = await collect(t.snapshot());

    // Assess
    expect(records).toHaveLength(1203);
    expect(new Set(records.map((r) => r.key)).size).toBe(1203);
    expect(records.find((r) => r.key === 'k5')?.hash).toBe(contentHash({ i: -1 }));
    expect(records.find((r) => r.key === 'k6')).toEqual({
      key: 'k6',
      version: positionVersion(1),
      hash: contentHash({ i: 6 }),
    });
  });

  it('writes columns of an existing table, adding its meta columns, and updates only the fields a record carries', async () => {
    // Prepare
    await sql(db, 'CREATE TABLE users (id integer PRIMARY KEY, name text, tags jsonb, score numeric)');
    const t = target({ mode: 'columns' });

    // Act
    const first = await t.write([upsert('1', 1, { id: 1, name: 'Ada', tags: ['x', 'y'], score: 3 })]);
    const partial = await t.write([upsert('1', 2, { id: 1, name: 'Ada L.' })]);

    // Assess
    expect([...first, ...partial].map((o) => o.status)).toEqual(['applied', 'applied']);
    const rows = await sql(db, 'SELECT id, name, tags, score::int AS score, _v, _d FROM users');
    expect(rows).toEqual([
      { id: 1, name: 'Ada L.', tags: ['x', 'y'], score: 3, _v: positionVersion(2), _d: false },
    ]);
    expect((await t.readState(['1'], { withData: false })).get('1')).toMatchObject({
      version: positionVersion(2),
      deleted: false,
    });
  });

  it('soft-deletes a row in columns mode and leaves it out of the snapshot', async () => {
    // Prepare
    await sql(db, 'CREATE TABLE users (id integer PRIMARY KEY, name text)');
    const t = target({ mode: 'columns' });
    await t.write([upsert('1', 1, { id: 1, name: 'a' }), upsert('2', 1, { id: 2, name: 'b' })]);

    // Act
    const deleted = await t.write([remove('1', 2), remove('3', 2)]);
    const late = await t.write([upsert('1', 1, { id: 1, name: 'late' })]);
    const snapshot = await collect(t.snapshot());

    // Assess
    expect(deleted.map((o) => o.status)).toEqual(['applied', 'applied']);
    expect(late[0]?.status).toBe('stale');
    expect(await sql(db, 'SELECT id, name, _d FROM users ORDER BY id')).toEqual([
      { id: 1, name: 'a', _d: true },
      { id: 2, name: 'b', _d: false },
      { id: 3, name: null, _d: true },
    ]);
    expect(snapshot).toEqual([
      { key: '2', version: positionVersion(1), hash: contentHash({ id: 2, name: 'b' }) },
    ]);
  });

  it('writes a composite key to its key columns', async () => {
    // Prepare
    await sql(db, 'CREATE TABLE accounts (org text, id integer, plan text, PRIMARY KEY (org, id))');
    const context = targetContext(
      { type: 'postgres', connection: { secret: 's', ssl: 'disable' }, table: 'accounts' },
      clients,
      {
        secrets: { s: { host: db.host, port: db.port, user: db.user, database: db.database } },
      },
    );
    const pipeline = { ...context.pipeline, source: { ...context.pipeline.source, key: ['org', 'id'] } };
    const t = createPostgresTarget(
      {
        type: 'postgres',
        connection: { secret: 's', ssl: 'disable' },
        schema: 'public',
        table: 'accounts',
        mode: 'columns',
      },
      { ...context, pipeline },
    );
    opened.push(t);

    // Act
    const outcomes = await t.write([
      upsert('acme#7', 1, { org: 'acme', id: 7, plan: 'pro' }),
      remove('acme#8', 1),
    ]);
    const state = await t.readState(['acme#7', 'acme#8'], { withData: true });

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'applied']);
    expect(state.get('acme#7')?.data).toEqual({ org: 'acme', id: 7, plan: 'pro' });
    expect(state.get('acme#8')?.deleted).toBe(true);
  });

  it('fails only the records whose values the table refuses', async () => {
    // Prepare
    await sql(db, 'CREATE TABLE users (id integer PRIMARY KEY, name text, age integer CHECK (age >= 0))');
    const t = target({ mode: 'columns' });

    // Act
    const outcomes = await t.write([
      upsert('1', 1, { id: 1, name: 'ok', age: 3 }),
      upsert('2', 1, { id: 2, name: 'negative', age: -1 }),
      upsert('3', 1, { id: 3, nickname: 'no column' }),
      upsert('4', 1, { id: 4, name: 'ok too', age: 4 }),
    ]);

    // Assess
    expect(outcomes.map((o) => `${o.key}:${o.status}`)).toEqual([
      '1:applied',
      '2:failed',
      '3:failed',
      '4:applied',
    ]);
    const failed = outcomes.filter(
      (o): o is Extract<typeof o, { status: 'failed' }> => o.status === 'failed',
    );
    expect(failed.every((o) => o.error instanceof ValidationError)).toBe(true);
    expect(String((failed[1]?.error as Error | undefined)?.message)).toContain('"nickname"');
  });

  it('reports a missing columns table on discover and refuses a table keyed otherwise', async () => {
    // Prepare
    const missing = await target({ mode: 'columns' }).discover();
    await sql(db, 'CREATE TABLE users (email text PRIMARY KEY, id integer)');

    // Act
    const discovering = target({ mode: 'columns' }).discover();

    // Assess
    expect(missing).toMatchObject({ exists: false, detail: expect.stringContaining('does not exist') });
    await expect(discovering).rejects.toThrow(ConfigError);
    await expect(discovering).rejects.toThrow(/primary key \(id\).*has \(email\)/);
  });

  it('refuses a malformed connection secret without echoing it', async () => {
    // Act
    const discovering = target({ mode: 'jsonb' }, { server: '127.0.0.1', password: 'hunter2' }).discover();

    // Assess
    await expect(discovering).rejects.toThrow(ConfigError);
    await expect(discovering).rejects.toThrow(/secret "pg-target" must hold/);
    await expect(discovering).rejects.not.toThrow(/hunter2/);
  });

  it('reads one key range of a jsonb table: integer keys as integers, text keys by code point', async () => {
    // Prepare
    const numbers = target({ mode: 'jsonb' });
    await numbers.write(['1', '2', '9', '10', '11', '100', '101'].map((k) => upsert(k, 1, { k })));
    await numbers.write([remove('11', 2)]);

    // Act
    const integers = await collect(numbers.snapshot({ after: [9], upTo: [100] }));
    await sql(db, 'DELETE FROM users');
    const texts = target({ mode: 'jsonb' });
    await texts.write(['B', 'a', 'b', 'z', 'ä', '\uFF01', '\u{1F600}'].map((k) => upsert(k, 1, { k })));
    const text = await collect(texts.snapshot({ after: ['B'], upTo: ['\uFF01'] }));

    // Assess
    expect(integers.map((r) => r.key)).toEqual(['10', '100']);
    expect(text.map((r) => r.key)).toEqual(['a', 'b', 'z', 'ä', '\uFF01']);
  });

  /** Decimal and floating point keys as the sources read them, edges included. */
  const DECIMAL_KEYS = [
    '-3',
    '0.0001',
    '1.5',
    '9',
    '10.25',
    '9007199254740993.25',
    '1000000000000000000000',
    'NaN',
  ];
  const FLOAT_KEYS = [
    '-Infinity',
    '-2.5',
    '1e-7',
    '0.000001',
    '0.3',
    '0.30000000000000004',
    '1e+21',
    '5e-324',
    'Infinity',
    'NaN',
  ];

  /** Keys of a jsonb table as the sources write them, for each kind a typed range compares by value. */
  const JSONB_TYPED_KEYS: Record<string, { kind: KeyKind; keys: string[] }> = {
    // As text, "…00.000Z" sorts after "…00.000001Z", which it precedes in time.
    timestamp: {
      kind: 'timestamp',
      keys: [
        '2025-12-31T23:59:59.999Z',
        '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:00:00.000001Z',
        '2026-01-01T00:00:00.123456Z',
        '2026-01-01T00:00:00.500Z',
        '2026-01-02T00:00:00.000Z',
        'infinity',
        '0044-03-15 12:00:00 BC',
      ],
    },
    date: {
      kind: 'date',
      keys: [
        '0044-03-15 BC',
        '1999-12-31',
        '2026-01-01',
        '2026-01-10',
        '2026-02-01',
        '10000-01-01',
        'infinity',
      ],
    },
    decimal: {
      kind: 'decimal',
      keys: DECIMAL_KEYS,
    },
    float: {
      kind: 'float',
      keys: FLOAT_KEYS,
    },
  };

  for (const [name, { kind, keys }] of Object.entries(JSONB_TYPED_KEYS))
    it(`reads only the key range of a jsonb table keyed by ${name}, compared by value, with keys its cast cannot read left to the caller`, async () => {
      // Prepare: three ranges cut inside the keys, one row deleted.
      const t = target({ mode: 'jsonb' });
      await t.write(keys.map((k, i) => upsert(k, 1, { v: i })));
      await t.write([remove(keys[2] as string, 2)]);
      const kinds = [kind];
      const sorted = keys.map((k) => [k]).sort((a, b) => compareKeyTuples(a, b, kinds));
      const ranges = rangesFromBoundaries([sorted[2] as KeyTuple, sorted[4] as KeyTuple], kinds);

      // Act
      const perRange = await Promise.all(
        ranges.map(async (r) => (await collect(t.snapshot(r))).map((x) => x.key)),
      );

      // Assess: each range's live keys come back, and of the others only keys no cast reads.
      const live = keys.filter((k) => k !== keys[2]);
      ranges.forEach((range, i) => {
        const read = perRange[i] ?? [];
        expect(read.filter((k) => inKeyRange([k], range)).sort()).toEqual(
          live.filter((k) => inKeyRange([k], range)).sort(),
        );
        expect(
          read.filter((k) => !inKeyRange([k], range)).every((k) => /infinity|NaN|BC|^1\d{4}-/i.test(k)),
        ).toBe(true);
      });
    });

  /** Keys of each column type a typed range compares by value, as the sources read them: edges included. */
  const TYPED_KEYS: Record<string, { type: string; kind: KeyKind; keys: string[] }> = {
    numeric: {
      type: 'numeric',
      kind: 'decimal',
      keys: DECIMAL_KEYS,
    },
    double: {
      type: 'double precision',
      kind: 'float',
      keys: FLOAT_KEYS,
    },
    timestamptz: {
      type: 'timestamp(3) with time zone',
      kind: 'timestamp',
      keys: [
        '-infinity',
        '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:00:00.001Z',
        '2026-01-01T00:00:00.500Z',
        '2026-01-01T00:00:09.000Z',
        '2026-01-01T00:00:10.000Z',
        'infinity',
      ],
    },
    date: {
      type: 'date',
      kind: 'date',
      keys: [
        '-infinity',
        '0044-03-15 BC',
        '1999-12-31',
        '2026-01-01',
        '2026-01-10',
        '10000-01-01',
        'infinity',
      ],
    },
  };

  for (const [name, { type, kind, keys }] of Object.entries(TYPED_KEYS))
    it(`reads only the key range of a ${name} key in columns mode, compared in the key's own type`, async () => {
      // Prepare: three ranges cut inside the keys, one row deleted.
      await sql(db, `CREATE TABLE users (id ${type} PRIMARY KEY, v int)`);
      const t = target({ mode: 'columns' });
      const written = await t.write(keys.map((k, i) => upsert(k, 1, { v: i })));
      await t.write([remove(keys[1] as string, 2)]);
      const kinds = [kind];
      const sorted = keys.map((k) => [k]).sort((a, b) => compareKeyTuples(a, b, kinds));
      const ranges = rangesFromBoundaries([sorted[2] as KeyTuple, sorted[4] as KeyTuple], kinds);

      // Act
      const perRange = await Promise.all(
        ranges.map(async (r) => (await collect(t.snapshot(r))).map((x) => x.key)),
      );
      const state = await t.readState(keys, { withData: false });

      // Assess: each read holds its range's live keys only, read back as they were written.
      expect(written.map((o) => o.status)).toEqual(keys.map(() => 'applied'));
      expect([...state.keys()].sort()).toEqual([...keys].sort());
      expect(perRange.flat().sort()).toEqual(keys.filter((k) => k !== keys[1]).sort());
      ranges.forEach((range, i) => {
        expect(perRange[i]?.filter((k) => !inKeyRange([k], range))).toEqual([]);
      });
    });

  it('writes bytea keys in columns mode as the bytes of their base64, as jsonb mode keeps them, and reads them back by key, by range and page by page', async () => {
    // Prepare: more keys than a page of the snapshot, the edge bytes among them.
    await sql(db, 'CREATE TABLE users (id bytea PRIMARY KEY, v int)');
    const edges = ['00', '0000', '61', '6100', 'ff', 'ffff'].map((hex) => Buffer.from(hex, 'hex'));
    const many = Array.from({ length: 1100 }, (_, i) => Buffer.from([i >> 8, i & 0xff, 7]));
    const bytes = [...edges, ...many];
    const keys = bytes.map((b) => b.toString('base64'));
    const columns = target({ mode: 'columns' });
    const jsonb = target({ mode: 'jsonb', table: 'users_jsonb' });
    const kinds: KeyKind[] = ['bytes'];
    const range: KeyRange = {
      after: [edges[2]?.toString('base64') as string],
      upTo: [keys[500] as string],
      kinds,
    };

    // Act
    const written = await columns.write(keys.map((k, i) => upsert(k, 1, { id: k, v: i })));
    const viaJsonb = await jsonb.write(keys.map((k, i) => upsert(k, 1, { id: k, v: i })));
    const stored = await sql<{ hex: string }>(db, `SELECT encode(id, 'hex') AS hex FROM users`);
    const state = await columns.readState(keys, { withData: true });
    const snapshot = await collect(columns.snapshot());
    const ranged = await collect(columns.snapshot(range));

    // Assess
    expect(written.map((o) => o.status)).toEqual(keys.map(() => 'applied'));
    expect(viaJsonb.map((o) => o.status)).toEqual(keys.map(() => 'applied'));
    expect(stored.map((r) => r.hex).sort()).toEqual(bytes.map((b) => b.toString('hex')).sort());
    expect([...state.keys()].sort()).toEqual([...keys].sort());
    expect(state.get(keys[3] as string)?.data).toMatchObject({ id: keys[3], v: 3 });
    expect(snapshot.map((r) => r.key).sort()).toEqual([...keys].sort());
    expect(ranged.map((r) => r.key).sort()).toEqual(keys.filter((k) => inKeyRange([k], range)).sort());
    await sql(db, 'DROP TABLE users_jsonb');
  });

  it('reads one key range of a composite key in columns mode, paging through it in key order', async () => {
    // Prepare
    await sql(db, 'CREATE TABLE accounts (org text, id integer, PRIMARY KEY (org, id))');
    const t = compositeTarget(db);
    opened.push(t);
    const keys = ['Acme#50', 'acme#7', 'acme#10', 'beta#1', 'beta#2', 'beta#3'];
    const many = Array.from({ length: 1100 }, (_, i) => `acme#${1000 + i}`);
    await t.write(
      [...keys, ...many].map((k) => upsert(k, 1, { org: k.split('#')[0], id: Number(k.split('#')[1]) })),
    );

    // Act
    const records = await collect(t.snapshot({ after: ['acme', 9], upTo: ['beta', 2] }));

    // Assess
    expect(records.map((r) => r.key)).toEqual(['acme#10', ...many, 'beta#1', 'beta#2']);
  });

  it('accepts a connection URL in the secret', async () => {
    // Act
    const result = await target(
      { mode: 'jsonb' },
      { url: `postgres://${db.user}@${db.host}:${db.port}/${db.database}` },
    ).discover();

    // Assess
    expect(result.exists).toBe(true);
  });
}

const postgresql = requireSystemServer('postgresql');

describe.runIf(postgresql.available)('postgres target on Debian PostgreSQL', () => {
  targetSuite(startDebianPostgres);
});

describe('postgres target on PGlite', () => {
  targetSuite(startPglite);
});

/**
 * A TCP relay in front of the server that can cut the connections carrying the next statements,
 * as a failover or an idle-connection reaper would.
 */
async function startRelay(
  upstreamPort: number,
): Promise<{ port: number; dropNextStatements(n: number): void; dropped(): number; close(): Promise<void> }> {
  let toDrop = 0;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    let established = false;
    upstream.connect(upstreamPort, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      // 'Q' (simple query) and 'P' (parse) start a statement once the startup exchange is over.
      if (established && toDrop > 0 && (chunk[0] === 0x51 || chunk[0] === 0x50)) {
        toDrop--;
        dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (chunk.includes(Buffer.from('Z\u0000\u0000\u0000\u0005I'))) established = true;
      client.write(chunk);
    });
    for (const s of [client, upstream])
      s.on('error', () => {}).on('close', () => (s === client ? upstream : client).destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    dropNextStatements(n) {
      toDrop = n;
    },
    dropped: () => dropped,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.runIf(postgresql.available)('postgres target connection failures', () => {
  let db: Database;

  beforeAll(async () => {
    db = await startDebianPostgres();
  }, 60_000);

  afterAll(async () => {
    await db?.stop();
  });

  it('retries a statement whose connection was dropped and applies it', async () => {
    // Prepare
    const relay = await startRelay(db.port);
    const t = makeTarget({ ...db, port: relay.port }, { mode: 'jsonb' });
    await t.discover();
    relay.dropNextStatements(1);

    // Act
    const outcomes = await t.write([upsert('1', 1, { v: 1 })]);

    // Assess
    expect(relay.dropped()).toBe(1);
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
    await t.close();
    await relay.close();
  });

  it('gives a TransientError naming the server when it cannot be reached', async () => {
    // Prepare
    const closedPort = await freePort();
    const t = makeTarget({ ...db, port: closedPort }, { mode: 'jsonb' });

    // Act
    const writing = t.write([upsert('1', 1, { v: 1 })] as TargetWrite[]);

    // Assess
    await expect(writing).rejects.toThrow(TransientError);
    await expect(writing).rejects.toThrow(`127.0.0.1:${closedPort}/postgres`);
    await t.close();
  });

  it('gives a ConnectorError when the server refuses the user', async () => {
    // Prepare
    const t = makeTarget({ ...db, user: 'nobody' }, { mode: 'jsonb' });

    // Act
    const discovering = t.discover();

    // Assess
    await expect(discovering).rejects.toThrow(ConnectorError);
    await expect(discovering).rejects.toThrow(/not authorized/);
    await t.close();
  });
});

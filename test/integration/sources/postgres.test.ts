import { describe, expect, it } from 'vitest';
import { createPostgresSource } from '../../../shared/connectors/sources/postgres/source.ts';
import { inKeyRange, type KeyRange } from '../../../shared/domain/key-range.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { requireSystemServer, startPostgres } from '../../support/system-servers.ts';
import { keysOf, readAll, sourceSetup } from './helpers.ts';
import { postgresSourceContract } from './postgres-contract.ts';

describe.runIf(requireSystemServer('postgresql').available)('postgres source on Debian PostgreSQL', () => {
  const { server, admin } = postgresSourceContract(async () => {
    const pg = await startPostgres();
    return { port: pg.port, user: pg.user, database: pg.database, poolSize: 4, stop: () => pg.stop() };
  });

  const sourceAs = (user: string) => {
    const { config, context } = sourceSetup(
      {
        type: 'postgres',
        connection: { secret: 'db', ssl: 'disable' },
        table: 'items',
        key: ['id'],
        cursor: ['updated_at'],
      },
      { secrets: { db: { url: `postgres://${user}:pw@127.0.0.1:${server().port}/${server().database}` } } },
    );
    return createPostgresSource(config, context);
  };

  it('cuts and reads key ranges by code point under a linguistic collation, as Verify places keys', async () => {
    // Prepare: ICU orders "apple" < "Banana" < "éclair"; code points order "Banana" < "apple" < "éclair".
    const words = ['apple', 'Apple', 'banana', 'Banana', 'éclair', 'Eclair', 'zebra', 'Zebra', '0', '_x'];
    const keys = [...new Set(words.flatMap((w) => [w, `${w}-2`, `${w.toUpperCase()}3`]))];
    await admin().query('DROP TABLE IF EXISTS words');
    await admin().query('CREATE TABLE words (word text COLLATE "und-x-icu" PRIMARY KEY, v int)');
    await admin().query('INSERT INTO words SELECT w, 1 FROM unnest($1::text[]) AS w', [keys]);
    const { config, context } = sourceSetup(
      {
        type: 'postgres',
        connection: { secret: 'db', ssl: 'disable' },
        table: 'words',
        key: ['word'],
        cursor: [],
        pageSize: 4,
      },
      { secrets: { db: { url: `postgres://esync@127.0.0.1:${server().port}/${server().database}` } } },
    );
    const reader = createPostgresSource(config, context);
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

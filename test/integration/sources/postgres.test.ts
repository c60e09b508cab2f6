import { describe, expect, it } from 'vitest';
import { createPostgresSource } from '../../../shared/connectors/sources/postgres/source.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { requireSystemServer, startPostgres } from '../../support/system-servers.ts';
import { sourceSetup } from './helpers.ts';
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

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { describe } from 'vitest';
import { freePort } from '../../support/system-servers.ts';
import { postgresSourceContract } from './postgres-contract.ts';

/** The embedded database of the demo: PGlite behind its socket server, reached by the ordinary `pg` client. */
describe('postgres source on PGlite through its socket server', () => {
  postgresSourceContract(async () => {
    const db = await PGlite.create();
    const port = await freePort();
    const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 4 });
    await server.start();
    return {
      port,
      user: 'postgres',
      database: 'postgres',
      poolSize: 1,
      async stop() {
        await server.stop();
        await db.close();
      },
    };
  });
});

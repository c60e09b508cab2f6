import type { SignerConfig } from '@aws-sdk/rds-signer';
import type { SecretsProvider } from '../../aws/secrets.ts';
import { ConfigError } from '../../errors.ts';
import { type DatabaseEndpoint, readDatabaseSecret } from './connection.ts';

/** Where a token logs in: the host and port connected to (the proxy's endpoint) and the user. */
export interface TokenTarget {
  readonly hostname: string;
  readonly port: number;
  readonly username: string;
}

/** Signs an RDS IAM authentication token, valid 15 minutes, for one login. */
export type DatabaseTokenSigner = (target: TokenTarget) => Promise<string>;

/**
 * The signer of deployed functions: @aws-sdk/rds-signer with the function's role (the default
 * credential chain) and region, unless given. Each call signs afresh, so a pool that opens a
 * connection an hour later still presents a valid token. The signer (with the credential
 * providers it imports) is imported with the first token, not at a cold start.
 */
export function rdsTokenSigner(
  options: Pick<SignerConfig, 'credentials' | 'region'> = {},
): DatabaseTokenSigner {
  return async (target) => {
    const { Signer } = await import('@aws-sdk/rds-signer');
    return new Signer({ ...options, ...target }).getAuthToken();
  };
}

/** A connection's `iam` setting (see databaseIamAuthSchema). */
export interface IamLogin {
  readonly proxy: string;
  readonly user: string;
}

/** Who a connection logs in as, and with what: a fixed password, or a token signed per connection. */
export interface DatabaseLogin {
  readonly user: string | undefined;
  readonly password: string | undefined | (() => Promise<string>);
}

/**
 * The login of a connection. Without `iam` it is the secret's user and password. With `iam` it
 * is the `iam` user and a token signed at each connect; where no signer is given (the local
 * stack, whose servers know no IAM) it is the `iam` user with the secret's password.
 * @throws ConfigError when the secret names a user other than the `iam` user: the grant and the
 * token are for that user only.
 */
export function databaseLogin(
  iam: IamLogin | undefined,
  endpoint: DatabaseEndpoint,
  defaultPort: number,
  sign: DatabaseTokenSigner | undefined,
  secretName: string,
): DatabaseLogin {
  if (!iam) return { user: endpoint.user, password: endpoint.password };
  if (endpoint.user !== undefined && endpoint.user !== iam.user)
    throw new ConfigError(
      `secret "${secretName}" names user "${endpoint.user}" but connection.iam.user is "${iam.user}"; ` +
        'an IAM token logs in as the iam user only: drop the user from the secret or make them agree',
    );
  if (!sign) return { user: iam.user, password: endpoint.password };
  const target = { hostname: endpoint.host, port: endpoint.port ?? defaultPort, username: iam.user };
  return { user: iam.user, password: () => sign(target) };
}

/** A database engine as a connection names it: the URL schemes its secret may use and its default port. */
export interface DatabaseEngine {
  readonly schemes: readonly string[];
  readonly port: number;
}

export const POSTGRES_ENGINE: DatabaseEngine = { schemes: ['postgres', 'postgresql'], port: 5432 };
export const MYSQL_ENGINE: DatabaseEngine = { schemes: ['mysql', 'mariadb'], port: 3306 };

/**
 * A connection's settings that say where it logs in: the secret, the port the network opens and,
 * for a token login, `iam`.
 */
export interface DatabaseConnection {
  readonly secret: string;
  readonly port?: number | undefined;
  readonly iam?: IamLogin | undefined;
}

/**
 * Reads the connection's secret and who logs in there: what every database connector opens with.
 * The port is the connection's when it names one (the one a VPC's security group opens).
 * @throws ConfigError when the secret names another port than the connection.
 */
export async function readDatabaseAccess(
  connection: DatabaseConnection,
  secrets: SecretsProvider,
  sign: DatabaseTokenSigner | undefined,
  engine: DatabaseEngine,
): Promise<{ endpoint: DatabaseEndpoint; login: DatabaseLogin }> {
  const secret = await readDatabaseSecret(secrets, connection.secret, engine.schemes);
  const { port } = connection;
  if (port !== undefined && secret.port !== undefined && secret.port !== port)
    throw new ConfigError(
      `secret "${connection.secret}" names port ${secret.port} but connection.port is ${port}; ` +
        "the functions' security group opens connection.port only: make them agree",
    );
  const endpoint = { ...secret, port: port ?? secret.port };
  const login = databaseLogin(connection.iam, endpoint, engine.port, sign, connection.secret);
  return { endpoint, login };
}

import type pg from 'pg';
import type { SecretsProvider } from '../../../aws/secrets.ts';
import { type RetryOptions, withRetry } from '../../../domain/retry.ts';
import { ConnectorError, EsyncError, isRetryable, TransientError, ValidationError } from '../../../errors.ts';
import type { TargetConfig } from '../../../pipeline/schema.ts';
import { certificateRefusal, describeEndpoint, tlsOptions } from '../../sql/connection.ts';
import { type DatabaseTokenSigner, POSTGRES_ENGINE, readDatabaseAccess } from '../../sql/iam-token.ts';

type PostgresTargetConfig = Extract<TargetConfig, { type: 'postgres' }>;

/** Where a pool connects, for error messages (never the password). */
export interface ServerAddress {
  readonly description: string;
}

/**
 * Builds the pool settings from the connection secret (`{url}` or `{host, port, user, password,
 * database}`, RDS's `username`/`dbname` spellings too), logging in with a token signed by `sign`
 * when the connection sets `iam`. The secret's content never appears in an error.
 */
export async function poolConfigFromSecret(
  connection: PostgresTargetConfig['connection'],
  secrets: SecretsProvider,
  sign?: DatabaseTokenSigner,
): Promise<{ config: Omit<pg.PoolConfig, 'types'>; address: ServerAddress }> {
  const { endpoint, login } = await readDatabaseAccess(connection, secrets, sign, POSTGRES_ENGINE);
  const { user, password } = login;
  return {
    config: {
      host: endpoint.host,
      port: endpoint.port ?? POSTGRES_ENGINE.port,
      user,
      password: password ?? '',
      database: endpoint.database ?? 'postgres',
      ssl: await tlsOptions(connection.ssl, endpoint),
      // One Lambda container issues one statement at a time; a second connection covers a
      // snapshot page fetched while a write is in flight.
      max: 2,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 60_000,
      query_timeout: 120_000,
      application_name: 'esync-target',
    },
    address: {
      description: describeEndpoint(
        { ...endpoint, user, database: endpoint.database ?? 'postgres' },
        POSTGRES_ENGINE.port,
      ),
    },
  };
}

/** pg reports a connection lost mid-statement by message only, without a SQLSTATE. */
const DROPPED_CONNECTION =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|read ECONNRESET|socket hang up/i;

/** Turns a pg or network error into ESync's hierarchy; `what` names the statement. */
export function mapPostgresError(error: unknown, address: ServerAddress, what: string): Error {
  if (error instanceof EsyncError) return error;
  const code = (error as { code?: unknown }).code;
  const message = (error as Error).message ?? String(error);
  const where = `postgres ${address.description}`;
  const refusal = certificateRefusal(error);
  if (refusal) return new ConnectorError('postgres', `${address.description}: ${refusal}`, { cause: error });
  if (isRetryable(error) || DROPPED_CONNECTION.test(message))
    return new TransientError(
      `${where}: ${what} failed, the server could not be reached or dropped the connection (${code ?? message})`,
      {
        cause: error,
      },
    );
  if (code === '28P01' || code === '28000')
    return new ConnectorError('postgres', `${address.description}: not authorized (${message})`, {
      cause: error,
    });
  if (code === '3D000')
    return new ConnectorError('postgres', `${address.description}: ${message}`, { cause: error });
  if (code === '42P01' || code === '42703')
    return new ConnectorError('postgres', `${address.description}: ${what}: ${message}`, { cause: error });
  // Class 22 (data exception) and 23 (integrity constraint): the record's values are at fault.
  if (typeof code === 'string' && (code.startsWith('22') || code.startsWith('23')))
    return new ValidationError(`${where}: ${what}: ${message}`, [], { cause: error });
  return new ConnectorError('postgres', `${address.description}: ${what} failed: ${message}`, {
    cause: error,
  });
}

/**
 * Runs one statement with the pipeline's retries. A dropped connection is retried on a fresh
 * one: every statement ESync sends is idempotent (version-gated upserts, reads, DDL with IF NOT EXISTS).
 */
export async function runStatement<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  address: ServerAddress,
  retry: RetryOptions,
  what: string,
  text: string,
  values: readonly unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await withRetry(async () => {
      try {
        return await pool.query<R>(text, values as unknown[]);
      } catch (error) {
        throw mapPostgresError(error, address, what);
      }
    }, retry);
  } catch (error) {
    throw mapPostgresError(error, address, what);
  }
}

/** Quotes an SQL identifier (any name: the catalog's, or a record's field). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Opens the pool that reads canonical values, importing pg with it (see shared/connectors/sql/pg-pool.ts). */
export async function createPool(config: Omit<pg.PoolConfig, 'types'>): Promise<pg.Pool> {
  return (await import('../../sql/pg-pool.ts')).canonicalPool(config);
}

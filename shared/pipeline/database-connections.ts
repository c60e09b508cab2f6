import type { TlsMode } from '../connectors/sql/connection.ts';
import type { IamLogin } from '../connectors/sql/iam-token.ts';
import type { Pipeline } from './schema.ts';

/** A database connection a pipeline's source or target names. */
export interface DatabaseConnection {
  readonly secret: string;
  readonly ssl: TlsMode;
  readonly iam?: IamLogin;
}

/** Whether a source or target config connects to a database (postgres, mysql). */
export function connectsToDatabase<T extends object>(
  part: T,
): part is T & { readonly connection: DatabaseConnection } {
  const connection = (part as { connection?: unknown }).connection;
  return (
    typeof connection === 'object' && connection !== null && 'ssl' in connection && 'secret' in connection
  );
}

/**
 * The pipelines' database connections that go without TLS, as `<pipeline> source|target`. A
 * deployed stage refuses them (infra/app.ts); only the local stack reaches a database in plaintext.
 */
export function plaintextDatabaseConnections(pipelines: readonly Pipeline[]): string[] {
  return pipelines.flatMap((p) =>
    (['source', 'target'] as const).flatMap((role) => {
      const part = p[role];
      return connectsToDatabase(part) && part.connection.ssl === 'disable' ? [`${p.name} ${role}`] : [];
    }),
  );
}

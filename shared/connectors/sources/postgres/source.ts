import type { SourceConfig } from '../../../pipeline/schema.ts';
import { describeEndpoint, tlsOptions } from '../../sql/connection.ts';
import { classifyDatabaseError, type DatabaseErrorCodes } from '../../sql/errors.ts';
import { POSTGRES_ENGINE, readDatabaseAccess } from '../../sql/iam-token.ts';
import type { ColumnKind, SqlDialect } from '../../sql/keyset.ts';
import { type ColumnInfo, type SqlTableDriver, sqlTableSource } from '../../sql/table-source.ts';
import type { ConnectorContext, SourceConnector } from '../../types.ts';

type PostgresSourceConfig = Extract<SourceConfig, { type: 'postgres' }>;

const CONNECTOR = 'postgres source';

/**
 * PostgreSQL: row-value comparisons use the (cursor, key) index directly. Bytes, read as base64,
 * are bound as a Buffer (a bytea parameter): as text, base64 would be taken for bytea's escape form.
 */
export const postgresDialect: SqlDialect = {
  quote: (identifier) => `"${identifier.replaceAll('"', '""')}"`,
  placeholder: (index) => `$${index}`,
  rowValues: true,
  bindValue: (kind, value) => (kind === 'bytes' ? Buffer.from(String(value), 'base64') : value),
};

function kindOf(type: string): ColumnKind {
  if (/^timestamp/.test(type)) return 'timestamp';
  if (type === 'date') return 'date';
  if (/^(smallint|integer|bigint)$/.test(type)) return 'integer';
  if (/^numeric/.test(type)) return 'decimal';
  if (/^(real|double precision)$/.test(type)) return 'float';
  if (type === 'bytea') return 'bytes';
  if (type === 'boolean') return 'boolean';
  if (/^(text|character|uuid|citext|name)/.test(type)) return 'text';
  return 'other';
}

/** libc locales that order text by code point (byte order of UTF-8). */
const CODE_POINT_LOCALE = /^(C|POSIX)(\.utf-?8)?$/i;

/**
 * How key ranges order a column (see `KeysetColumn.byCodePoint`): as it is where its collation
 * orders by code point, else with `COLLATE "C"` (citext through text, as it ignores case under
 * any collation). Such a column's own index cannot serve that order: an index on
 * `(column COLLATE "C")` can.
 */
function codePointOrder(column: {
  name: string;
  type: string;
  collatable: boolean;
  collation: unknown;
  enum: boolean;
}) {
  const quoted = postgresDialect.quote(column.name);
  // An enum orders by declaration, not by its labels: ranges compare the labels' text.
  if (column.enum) return `${quoted}::text COLLATE "C"`;
  if (!column.collatable) return undefined;
  if (column.type === 'citext') return `${quoted}::text COLLATE "C"`;
  if (typeof column.collation === 'string' && CODE_POINT_LOCALE.test(column.collation)) return undefined;
  return `${quoted} COLLATE "C"`;
}

/**
 * Key columns whose order (or code point order, see {@link codePointOrder}) is the order key
 * ranges compare the values read from them in (`domain/key-range.ts`): integers, numeric
 * (exactly), real and double precision (read as the shortest text that parses back to the
 * stored value; NaN last, as numeric), timestamps and dates (by value, BC and ±infinity too),
 * bytea (byte by byte), text but `character(n)` (which compares without its padding while its
 * values are read padded), uuid (lower-case hex), boolean, and enums through their labels.
 */
function rangeOrdered(type: string, isEnum: boolean): boolean {
  if (isEnum) return true;
  return /^(smallint|integer|bigint|numeric|real|double precision|bytea|timestamp|date|boolean|text|character varying|uuid|citext|name)\b/.test(
    type,
  );
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
/** SQLSTATE classes and codes that a later attempt may not meet: dropped connections, conflicts, load. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '53300', '55P03', '57014', '57P01', '57P02', '57P03']);
/** pg reports a connection lost or never opened in time by message only. */
const DROPPED_CONNECTION =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

const POSTGRES_CODES: DatabaseErrorCodes = {
  connector: CONNECTOR,
  transient: (code, message) =>
    TRANSIENT_CODES.has(code) ||
    TRANSIENT_SQLSTATES.has(code) ||
    code.startsWith('08') ||
    DROPPED_CONNECTION.test(message),
  noTls: (_code, message) => /does not support SSL/i.test(message),
  meaning: (code, message, user) => {
    if (code === '28P01' || code === '28000') return `authentication failed for user "${user}"`;
    if (code === '3D000') return 'the database does not exist';
    if (code === '42501') return `permission denied (${message})`;
    return undefined;
  },
  label: (code) => `SQLSTATE ${code}`,
};

/** Classifies a `pg` error: transient ones are retried, the rest name what is wrong and where. */
export function classifyPostgresError(error: unknown, where: string, user: string | undefined): Error {
  return classifyDatabaseError(error, where, user, POSTGRES_CODES);
}

/**
 * Each column with its collation's libc locale (`collation`; null for an ICU collation, and
 * for a database default that is ICU: `datlocprovider`, PostgreSQL 15+, read through to_jsonb
 * so older servers answer too).
 */
const DESCRIBE_COLUMNS = `
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
       c.reltuples::float8 AS reltuples, a.attcollation <> 0 AS collatable, t.typtype = 'e' AS enum,
       CASE WHEN co.collname = 'default' THEN
              (SELECT CASE WHEN COALESCE(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' THEN d.datcollate::text END
               FROM pg_catalog.pg_database d WHERE d.datname = current_database())
            WHEN co.collprovider = 'c' THEN co.collcollate::text
       END AS collation
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

const DESCRIBE_PRIMARY_KEY = `
SELECT a.attname AS name
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`;

async function openPostgresDriver(
  config: PostgresSourceConfig,
  context: ConnectorContext,
): Promise<SqlTableDriver> {
  const { endpoint, login } = await readDatabaseAccess(
    config.connection,
    context.secrets,
    context.signDatabaseToken,
    POSTGRES_ENGINE,
  );
  const tableName = `${config.schema}.${config.table}`;
  const where = `table "${tableName}" in PostgreSQL at ${describeEndpoint({ ...endpoint, user: login.user }, POSTGRES_ENGINE.port)}`;
  const { canonicalPool } = await import('../../sql/pg-pool.ts');
  const pool = canonicalPool({
    host: endpoint.host,
    port: endpoint.port ?? POSTGRES_ENGINE.port,
    ...login,
    database: endpoint.database,
    ssl: await tlsOptions(config.connection.ssl, endpoint),
    max: config.poolSize,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'esync-source',
  });
  const run = async (text: string, params: readonly unknown[]) => {
    try {
      return (await pool.query(text, params as unknown[])).rows as Record<string, unknown>[];
    } catch (error) {
      throw classifyPostgresError(error, where, login.user);
    }
  };
  return {
    dialect: postgresDialect,
    table: `${postgresDialect.quote(config.schema)}.${postgresDialect.quote(config.table)}`,
    where,
    async describeTable() {
      const columns = await run(DESCRIBE_COLUMNS, [config.schema, config.table]);
      if (columns.length === 0) return undefined;
      const primaryKey = await run(DESCRIBE_PRIMARY_KEY, [config.schema, config.table]);
      const reltuples = Number(columns[0]?.reltuples);
      return {
        columns: columns.map((c): ColumnInfo => {
          const column = { name: String(c.name), type: String(c.type) };
          const byCodePoint = codePointOrder({
            ...column,
            collatable: c.collatable === true,
            collation: c.collation,
            enum: c.enum === true,
          });
          return {
            ...column,
            nullable: c.nullable === true,
            kind: kindOf(column.type),
            ...(byCodePoint && { byCodePoint }),
            rangeOrdered: rangeOrdered(column.type, c.enum === true),
          };
        }),
        primaryKey: primaryKey.map((k) => String(k.name)),
        // reltuples is -1 until the table was first vacuumed or analyzed.
        ...(reltuples >= 0 ? { approximateRows: Math.round(reltuples) } : {}),
      };
    },
    query: run,
    close: () => pool.end(),
  };
}

/**
 * The PostgreSQL source (RDS, Aurora, any PostgreSQL 12+, PGlite through its socket server).
 * Reads one table by keyset pagination over (cursor columns, key columns); partitions are
 * ranges of the key (see `SqlTableSource.planPartitions`). Credentials come from the secret named
 * by `connection.secret`.
 */
export function createPostgresSource(
  config: PostgresSourceConfig,
  context: ConnectorContext,
): SourceConnector {
  return sqlTableSource(CONNECTOR, config, context, () => openPostgresDriver(config, context));
}

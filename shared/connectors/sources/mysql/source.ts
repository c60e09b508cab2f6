import Big from 'big.js';
import type { Pool, PoolOptions } from 'mysql2/promise';
import { parseIsoInstant } from '../../../domain/instant.ts';
import { ConfigError } from '../../../errors.ts';
import type { SourceConfig } from '../../../pipeline/schema.ts';
import { type DatabaseEndpoint, describeEndpoint, tlsOptions } from '../../sql/connection.ts';
import { classifyDatabaseError, type DatabaseErrorCodes } from '../../sql/errors.ts';
import { type DatabaseLogin, MYSQL_ENGINE, readDatabaseAccess } from '../../sql/iam-token.ts';
import type { ColumnKind, SqlDialect } from '../../sql/keyset.ts';
import { mysqlTypeCast, shortestSingle } from '../../sql/mysql-values.ts';
import { type ColumnInfo, type SqlTableDriver, sqlTableSource } from '../../sql/table-source.ts';
import type { ConnectorContext, SourceConnector } from '../../types.ts';

type MysqlSourceConfig = Extract<SourceConfig, { type: 'mysql' }>;

const CONNECTOR = 'mysql source';

/** MySQL's DATETIME literal for an ISO-8601 instant, in UTC (the session runs in UTC). */
function datetimeLiteral(iso: string): string {
  const instant = parseIsoInstant(iso);
  if (instant === undefined) return iso;
  const whole = new Date(instant.epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return `${whole}.${String(Math.floor(instant.nanos / 1000)).padStart(6, '0')}`;
}

/**
 * An exact number as an unquoted literal: MySQL compares a quoted number, or a double, with a
 * BIGINT or DECIMAL column as doubles, which cannot tell keys beyond 2^53 apart. Integer text
 * becomes a `bigint` and a decimal its plain digits (through big.js, never an exponent), both
 * written as they are by mysql2; anything else is bound unchanged.
 */
function exactLiteral(kind: 'integer' | 'decimal', value: string | number): unknown {
  if (kind === 'integer') return typeof value === 'string' && /^-?\d+$/.test(value) ? BigInt(value) : value;
  let digits: string;
  try {
    digits = new Big(value).toFixed();
  } catch {
    return value;
  }
  return { toSqlString: () => digits };
}

/**
 * MySQL and MariaDB: the expanded OR form of keyset predicates uses the index best. A DOUBLE is
 * bound as a number (mysql2 writes its shortest text, which MySQL reads as that double), a FLOAT
 * as the double its single widens to (MySQL compares a FLOAT column with a number as that
 * double: 0.1 would stay below the stored 0.100000001490116), bytes (read as base64) as a Buffer
 * (mysql2 writes `X'…'`).
 */
export const mysqlDialect: SqlDialect = {
  quote: (identifier) => `\`${identifier.replaceAll('`', '``')}\``,
  placeholder: () => '?',
  rowValues: false,
  bindValue: (kind, value) => {
    if (kind === 'timestamp' && typeof value === 'string') return datetimeLiteral(value);
    if (kind === 'date' && typeof value === 'string') return value.slice(0, 10);
    if (kind === 'integer' || kind === 'decimal') return exactLiteral(kind, value);
    if (kind === 'float') return Number(value);
    if (kind === 'single') return Math.fround(Number(value));
    if (kind === 'bytes') return Buffer.from(String(value), 'base64');
    return value;
  },
};

function kindOf(dataType: string): ColumnKind {
  const t = dataType.toLowerCase();
  if (t === 'datetime' || t === 'timestamp') return 'timestamp';
  if (t === 'date') return 'date';
  if (/^(tinyint|smallint|mediumint|int|integer|bigint)$/.test(t)) return 'integer';
  if (/^(decimal|numeric)$/.test(t)) return 'decimal';
  if (t === 'float') return 'single';
  if (/^(double|real)$/.test(t)) return 'float';
  if (/^(binary|varbinary)$/.test(t)) return 'bytes';
  if (/^(char|varchar|tinytext|text|mediumtext|longtext|enum|uuid)$/.test(t)) return 'text';
  return 'other';
}

/**
 * How a column is read where it does not print as stored: a single-precision FLOAT, which
 * MariaDB prints to six significant digits (16777217 as 16777200), is read as the DOUBLE it
 * widens to and kept as the shortest number of that single (`shortestSingle`), so its keys bound
 * pages and ranges exactly. A DOUBLE prints in full.
 */
function exactRead(name: string, kind: ColumnKind): Pick<ColumnInfo, 'readAs' | 'valueOfRead'> {
  if (kind !== 'single') return {};
  return { readAs: `CAST(${mysqlDialect.quote(name)} AS DOUBLE)`, valueOfRead: shortestSingle };
}

/**
 * Collations that order by code point with no padding: UTF-8 byte order. The older `_bin`
 * collations (`utf8mb4_bin`) are PAD SPACE: they compare "a" as "a " (so "a" sorts after
 * "a\t", and "a" equals "a "), unlike code points.
 */
const NO_PAD_CODE_POINT = /^(utf8mb4|utf8mb3|utf8|ascii)_(0900_bin|nopad_bin)$/;

/**
 * How key ranges order a text column (see `KeysetColumn.byCodePoint`): as it is under a NO PAD
 * binary collation of UTF-8 or ASCII, else as the bytes of its UTF-8 form, which the column's
 * own index cannot serve (an enum then compares by its labels, not by declaration).
 */
function codePointOrder(column: { name: string; kind: ColumnKind; collation: unknown }) {
  if (column.kind !== 'text') return undefined;
  if (typeof column.collation === 'string' && NO_PAD_CODE_POINT.test(column.collation)) return undefined;
  return `CAST(CONVERT(${mysqlDialect.quote(column.name)} USING utf8mb4) AS BINARY)`;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
]);

const MYSQL_CODES: DatabaseErrorCodes = {
  connector: CONNECTOR,
  transient: (code, message) => TRANSIENT_CODES.has(code) || /closed state|connection lost/i.test(message),
  noTls: (code) => code === 'HANDSHAKE_NO_SSL_SUPPORT',
  meaning: (code, message, user) => {
    if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR')
      return `access denied for user "${user}"`;
    if (code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_COLUMNACCESS_DENIED_ERROR')
      return `permission denied (${message})`;
    if (code === 'ER_BAD_DB_ERROR') return 'the database does not exist';
    return undefined;
  },
  label: (code) => code,
};

/** Classifies a `mysql2` error: transient ones are retried, the rest name what is wrong and where. */
export function classifyMysqlError(error: unknown, where: string, user: string | undefined): Error {
  return classifyDatabaseError(error, where, user, MYSQL_CODES);
}

interface CallbackConnection {
  query(sql: string, callback: (error: unknown) => void): void;
}

/**
 * mysql2's login options. A signed token goes through the cleartext plugin, which RDS Proxy asks
 * for under IAM authentication; it is signed when the server asks, so every connection of the
 * pool presents a fresh one.
 */
export function mysqlLogin(login: DatabaseLogin): PoolOptions {
  const { user, password } = login;
  const named = user === undefined ? {} : { user };
  if (typeof password !== 'function') return { ...named, ...(password === undefined ? {} : { password }) };
  return {
    ...named,
    authPlugins: {
      mysql_clear_password: () => async () => Buffer.from(`${await password()}\0`),
    },
  };
}

/** Where the table is and who logs in, from the connection secret. */
interface MysqlTarget {
  readonly endpoint: DatabaseEndpoint;
  readonly database: string;
  readonly login: DatabaseLogin;
  /** The table and server, for messages (never the password). */
  readonly where: string;
}

async function mysqlTarget(config: MysqlSourceConfig, context: ConnectorContext): Promise<MysqlTarget> {
  const { endpoint, login } = await readDatabaseAccess(
    config.connection,
    context.secrets,
    context.signDatabaseToken,
    MYSQL_ENGINE,
  );
  const database = config.database ?? endpoint.database;
  if (!database)
    throw new ConfigError(
      `mysql source: name the database in source.database or in secret "${config.connection.secret}"`,
    );
  const where = `table "${database}.${config.table}" in MySQL at ${describeEndpoint({ ...endpoint, user: login.user, database }, MYSQL_ENGINE.port)}`;
  return { endpoint, database, login, where };
}

/**
 * A pool whose sessions read TIMESTAMP columns in UTC. mysql2 (with iconv-lite) is imported
 * here, so only a function that opens a MySQL source loads it: the bundler puts it in a chunk
 * of its own.
 */
async function openMysqlPool(config: MysqlSourceConfig, target: MysqlTarget): Promise<Pool> {
  const { default: mysql } = await import('mysql2/promise');
  const { endpoint, database, login } = target;
  const tls = await tlsOptions(config.connection.ssl, endpoint);
  const pool = mysql.createPool({
    host: endpoint.host,
    port: endpoint.port ?? MYSQL_ENGINE.port,
    ...mysqlLogin(login),
    database,
    ...(tls ? { ssl: tls } : {}),
    connectionLimit: 4,
    maxIdle: 4,
    idleTimeout: 10_000,
    connectTimeout: 10_000,
    dateStrings: true,
    supportBigNumbers: true,
    typeCast: mysqlTypeCast,
  });
  // Commands run in order on a connection, so this runs before the connection's first query:
  // TIMESTAMP columns then read in UTC, as DATETIME columns are taken to be. The promise pool
  // emits the underlying callback-style connection here, whatever its typings say.
  pool.on('connection', (connection) => {
    (connection as unknown as CallbackConnection).query("SET time_zone = '+00:00'", () => undefined);
  });
  return pool;
}

type RunQuery = (text: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** The table's columns, primary key and approximate row count from information_schema. */
async function describeMysqlTable(run: RunQuery, database: string, table: string) {
  const columns = await run(
    `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, DATA_TYPE AS dataType, IS_NULLABLE AS nullable,
            CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [database, table],
  );
  if (columns.length === 0) return undefined;
  const primaryKey = await run(
    `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
    [database, table],
  );
  const [stats] = await run(
    'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, table],
  );
  const approximate = stats?.n === null || stats?.n === undefined ? undefined : Number(stats.n);
  return {
    columns: columns.map((c): ColumnInfo => {
      const kind = kindOf(String(c.dataType));
      const byCodePoint = codePointOrder({ name: String(c.name), kind, collation: c.collation });
      return {
        name: String(c.name),
        type: String(c.type),
        nullable: c.nullable === 'YES',
        kind,
        ...(byCodePoint && { byCodePoint }),
        ...exactRead(String(c.name), kind),
        // MySQL orders columns of other kinds (BIT, YEAR, TIME, SET, BLOB) by their type, which
        // key ranges do not compare.
        rangeOrdered: kind !== 'other',
      };
    }),
    primaryKey: primaryKey.map((k) => String(k.name)),
    ...(approximate === undefined ? {} : { approximateRows: approximate }),
  };
}

async function openMysqlDriver(
  config: MysqlSourceConfig,
  context: ConnectorContext,
): Promise<SqlTableDriver> {
  const target = await mysqlTarget(config, context);
  const pool = await openMysqlPool(config, target);
  const { database, where, login } = target;
  const run: RunQuery = async (text, params) => {
    try {
      const [rows] = await pool.query(text, params as unknown[]);
      return rows as Record<string, unknown>[];
    } catch (error) {
      throw classifyMysqlError(error, where, login.user);
    }
  };
  return {
    dialect: mysqlDialect,
    table: `${mysqlDialect.quote(database)}.${mysqlDialect.quote(config.table)}`,
    where,
    describeTable: () => describeMysqlTable(run, database, config.table),
    query: run,
    close: () => pool.end(),
  };
}

/**
 * The MySQL / MariaDB source (RDS, Aurora MySQL). Same contract as the PostgreSQL source:
 * keyset pages over (cursor columns, key columns), partitions by key range.
 * TIMESTAMP and DATETIME values are read as UTC.
 */
export function createMysqlSource(config: MysqlSourceConfig, context: ConnectorContext): SourceConnector {
  return sqlTableSource(CONNECTOR, config, context, () => openMysqlDriver(config, context));
}

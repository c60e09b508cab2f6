import type pg from 'pg';
import type { KeyRange } from '../../../domain/key-range.ts';
import type { SchemaDrift } from '../../../domain/schema-drift.ts';
import { ConfigError, ConnectorError, SchemaDriftError, ValidationError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { isExactNumber, stringifyExactJson } from '../../../records/exact-json.ts';
import { contentHash } from '../../../records/hash.ts';
import type { TargetSnapshotRecord, TargetState, TargetWrite, WriteOutcome } from '../../types.ts';
import { chunk, newestPerKey, outcomesInOrder } from '../support/batch.ts';
import { toJsonRecord } from '../support/json-value.ts';
import { TargetBase, targetFactory } from '../support/target-base.ts';
import { columnHolds, postgresColumnFor } from './column-types.ts';
import { columnParameter } from './column-values.ts';
import {
  createPool,
  poolConfigFromSecret,
  quoteIdent,
  runStatement,
  type ServerAddress,
} from './connection.ts';
import { comparison, keyOrderOf } from './key-order.ts';

/** Meta columns ESync keeps beside the record: version, content hash, tombstone flag. */
const META_COLUMNS = ['_v', '_h', '_d'] as const;
const META_NAMES: ReadonlySet<string> = new Set(META_COLUMNS);
/** PostgreSQL accepts at most 65 535 bind parameters per statement. */
const MAX_PARAMETERS = 65_535;
const PAGE_SIZE = 1000;
const KEY_ALIAS = '__esync_k';

interface Column {
  readonly name: string;
  /** `format_type()` of the column, usable in a cast. */
  readonly type: string;
}

/** What the target table looks like, read once from the catalog. */
interface TableShape {
  readonly columns: ReadonlyMap<string, Column>;
  /** Conflict target: `key` in jsonb mode; the primary key columns in the pipeline's key order in columns mode. */
  readonly keyColumns: readonly Column[];
}

/** One record ready for an INSERT: its columns (in a stable order) and their values. */
interface PreparedRow {
  readonly write: TargetWrite;
  readonly columns: readonly string[];
  readonly values: readonly unknown[];
}

/**
 * PostgreSQL target. Each batch is one multi-row `INSERT ... ON CONFLICT (key) DO UPDATE ...
 * WHERE t._v COLLATE "C" < excluded._v (or, at an equal version, t._h < excluded._h) RETURNING key`
 * (split only past the bind-parameter limit,
 * and per set of fields in columns mode), so a replay or a late event updates nothing, and the
 * rows RETURNING leaves out are the stale ones.
 *
 * - `jsonb` mode: ESync creates and owns `(key text primary key, data jsonb, _v, _h, _d)`, the key
 *   in collation "C" so Verify's key ranges of text keys are read through its index. A delete
 *   writes a tombstone row (data NULL, `_d` true) that keeps its version.
 * - `columns` mode: the table exists, one column per field, its primary key made of the
 *   pipeline's key fields (after `transform.rename`); ESync adds `_v`, `_h`, `_d` when missing.
 *   A record updates only the columns of the fields it carries. A delete sets `_d` and the
 *   version and leaves the other columns as they were (a soft delete: readers filter
 *   `WHERE NOT _d`); a delete of a key never seen inserts a row holding only the key, which
 *   needs the table's other columns to be nullable or defaulted.
 *
 * Versions compare with `COLLATE "C"` (byte order), the order `records/version.ts` defines.
 */
export class PostgresTarget extends TargetBase<'postgres'> {
  readonly #table = `${quoteIdent(this.config.schema)}.${quoteIdent(this.config.table)}`;
  /** The pipeline's key fields after transform.rename: the table's primary key. */
  readonly #keyFields = this.context.pipeline.source.key.map(
    (field) => this.context.pipeline.transform.rename[field] ?? field,
  );
  #connection: Promise<{ pool: pg.Pool; address: ServerAddress }> | undefined;
  #shape: Promise<TableShape> | undefined;

  async discover(): Promise<{ exists: boolean; detail: string }> {
    const { pool, address } = await this.#connect();
    const existing = await this.#readShape(pool, address);
    if (!existing && this.config.mode === 'columns')
      return {
        exists: false,
        detail: `table ${this.config.schema}.${this.config.table} does not exist on ${address.description}; mode columns writes an existing table (mode jsonb creates its own)`,
      };
    const shape = await this.#ensureShape();
    return {
      exists: true,
      detail: `table ${this.config.schema}.${this.config.table} on ${address.description}, mode ${this.config.mode}, key (${shape.keyColumns.map((c) => c.name).join(', ')})`,
    };
  }

  async readState(
    keys: readonly string[],
    options: { withData: boolean },
  ): Promise<Map<string, TargetState>> {
    const state = new Map<string, TargetState>();
    if (keys.length === 0) return state;
    const shape = await this.#ensureShape();
    const { pool, address } = await this.#connect();
    const keyList = shape.keyColumns
      .map((c, i) => `${quoteIdent(c.name)} AS ${quoteIdent(KEY_ALIAS + i)}`)
      .join(', ');
    const selected = options.withData ? `${keyList}, *` : `${keyList}, "_v", "_h", "_d"`;
    for (const part of chunk([...new Set(keys)], PAGE_SIZE)) {
      const columns: unknown[][] = shape.keyColumns.map(() => []);
      for (const key of part) {
        const values = this.#keyParametersOrNone(key, shape);
        if (values) for (const [i, value] of values.entries()) columns[i]?.push(value);
      }
      const tuple = shape.keyColumns.map((c) => quoteIdent(c.name)).join(', ');
      const arrays = shape.keyColumns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
      const result = await runStatement<Record<string, unknown>>(
        pool,
        address,
        this.context.retry,
        `reading the state of ${part.length} keys`,
        `SELECT ${selected} FROM ${this.#table} WHERE (${tuple}) IN (SELECT * FROM unnest(${arrays}))`,
        columns,
      );
      for (const row of result.rows) {
        const deleted = row._d === true;
        state.set(this.#keyOfRow(row, shape), {
          version: typeof row._v === 'string' ? row._v : '',
          hash: typeof row._h === 'string' ? row._h : '',
          deleted,
          ...(options.withData && !deleted ? { data: this.#dataOfRow(row) } : {}),
        });
      }
    }
    return state;
  }

  async write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]> {
    const { winners, superseded } = newestPerKey(writes);
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    for (const write of superseded) outcomes.set(write, { key: write.key, status: 'stale' });
    if (winners.length > 0) {
      let shape = await this.#ensureShape();
      // A column added since this container read the table (schema.onDrift evolve, or by hand)
      // is found by reading the table again, not by refusing the records that carry it.
      if (winners.some((write) => this.#hasUnknownField(write, shape))) shape = await this.#reloadShape();
      const groups = new Map<string, PreparedRow[]>();
      for (const write of winners) {
        try {
          const row = this.#prepare(write, shape);
          const signature = row.columns.join('\u0000');
          groups.set(signature, [...(groups.get(signature) ?? []), row]);
        } catch (error) {
          outcomes.set(write, { key: write.key, status: 'failed', error });
        }
      }
      for (const rows of groups.values()) {
        const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / (rows[0]?.columns.length ?? 1)));
        for (const part of chunk(rows, perStatement))
          for (const [write, outcome] of await this.#upsert(part, shape)) outcomes.set(write, outcome);
      }
    }
    return outcomesInOrder(writes, outcomes);
  }

  /**
   * Upserts rows sharing one column list in one statement. When the statement fails because of
   * some row's values (a constraint, a bad type), the rows are retried one by one so only the
   * faulty ones fail.
   */
  async #upsert(rows: readonly PreparedRow[], shape: TableShape): Promise<Map<TargetWrite, WriteOutcome>> {
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    let applied: Set<string>;
    try {
      applied = await this.#runUpsert(rows, shape);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      if (rows.length === 1) {
        const write = (rows[0] as PreparedRow).write;
        outcomes.set(write, { key: write.key, status: 'failed', error });
        return outcomes;
      }
      for (const row of rows)
        for (const [write, outcome] of await this.#upsert([row], shape)) outcomes.set(write, outcome);
      return outcomes;
    }
    for (const { write } of rows)
      outcomes.set(write, { key: write.key, status: applied.has(write.key) ? 'applied' : 'stale' });
    return outcomes;
  }

  async #runUpsert(rows: readonly PreparedRow[], shape: TableShape): Promise<Set<string>> {
    const { pool, address } = await this.#connect();
    const columns = (rows[0] as PreparedRow).columns;
    const keyNames = new Set(shape.keyColumns.map((c) => c.name));
    const values: unknown[] = [];
    const tuples = rows.map((row) => {
      const placeholders = row.values.map((value) => {
        values.push(value);
        return `$${values.length}`;
      });
      return `(${placeholders.join(', ')})`;
    });
    const updates = columns
      .filter((c) => !keyNames.has(c))
      .map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`);
    const returning = shape.keyColumns.map(
      (c, i) => `t.${quoteIdent(c.name)} AS ${quoteIdent(KEY_ALIAS + i)}`,
    );
    const text =
      `INSERT INTO ${this.#table} AS t (${columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')} ` +
      `ON CONFLICT (${shape.keyColumns.map((c) => quoteIdent(c.name)).join(', ')}) DO UPDATE SET ${updates.join(', ')} ` +
      `WHERE t."_v" IS NULL OR t."_v" COLLATE "C" < excluded."_v" COLLATE "C" ` +
      // A tie (one version, other content) goes to the higher hash: records/version.ts.
      `OR (t."_v" = excluded."_v" AND t."_h" COLLATE "C" < excluded."_h" COLLATE "C") ` +
      `RETURNING ${returning.join(', ')}`;
    const result = await runStatement<Record<string, unknown>>(
      pool,
      address,
      this.context.retry,
      `upserting ${rows.length} rows into ${this.config.schema}.${this.config.table}`,
      text,
      values,
    );
    return new Set(result.rows.map((row) => this.#keyOfRow(row, shape)));
  }

  #prepare(write: TargetWrite, shape: TableShape): PreparedRow {
    const meta = [write.version, write.hash, write.op === 'delete'];
    if (this.config.mode === 'jsonb') {
      if (write.op === 'upsert' && write.data === null)
        throw new ValidationError(`postgres: upsert of key "${write.key}" has no data`);
      const data =
        write.op === 'delete' || write.data === null ? null : stringifyExactJson(toJsonRecord(write.data));
      return { write, columns: ['key', 'data', ...META_COLUMNS], values: [write.key, data, ...meta] };
    }
    const keyValues = this.#splitKey(write.key, shape);
    if (!keyValues)
      throw new ValidationError(
        `postgres: key "${write.key}" does not split into the ${shape.keyColumns.length} key columns (${this.#keyFields.join(', ')}) at "#"`,
      );
    const keyColumns = shape.keyColumns.map((c) => c.name);
    const keyParameters = this.#keyParameters(keyValues, shape);
    if (write.op === 'delete')
      return { write, columns: [...keyColumns, ...META_COLUMNS], values: [...keyParameters, ...meta] };
    if (write.data === null) throw new ValidationError(`postgres: upsert of key "${write.key}" has no data`);
    const data = toJsonRecord(write.data);
    const unknown = Object.keys(data).filter((field) => !shape.columns.has(field) || META_NAMES.has(field));
    if (unknown.length > 0)
      throw new ValidationError(
        `postgres: key "${write.key}" has fields without a column in ${this.config.schema}.${this.config.table}: ` +
          `${unknown.map((f) => `"${f}"`).join(', ')} (add the columns, or drop or rename the fields in transform)`,
        unknown.map((field) => ({ path: field, message: 'no such column' })),
      );
    for (const [i, name] of keyColumns.entries()) {
      const value = data[name];
      if (value !== undefined && value !== null && String(value) !== keyValues[i])
        throw new ValidationError(
          `postgres: field "${name}" holds ${JSON.stringify(value)} but the record key "${write.key}" says ${JSON.stringify(keyValues[i])}`,
          [{ path: name, message: 'differs from the record key' }],
        );
    }
    const fields = Object.keys(data)
      .filter((field) => !keyColumns.includes(field))
      .sort();
    return {
      write,
      columns: [...keyColumns, ...fields, ...META_COLUMNS],
      values: [
        ...keyParameters,
        ...fields.map((field) => columnParameter(data[field], shape.columns.get(field)?.type, field)),
        ...meta,
      ],
    };
  }

  #hasUnknownField(write: TargetWrite, shape: TableShape): boolean {
    if (this.config.mode === 'jsonb' || write.data === null) return false;
    for (const field in write.data) if (!shape.columns.has(field)) return true;
    return false;
  }

  #reloadShape(): Promise<TableShape> {
    this.#shape = undefined;
    return this.#ensureShape();
  }

  /**
   * Adds the source's new columns (their types mapped by `column-types.ts`) and widens retyped
   * ones, in one ALTER TABLE that waits at most 5 s for its lock: queued behind a long Load
   * transaction it would block every other statement on the table, so it gives up and is
   * retried. ADD COLUMN IF NOT EXISTS and a widening already made change nothing when repeated.
   */
  async evolveSchema(
    drift: SchemaDrift,
    sourceType: string,
    options: { readonly widen: boolean },
  ): Promise<string[]> {
    if (this.config.mode === 'jsonb') return [];
    const shape = await this.#reloadShape();
    const plan = this.#evolution(drift, sourceType, shape, options.widen);
    if (plan.clauses.length === 0) return plan.changes;
    const { pool, address } = await this.#connect();
    await runStatement(
      pool,
      address,
      this.context.retry,
      `evolving ${this.config.schema}.${this.config.table} (${plan.changes.join('; ')})`,
      `SET LOCAL lock_timeout = '5s'; ALTER TABLE ${this.#table} ${plan.clauses.join(', ')}`,
    );
    await this.#reloadShape();
    return plan.changes;
  }

  /** The ALTER TABLE clauses a drift needs, and each in words. */
  #evolution(drift: SchemaDrift, sourceType: string, shape: TableShape, widen: boolean) {
    const { rename, drop, mask } = this.context.pipeline.transform;
    // A new column's field reaches the table under its renamed name; a masked one as text.
    const columnOf = (field: string) => (drop.includes(field) ? undefined : (rename[field] ?? field));
    const typeOf = (field: string, type: string) =>
      field in mask ? 'text' : postgresColumnFor(sourceType, type);
    const clauses: string[] = [];
    const changes: string[] = [];
    for (const field of drift.added) {
      const column = columnOf(field.name);
      if (column === undefined || shape.columns.has(column)) continue;
      const type = typeOf(field.name, field.type);
      clauses.push(`ADD COLUMN IF NOT EXISTS ${quoteIdent(column)} ${type}`);
      changes.push(`added column ${column} ${type}`);
    }
    for (const change of drift.typeChanged) {
      const column = columnOf(change.name);
      const current = column === undefined ? undefined : shape.columns.get(column);
      const wanted = typeOf(change.name, change.to);
      if (current === undefined || columnHolds(current.type, wanted)) continue;
      if (!widen || !columnHolds(wanted, current.type))
        throw new SchemaDriftError(
          `postgres: column ${current.name} of ${this.config.schema}.${this.config.table} is ${current.type}, which cannot hold the values of the source column ${change.name}, now ${change.to} (was ${change.from}); ` +
            (widen
              ? `schema.onDrift evolve only widens a column, and ${wanted} would not hold every value it stores`
              : 'schema.onDrift discard leaves the target columns as they are') +
            ': change the column yourself, then run again',
          1,
        );
      clauses.push(`ALTER COLUMN ${quoteIdent(current.name)} TYPE ${wanted}`);
      changes.push(`widened column ${current.name} from ${current.type} to ${wanted}`);
    }
    return { clauses, changes };
  }

  /**
   * The parameters of a record key's column values, as any value of the column is sent (a bytea
   * key's base64 as its bytes).
   * @throws ValidationError naming the column when a value cannot be its column's.
   */
  #keyParameters(values: readonly string[], shape: TableShape): unknown[] {
    return values.map((value, i) => {
      const column = shape.keyColumns[i] as Column;
      return columnParameter(value, column.type, column.name);
    });
  }

  /** A key's parameters, or undefined when no row of the table can hold it (its state is none). */
  #keyParametersOrNone(key: string, shape: TableShape): unknown[] | undefined {
    const values = this.#splitKey(key, shape);
    if (!values) return undefined;
    try {
      return this.#keyParameters(values, shape);
    } catch (error) {
      if (error instanceof ValidationError) return undefined;
      throw error;
    }
  }

  /** The key column values of a record key, or undefined when it has the wrong number of parts. */
  #splitKey(key: string, shape: TableShape): string[] | undefined {
    if (shape.keyColumns.length === 1) return [key];
    const parts = key.split('#');
    return parts.length === shape.keyColumns.length ? parts : undefined;
  }

  /**
   * The record key of a row: its key columns read as the PostgreSQL source reads them (the same
   * value parsers), so a timestamp key is its ISO-8601 text and a numeric one its canonical
   * number, as in the record keys it was written under, not as `::text` prints them.
   */
  #keyOfRow(row: Record<string, unknown>, shape: TableShape): string {
    return this.#keyPartsOfRow(row, shape).join('#');
  }

  #keyPartsOfRow(row: Record<string, unknown>, shape: TableShape): string[] {
    return shape.keyColumns.map((_, i) => {
      const value = row[KEY_ALIAS + i];
      return isExactNumber(value) ? value.value : String(value);
    });
  }

  #dataOfRow(row: Record<string, unknown>): RecordData {
    if (this.config.mode === 'jsonb') return (row.data ?? {}) as RecordData;
    const data: RecordData = {};
    for (const [name, value] of Object.entries(row))
      if (!META_NAMES.has(name) && !name.startsWith(KEY_ALIAS)) data[name] = value;
    return data;
  }

  /**
   * Every live row, in key order; given a key range, only the rows of that range where the key's
   * columns let SQL compare as the range does (see key-order.ts), else every row.
   */
  async *snapshot(range?: KeyRange): AsyncIterable<TargetSnapshotRecord[]> {
    const shape = await this.#ensureShape();
    const { pool, address } = await this.#connect();
    const keyAliases = shape.keyColumns.map(
      (c, i) => `${quoteIdent(c.name)} AS ${quoteIdent(KEY_ALIAS + i)}`,
    );
    const selected =
      this.config.mode === 'jsonb'
        ? `${keyAliases.join(', ')}, "key", "data", "_v"`
        : `${keyAliases.join(', ')}, *`;
    const order = keyOrderOf(shape.keyColumns, {
      jsonb: this.config.mode === 'jsonb',
      width: this.#keyFields.length,
      ...(range && { range }),
    });
    const inRange = order.range?.(1) ?? { sql: 'TRUE', params: [] };
    let after: string[] | undefined;
    for (;;) {
      const bound = after
        ? comparison(order.order, order.casts, '>', after, inRange.params.length + 1)
        : { sql: 'TRUE', params: [] };
      const result = await runStatement<Record<string, unknown>>(
        pool,
        address,
        this.context.retry,
        `reading ${this.config.schema}.${this.config.table} for Verify`,
        `SELECT ${selected} FROM ${this.#table} WHERE "_d" IS NOT TRUE AND ${inRange.sql} AND ${bound.sql} ORDER BY ${order.order.join(', ')} LIMIT ${PAGE_SIZE}`,
        [...inRange.params, ...bound.params],
      );
      const rows = result.rows;
      if (rows.length > 0)
        yield rows.map((row) => ({
          key: this.#keyOfRow(row, shape),
          version: typeof row._v === 'string' ? row._v : '',
          hash: contentHash(this.#dataOfRow(row)),
        }));
      if (rows.length < PAGE_SIZE) return;
      const last = rows[rows.length - 1] as Record<string, unknown>;
      after = this.#keyPartsOfRow(last, shape);
    }
  }

  override async close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#shape = undefined;
    if (connection) await (await connection.catch(() => undefined))?.pool.end();
  }

  #connect(): Promise<{ pool: pg.Pool; address: ServerAddress }> {
    if (!this.#connection) {
      const connection = poolConfigFromSecret(
        this.config.connection,
        this.context.secrets,
        this.context.signDatabaseToken,
      ).then(async ({ config, address }) => ({
        pool: await createPool(config),
        address,
      }));
      // A secret that could not be read is read again next time (it may be fixed or rotated).
      connection.catch(() => {
        if (this.#connection === connection) this.#connection = undefined;
      });
      this.#connection = connection;
    }
    return this.#connection;
  }

  #ensureShape(): Promise<TableShape> {
    if (!this.#shape) {
      const shape = this.#prepareTable();
      shape.catch(() => {
        if (this.#shape === shape) this.#shape = undefined;
      });
      this.#shape = shape;
    }
    return this.#shape;
  }

  /** Creates the jsonb table, or checks the columns table and adds the meta columns it lacks. */
  async #prepareTable(): Promise<TableShape> {
    const { pool, address } = await this.#connect();
    const name = `${this.config.schema}.${this.config.table}`;
    if (this.config.mode === 'jsonb') {
      await runStatement(
        pool,
        address,
        this.context.retry,
        `creating ${name}`,
        `CREATE TABLE IF NOT EXISTS ${this.#table} (key text COLLATE "C" PRIMARY KEY, data jsonb, "_v" text COLLATE "C" NOT NULL, "_h" text NOT NULL, "_d" boolean NOT NULL DEFAULT false)`,
      );
      const shape = await this.#readShape(pool, address);
      const missing = ['key', 'data', ...META_COLUMNS].filter((c) => !shape?.columns.has(c));
      if (!shape || missing.length > 0 || shape.keyColumns.map((c) => c.name).join() !== 'key')
        throw new ConfigError(
          `table ${name} exists but is not an ESync jsonb table (key text primary key, data jsonb, _v, _h, _d)` +
            (missing.length > 0 ? `: missing ${missing.join(', ')}` : ''),
        );
      return shape;
    }
    const shape = await this.#readShape(pool, address);
    if (!shape)
      throw new ConnectorError(
        'postgres',
        `table ${name} does not exist on ${address.description}; mode columns writes an existing table (mode jsonb creates its own)`,
      );
    const missingMeta = META_COLUMNS.filter((c) => !shape.columns.has(c));
    if (missingMeta.length > 0) {
      const definitions: Record<(typeof META_COLUMNS)[number], string> = {
        _v: '"_v" text COLLATE "C"',
        _h: '"_h" text',
        _d: '"_d" boolean NOT NULL DEFAULT false',
      };
      await runStatement(
        pool,
        address,
        this.context.retry,
        `adding ESync's columns ${missingMeta.join(', ')} to ${name}`,
        `ALTER TABLE ${this.#table} ${missingMeta.map((c) => `ADD COLUMN IF NOT EXISTS ${definitions[c]}`).join(', ')}`,
      );
      return (await this.#readShape(pool, address)) ?? shape;
    }
    return shape;
  }

  /** Reads columns and primary key from the catalog; undefined when the table does not exist. */
  async #readShape(pool: pg.Pool, address: ServerAddress): Promise<TableShape | undefined> {
    const name = `${this.config.schema}.${this.config.table}`;
    const columns = await runStatement<{ name: string; type: string; primary: number | null }>(
      pool,
      address,
      this.context.retry,
      `reading the columns of ${name}`,
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              array_position(i.indkey::int2[], a.attnum) AS primary
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [this.config.schema, this.config.table],
    );
    if (columns.rows.length === 0) return undefined;
    const byName = new Map(columns.rows.map((c) => [c.name, { name: c.name, type: c.type }]));
    const primary = columns.rows
      .filter((c) => c.primary !== null)
      .sort((a, b) => (a.primary ?? 0) - (b.primary ?? 0))
      .map((c) => c.name);
    if (this.config.mode === 'jsonb')
      return { columns: byName, keyColumns: primary.map((n) => byName.get(n) as Column) };
    const expected = [...this.#keyFields].sort().join(', ');
    if (primary.length === 0 || [...primary].sort().join(', ') !== expected)
      throw new ConfigError(
        `table ${name} must have the primary key (${this.#keyFields.join(', ')}) — the pipeline's key fields after transform.rename — ` +
          `for ON CONFLICT, but has ${primary.length === 0 ? 'none' : `(${primary.join(', ')})`}`,
      );
    return { columns: byName, keyColumns: this.#keyFields.map((field) => byName.get(field) as Column) };
  }
}

/** Creates the PostgreSQL target; it connects on first use. */
export const createPostgresTarget = targetFactory<'postgres'>(PostgresTarget);

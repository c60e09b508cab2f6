import { canonicalIso, toInstant } from '../../domain/instant.ts';
import { isPlaceable, type TypedKeyKind } from '../../domain/key-kinds.ts';
import {
  boundaryPositions,
  type KeyKind,
  type KeyPart,
  type KeyRange,
  type KeyTuple,
  keyRangePartitions,
  parseKeyRange,
  rangesFromBoundaries,
} from '../../domain/key-range.ts';
import type { RetryOptions } from '../../domain/retry.ts';
import { ConnectorError } from '../../errors.ts';
import type { RecordData } from '../../records/envelope.ts';
import { exactNumber } from '../../records/exact-json.ts';
import { retrying } from '../sources/support/retrying.ts';
import { type DeletesConfig, RowMapper } from '../sources/support/rows.ts';
import type {
  ChangeWindow,
  ConnectorContext,
  Cursor,
  FieldInfo,
  Partition,
  SourceConnector,
  SourceDiscovery,
  SourceRow,
} from '../types.ts';
import {
  type ColumnKind,
  type KeysetColumn,
  type KeysetQuery,
  keysetCount,
  keysetKeysAt,
  keysetSelect,
  type SqlDialect,
  type Statement,
  selectColumn,
  splitKey,
} from './keyset.ts';

/** A column as the catalog describes it. */
export interface ColumnInfo extends FieldInfo {
  readonly kind: ColumnKind;
  /** See {@link KeysetColumn.byCodePoint}. @default - the column orders by code point itself */
  readonly byCodePoint?: string;
  /**
   * Whether the database orders the column's values (by {@link byCodePoint} when given) as
   * `domain/key-range.ts` compares the values read from it, so key ranges can be cut on it.
   * @default - a column of a kind key ranges compare: integer, text, boolean, decimal, float, timestamp, date, bytes
   */
  readonly rangeOrdered?: boolean;
  /** See {@link KeysetColumn.readAs}. @default - the quoted column, which reads as stored */
  readonly readAs?: string;
  /** The column's value from what {@link readAs} reads. @default - what it reads */
  readonly valueOfRead?: (read: unknown) => unknown;
}

/** How key ranges compare the values of each kind of column they can be cut on. */
const KEY_KINDS: Readonly<Partial<Record<ColumnKind, KeyKind>>> = {
  integer: 'integer',
  text: 'text',
  boolean: 'text',
  decimal: 'decimal',
  float: 'float',
  single: 'float',
  timestamp: 'timestamp',
  date: 'date',
  bytes: 'bytes',
};
/**
 * Kinds some of whose values ranges cannot place (a timestamp printed with an offset); floats
 * (a number, NaN or an infinity) and bytes (base64) always place.
 */
const TYPED_KINDS: ReadonlySet<KeyKind> = new Set<TypedKeyKind>(['decimal', 'timestamp', 'date']);

/**
 * Whether key ranges over these key columns place every key where Verify's comparison places
 * it. A column whose values are read otherwise than stored (MariaDB's FLOAT, printed to six
 * digits) would let Verify take a key of one range for a key of another, and so for a key the
 * source no longer has.
 */
const rangeOrdered = (columns: readonly ColumnInfo[]) =>
  columns.every((c) => c.rangeOrdered ?? KEY_KINDS[c.kind] !== undefined);

/**
 * How a range over these key columns compares each: integers exactly, text by code point,
 * decimals, floats, timestamps and dates by value, bytes byte by byte. A column of another kind
 * the source orders by code point (an enum's labels) compares as text.
 */
const rangeKinds = (columns: readonly ColumnInfo[]): KeyKind[] =>
  columns.map((c) => KEY_KINDS[c.kind] ?? 'text');

export interface TableDescription {
  readonly columns: readonly ColumnInfo[];
  readonly primaryKey: readonly string[];
  readonly approximateRows?: number;
}

/** One open connection pool to the database holding the table, as the generic source needs it. */
export interface SqlTableDriver {
  readonly dialect: SqlDialect;
  /** Quoted, qualified table name for queries. */
  readonly table: string;
  /** `table "public.users" in PostgreSQL at app@db:5432/app`, for messages. */
  readonly where: string;
  /** The table's columns and primary key; `undefined` when there is no such table. */
  describeTable(): Promise<TableDescription | undefined>;
  /**
   * Runs one statement. Errors come out classified: {@link TransientError} (retried),
   * `UnreachableError`, or {@link ConnectorError} naming the server and table.
   */
  query(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** What the generic table source reads from a pipeline's source config. */
export interface SqlTableSourceOptions {
  readonly connector: string;
  readonly key: readonly string[];
  readonly cursor: readonly string[];
  readonly deletes: DeletesConfig;
  readonly columns: readonly string[] | undefined;
  readonly pageSize: number;
  readonly retry: RetryOptions;
  readonly openDriver: () => Promise<SqlTableDriver>;
}

/** The settings a pipeline's SQL source config gives its table source. */
export type SqlSourceSettings = Pick<SqlTableSourceOptions, 'key' | 'cursor' | 'deletes' | 'pageSize'> & {
  readonly columns?: readonly string[] | undefined;
};

/** The table source of a SQL source config, whose driver opens on first use. */
export function sqlTableSource(
  connector: string,
  config: SqlSourceSettings,
  context: Pick<ConnectorContext, 'retry'>,
  openDriver: () => Promise<SqlTableDriver>,
): SourceConnector {
  const { key, cursor, deletes, columns, pageSize } = config;
  return new SqlTableSource({
    connector,
    key,
    cursor,
    deletes,
    columns,
    pageSize,
    retry: context.retry,
    openDriver,
  });
}

const CURSOR_KINDS: ReadonlySet<ColumnKind> = new Set([
  'timestamp',
  'date',
  'integer',
  'decimal',
  'float',
  'single',
  'text',
]);

/** Values a JSON envelope can carry: binary as base64, dates as ISO-8601, big integers exact. */
function normalizeValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint') return exactNumber(value.toString());
  return value;
}

/**
 * A timestamp as the database prints it, as ISO-8601 UTC (`canonicalIso`): milliseconds, or
 * microseconds when it has them (so keyset bounds built from it match the stored value
 * exactly). Text without an offset (`timestamp without time zone`, `DATETIME`) is taken as UTC.
 */
export function isoFromDatabaseText(text: string): string {
  const instant = toInstant(text);
  return instant === undefined ? text : canonicalIso(instant);
}

/** A key column's normalized value as a range bound: numbers stay numbers, anything else its text. */
function keyPartOf(normal: unknown): KeyPart {
  return typeof normal === 'number' && Number.isFinite(normal) ? normal : String(normal);
}

/**
 * A source reading one SQL table by keyset pagination over (cursor columns, key columns).
 * Partitions are key ranges cut at boundary keys the database numbers in key order (see
 * `domain/key-range.ts`); each pages through its range of the key's index in key order,
 * so it reads its own rows only. Rows whose cursor column is NULL cannot be placed in
 * cursor order; discover() refuses a table holding such rows.
 */
export class SqlTableSource implements SourceConnector {
  readonly #options: SqlTableSourceOptions;
  #driver: Promise<SqlTableDriver> | undefined;
  #description: Promise<TableDescription> | undefined;
  /** What each column read through a {@link ColumnInfo.readAs} expression stands for. */
  #valuesOfReads: ReadonlyMap<string, (read: unknown) => unknown> = new Map();
  #closed = false;

  constructor(options: SqlTableSourceOptions) {
    this.#options = options;
  }

  async discover(): Promise<SourceDiscovery> {
    const { table, driver } = await this.#table();
    const o = this.#options;
    const nullable = o.cursor.filter((name) => table.columns.find((c) => c.name === name)?.nullable);
    for (const name of nullable) {
      const column = driver.dialect.quote(name);
      const rows = await this.#query(
        driver,
        `SELECT 1 AS found FROM ${driver.table} WHERE ${column} IS NULL LIMIT 1`,
        [],
      );
      if (rows.length > 0)
        throw new ConnectorError(
          o.connector,
          `${driver.where}: some rows have a NULL cursor column "${name}" and could never be read incrementally; fill them or make the column NOT NULL`,
        );
    }
    const selected = this.#selectedColumns(table);
    return {
      fields: table.columns
        .filter((c) => selected === '*' || selected.includes(c.name))
        .map(({ name, type, nullable: n }) => ({ name, type, nullable: n })),
      primaryKey: table.primaryKey,
      capabilities: { incremental: o.cursor.length > 0, deletes: o.deletes.mode, cdc: false },
      fieldsFromCatalog: true,
      ...(table.approximateRows === undefined ? {} : { approximateRows: table.approximateRows }),
    };
  }

  /**
   * Key ranges of the window, `desired` of them at most and each at least a page; one partition
   * for the whole window when a key column cannot be cut in ranges (see {@link rangeOrdered}).
   */
  async planPartitions(window: ChangeWindow, desired: number): Promise<Partition[]> {
    const whole: Partition[] = [{ id: 'all', spec: {} }];
    if (desired <= 1) return whole;
    const { table } = await this.#table();
    const keyColumns = this.#options.key.map(
      (name) => table.columns.find((c) => c.name === name) as ColumnInfo,
    );
    if (!rangeOrdered(keyColumns)) return whole;
    const { driver, query } = await this.#keysetBase(window, []);
    const { pageSize } = this.#options;
    const cap = desired * pageSize;
    let total = await this.#count(driver, query, cap);
    const parts = Math.min(desired, Math.ceil(total / pageSize));
    if (parts <= 1) return whole;
    if (total >= cap) total = await this.#count(driver, query);
    const kinds = rangeKinds(keyColumns);
    if (!(await this.#placeable(driver, query, kinds))) return whole;
    const positions = boundaryPositions(total, parts);
    const statement = this.#statement(() => keysetKeysAt(driver.dialect, query, positions));
    const boundaries = (await this.#query(driver, statement.text, statement.params)).map((row) =>
      this.#keyTupleOf(row),
    );
    return keyRangePartitions(rangesFromBoundaries(boundaries, kinds));
  }

  /**
   * Whether ranges on typed key columns can place the window's keys: its first and last key in
   * key order (and so every key between) read as values of their kinds.
   */
  async #placeable(
    driver: SqlTableDriver,
    query: Omit<KeysetQuery, 'select'>,
    kinds: readonly KeyKind[],
  ): Promise<boolean> {
    if (!kinds.some((kind) => TYPED_KINDS.has(kind))) return true;
    const keys = query.key.map((c) => selectColumn(driver.dialect, c));
    const ends = await Promise.all(
      (['asc', 'desc'] as const).map(async (direction) => {
        const statement = this.#statement(() =>
          keysetSelect(driver.dialect, { ...query, select: keys, orderBy: 'key', direction, limit: 1 }),
        );
        return this.#query(driver, statement.text, statement.params);
      }),
    );
    return ends.flat().every((row) =>
      this.#keyTupleOf(row).every((part, i) => {
        const kind = kinds[i] as KeyKind;
        return !TYPED_KINDS.has(kind) || isPlaceable(kind as TypedKeyKind, part);
      }),
    );
  }

  /** A row's key columns as a range bound. */
  #keyTupleOf(row: Record<string, unknown>): KeyTuple {
    return this.#options.key.map((name) => keyPartOf(this.#valueOf(name, row[name])));
  }

  /** A column's value as a record holds it. */
  #valueOf(name: string, read: unknown): unknown {
    const valueOfRead = this.#valuesOfReads.get(name);
    return normalizeValue(valueOfRead ? valueOfRead(read) : read);
  }

  async *read(window: ChangeWindow, partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const { key, connector } = this.#options;
    const range = parseKeyRange(partition, key.length, connector);
    if (range) {
      const after = resumeAfter ? splitKey(resumeAfter.key, key.length) : range.after;
      yield* this.#readRange(window, { after, upTo: range.upTo });
      return;
    }
    const mapper = new RowMapper(this.#options);
    let after = resumeAfter;
    for (;;) {
      const { driver, query, select } = await this.#keysetBase(window, after ? [after] : []);
      const statement = this.#statement(() =>
        keysetSelect(driver.dialect, { ...query, select, limit: this.#options.pageSize }),
      );
      const records = await this.#query(driver, statement.text, statement.params);
      if (records.length === 0) return;
      const page = records.map((record) => this.#toRow(mapper, record, driver));
      yield page;
      if (records.length < this.#options.pageSize) return;
      after = (page[page.length - 1] as SourceRow).cursor;
    }
  }

  /** The window's rows of one key range, page by page in key order. */
  async *#readRange(window: ChangeWindow, range: KeyRange): AsyncIterable<SourceRow[]> {
    const mapper = new RowMapper(this.#options);
    let after = range.after;
    for (;;) {
      const { driver, query, select } = await this.#keysetBase(window, []);
      const statement = this.#statement(() =>
        keysetSelect(driver.dialect, {
          ...query,
          select,
          range: { after, upTo: range.upTo },
          orderBy: 'key',
          limit: this.#options.pageSize,
        }),
      );
      const records = await this.#query(driver, statement.text, statement.params);
      if (records.length === 0) return;
      yield records.map((record) => this.#toRow(mapper, record, driver));
      if (records.length < this.#options.pageSize) return;
      after = this.#keyTupleOf(records[records.length - 1] as Record<string, unknown>);
    }
  }

  async #count(driver: SqlTableDriver, query: Omit<KeysetQuery, 'select'>, cap?: number): Promise<number> {
    const count = this.#statement(() => keysetCount(driver.dialect, query, cap));
    const [row] = await this.#query(driver, count.text, count.params);
    return Number(row?.n ?? 0);
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    if (this.#options.cursor.length === 0) return null;
    const { driver, query } = await this.#keysetBase({ from: null, to: null }, []);
    const names = [...query.cursor, ...query.key].map((c) => selectColumn(driver.dialect, c));
    const statement = this.#statement(() =>
      keysetSelect(driver.dialect, { ...query, select: names, limit: 1, direction: 'desc' }),
    );
    const [record] = await this.#query(driver, statement.text, statement.params);
    if (!record) return null;
    const mapper = new RowMapper(this.#options);
    return this.#toRow(mapper, record, driver).cursor;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const driver = this.#driver;
    this.#driver = undefined;
    if (driver) await (await driver.catch(() => undefined))?.close();
  }

  #toRow(mapper: RowMapper, record: Record<string, unknown>, driver: SqlTableDriver): SourceRow {
    const data: RecordData = {};
    for (const [name, value] of Object.entries(record)) data[name] = this.#valueOf(name, value);
    const where = driver.where;
    const row = mapper.row(data, where);
    if (this.#options.key.length > 1 && row.cursor.key.split('#').length !== this.#options.key.length)
      throw new ConnectorError(
        this.#options.connector,
        `${where}: key "${row.cursor.key}" has a '#' inside a key column other than the last, so it cannot serve as a resume position`,
      );
    return row;
  }

  #selectedColumns(table: TableDescription): readonly string[] | '*' {
    const o = this.#options;
    if (!o.columns) return '*';
    const wanted = new Set([...o.columns, ...o.key, ...o.cursor]);
    if (o.deletes.mode === 'soft') wanted.add(o.deletes.column);
    return table.columns.map((c) => c.name).filter((name) => wanted.has(name));
  }

  async #keysetBase(
    window: ChangeWindow,
    extraAfter: readonly Cursor[],
  ): Promise<{
    driver: SqlTableDriver;
    query: Omit<KeysetQuery, 'select'>;
    select: readonly string[] | '*';
  }> {
    const { driver, table } = await this.#table();
    const columnOf = (name: string): KeysetColumn => {
      const column = table.columns.find((c) => c.name === name);
      return {
        name,
        kind: column?.kind ?? 'other',
        ...(column?.byCodePoint && { byCodePoint: column.byCodePoint }),
        ...(column?.readAs && { readAs: column.readAs }),
      };
    };
    const selected = this.#selectedColumns(table);
    const names =
      selected === '*' && table.columns.some((c) => c.readAs) ? table.columns.map((c) => c.name) : selected;
    return {
      driver,
      select: names === '*' ? '*' : names.map((name) => selectColumn(driver.dialect, columnOf(name))),
      query: {
        table: driver.table,
        cursor: this.#options.cursor.map(columnOf),
        key: this.#options.key.map(columnOf),
        after: [...(window.from ? [window.from] : []), ...extraAfter],
        upTo: window.to,
      },
    };
  }

  /** Builds a statement; a window bound that does not fit this table is a connector error. */
  #statement(build: () => Statement): Statement {
    try {
      return build();
    } catch (error) {
      if (error instanceof RangeError)
        throw new ConnectorError(this.#options.connector, error.message, { cause: error });
      throw error;
    }
  }

  async #query(
    driver: SqlTableDriver,
    text: string,
    params: readonly unknown[],
  ): Promise<Record<string, unknown>[]> {
    return retrying(this.#options.connector, this.#options.retry, () => driver.query(text, params));
  }

  #openDriver(): Promise<SqlTableDriver> {
    if (this.#closed) throw new ConnectorError(this.#options.connector, 'the source is closed');
    if (!this.#driver) {
      const opening = this.#options.openDriver();
      opening.catch(() => {
        if (this.#driver === opening) this.#driver = undefined;
      });
      this.#driver = opening;
    }
    return this.#driver;
  }

  async #table(): Promise<{ driver: SqlTableDriver; table: TableDescription }> {
    const driver = await this.#openDriver();
    if (!this.#description) {
      const describing = this.#describe(driver);
      describing.catch(() => {
        if (this.#description === describing) this.#description = undefined;
      });
      this.#description = describing;
    }
    return { driver, table: await this.#description };
  }

  async #describe(driver: SqlTableDriver): Promise<TableDescription> {
    const o = this.#options;
    const table = await retrying(o.connector, o.retry, () => driver.describeTable());
    if (!table)
      throw new ConnectorError(o.connector, `${driver.where}: no such table (or no privilege to see it)`);
    const names = new Set(table.columns.map((c) => c.name));
    const wanted = [
      ...o.key.map((name) => ({ name, role: 'key' })),
      ...o.cursor.map((name) => ({ name, role: 'cursor' })),
      ...(o.deletes.mode === 'soft' ? [{ name: o.deletes.column, role: 'soft-delete' }] : []),
      ...(o.columns ?? []).map((name) => ({ name, role: 'selected' })),
    ];
    const missing = wanted.filter((w) => !names.has(w.name));
    if (missing.length > 0)
      throw new ConnectorError(
        o.connector,
        `${driver.where} has no column ${missing.map((m) => `"${m.name}" (${m.role})`).join(', ')}; its columns are ${[...names].join(', ')}`,
      );
    for (const name of o.cursor) {
      const column = table.columns.find((c) => c.name === name) as ColumnInfo;
      if (!CURSOR_KINDS.has(column.kind))
        throw new ConnectorError(
          o.connector,
          `${driver.where}: cursor column "${name}" has type ${column.type}, which cannot order changes (use a timestamp, date, integer or text column)`,
        );
    }
    this.#valuesOfReads = new Map(
      table.columns.flatMap((c) => (c.valueOfRead ? [[c.name, c.valueOfRead] as const] : [])),
    );
    return table;
  }
}

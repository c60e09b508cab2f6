import { cursorFromRow, versionFromRow } from '../../../domain/cursor.ts';
import { compileFieldPath, type FieldGetter } from '../../../domain/field-path.ts';
import { formatInstant, toInstant } from '../../../domain/instant.ts';
import { ConnectorError, ValidationError } from '../../../errors.ts';
import type { SourceConfig } from '../../../pipeline/schema.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { isExactNumber } from '../../../records/exact-json.ts';
import { timestampVersion, type Version } from '../../../records/version.ts';
import type { Cursor, SourceRow } from '../../types.ts';

export type DeletesConfig = SourceConfig['deletes'];

const FALSE_TEXT = new Set(['', '0', 'f', 'false', 'n', 'no']);

/**
 * Whether a row is marked deleted by the soft-delete column. A configured value of `true`
 * matches any set value (true, 1, 't', a `deleted_at` timestamp), so both boolean flags and
 * deletion timestamps work; any other configured value must be equal (as text, so a
 * MySQL `1` matches a configured `1` or `'1'`).
 */
export function isSoftDeleted(data: Readonly<RecordData>, deletes: DeletesConfig): boolean {
  if (deletes.mode !== 'soft') return false;
  const value = compileFieldPath(deletes.column)(data);
  if (value === undefined || value === null) return false;
  if (deletes.value === true) {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'number') return value !== 0;
    return !FALSE_TEXT.has(String(value).trim().toLowerCase());
  }
  if (deletes.value === false)
    return value === false || value === 0 || FALSE_TEXT.has(String(value).toLowerCase());
  return String(value) === String(deletes.value);
}

/** Builds record keys from (possibly dotted) key fields; parts are joined by `#`, as `buildKey` does. */
export function compileRecordKey(keyFields: readonly string[]): (data: Readonly<RecordData>) => string {
  const getters: [string, FieldGetter][] = keyFields.map((field) => [field, compileFieldPath(field)]);
  return (data) =>
    getters
      .map(([field, get]) => {
        const value = get(data);
        if (value === undefined || value === null || value === '')
          throw new ValidationError(`key field "${field}" is missing or empty`, [
            { path: field, message: 'missing or empty' },
          ]);
        if (isExactNumber(value)) return value.value;
        if (typeof value === 'object') {
          throw new ValidationError(`key field "${field}" holds an object, not a scalar`, [
            { path: field, message: 'not a scalar' },
          ]);
        }
        return String(value);
      })
      .join('#');
}

/** How the rows of one source become {@link SourceRow}s. */
export interface RowShape {
  readonly connector: string;
  readonly key: readonly string[];
  readonly cursor: readonly string[];
  readonly deletes: DeletesConfig;
}

/**
 * Turns source records into rows: key, composite cursor from the pipeline's cursor fields,
 * version from the cursor (`versionFromRow`), and when there is no cursor a version from
 * the time the read started, which is monotonic across runs, so a full reload always
 * carries a version newer than the previous load's.
 */
export class RowMapper {
  readonly #shape: RowShape;
  readonly #key: (data: Readonly<RecordData>) => string;
  readonly #readStarted: string;
  readonly #firstCursor: FieldGetter | undefined;

  constructor(shape: RowShape, readStarted: Date = new Date()) {
    this.#shape = shape;
    this.#key = compileRecordKey(shape.key);
    this.#readStarted = readStarted.toISOString();
    this.#firstCursor = shape.cursor[0] === undefined ? undefined : compileFieldPath(shape.cursor[0]);
  }

  /** The record key of `data`; `where` names the record in an error (table row, object line). */
  key(data: Readonly<RecordData>, where: string): string {
    try {
      return this.#key(data);
    } catch (error) {
      throw new ConnectorError(this.#shape.connector, `${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** A row whose cursor is its pipeline cursor fields and key. */
  row(data: RecordData, where: string): SourceRow {
    const key = this.key(data, where);
    try {
      const cursor = cursorFromRow(data, this.#shape.cursor, key);
      return this.rowWith(data, key, cursor, this.#timestampOf(data));
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      throw new ConnectorError(this.#shape.connector, `${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * A row whose cursor the source decides (object position, scan order). `version`
   * replaces the cursor-derived version when the source knows better (an object's
   * LastModified and line).
   */
  rowWith(
    data: RecordData,
    key: string,
    cursor: Cursor,
    ts?: string,
    version: Version = versionFromRow(
      data,
      this.#shape.cursor,
      key,
      // Only a source without cursor fields needs it: built for every row, it cost a parse of the date.
      this.#shape.cursor.length === 0 ? timestampVersion(this.#readStarted, key) : undefined,
    ),
  ): SourceRow {
    return {
      data,
      deleted: isSoftDeleted(data, this.#shape.deletes),
      cursor,
      version,
      ts: ts ?? this.#readStarted,
    };
  }

  #timestampOf(data: Readonly<RecordData>): string | undefined {
    const instant = toInstant(this.#firstCursor?.(data));
    return instant === undefined ? undefined : formatInstant(instant, 3);
  }
}

import { isExactNumber } from '../records/exact-json.ts';
import type { ConnectFieldSchema } from './debezium-values.ts';

/**
 * The kinds of Debezium message that change no row: ESync counts them and applies nothing.
 * - `tombstone`: the null value Debezium sends after a delete for log compaction (on the bus,
 *   the JSON converter's `{"schema":null,"payload":null}`);
 * - `heartbeat`: `{ts_ms}` on the heartbeat topic;
 * - `transaction`: transaction metadata, `{status: BEGIN|END, id, ...}`;
 * - `schema-change`: a schema change event (`ddl`, `tableChanges`);
 * - `message`: a logical decoding message (`op: m`).
 */
export type IgnoredEventKind = 'tombstone' | 'heartbeat' | 'transaction' | 'schema-change' | 'message';

export const IGNORED_EVENT_KINDS: readonly IgnoredEventKind[] = [
  'tombstone',
  'heartbeat',
  'transaction',
  'schema-change',
  'message',
];

export type DebeziumKind =
  | { readonly kind: 'ignored'; readonly ignored: IgnoredEventKind }
  | {
      readonly kind: 'flattened';
      readonly row: Readonly<Record<string, unknown>>;
      readonly fieldSchemas: ReadonlyMap<string, ConnectFieldSchema> | undefined;
    }
  | { readonly kind: 'envelope' };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields `ExtractNewRecordState` adds: `__` + an envelope or source field (`add.fields`), and `__deleted`. */
const FLATTENED_FIELD =
  /^__(?:op|deleted|ts_ms|source_[a-z_]+|lsn|file|pos|row|sequence|table|db|schema|txId|xmin|snapshot|connector|name|version|server_id|gtid|thread|query)$/;

function schemaName(schema: unknown): string {
  return isObject(schema) && typeof schema.name === 'string' ? schema.name : '';
}

/** What a Debezium message (already out of its EventBridge and `{schema, payload}` wrappers) is. */
export function classifyDebezium(event: unknown, schema: unknown): DebeziumKind {
  if (event === null || event === undefined) return { kind: 'ignored', ignored: 'tombstone' };
  if (!isObject(event)) return { kind: 'envelope' };
  const name = schemaName(schema);
  const keys = Object.keys(event);
  if (name === 'io.debezium.connector.common.Heartbeat' || (keys.length === 1 && keys[0] === 'ts_ms'))
    return { kind: 'ignored', ignored: 'heartbeat' };
  if (
    name.endsWith('TransactionMetadataValue') ||
    (!('op' in event) && (event.status === 'BEGIN' || event.status === 'END') && 'id' in event)
  )
    return { kind: 'ignored', ignored: 'transaction' };
  if (
    name.endsWith('SchemaChangeValue') ||
    ('ddl' in event && ('tableChanges' in event || 'databaseName' in event))
  )
    return { kind: 'ignored', ignored: 'schema-change' };
  if ('op' in event || 'before' in event || 'after' in event || 'source' in event)
    return { kind: 'envelope' };
  return { kind: 'flattened', row: event, fieldSchemas: fieldSchemasOf(schema) };
}

/** The field schemas of a struct schema, by field name. */
function fieldSchemasOf(schema: unknown): Map<string, ConnectFieldSchema> | undefined {
  if (!isObject(schema) || !Array.isArray(schema.fields)) return undefined;
  const out = new Map<string, ConnectFieldSchema>();
  for (const f of schema.fields)
    if (isObject(f) && typeof f.field === 'string' && typeof f.type === 'string')
      out.set(f.field, f as unknown as ConnectFieldSchema);
  return out;
}

/** The field schemas of the `before` or `after` row in an envelope schema. */
export function rowFieldSchemas(
  schema: unknown,
  side: 'before' | 'after',
): Map<string, ConnectFieldSchema> | undefined {
  if (!isObject(schema) || !Array.isArray(schema.fields)) return undefined;
  const row = schema.fields.find((f) => isObject(f) && f.field === side);
  return fieldSchemasOf(row);
}

export interface FlattenedParts {
  readonly row: Record<string, unknown>;
  readonly source: {
    lsn?: number | string;
    file?: string;
    pos?: number | string;
    row?: number;
    sequence?: number | string;
    ts_ms?: number;
    table?: string;
  };
  readonly op: string | undefined;
  readonly deleted: boolean | undefined;
}

const positionOf = (v: unknown): number | string | undefined =>
  typeof v === 'number' || typeof v === 'string' ? v : isExactNumber(v) ? v.value : undefined;

/** Splits a flattened record into the row and what `add.fields` added (`__x` or `__source_x`). */
export function splitFlattened(flat: Readonly<Record<string, unknown>>): FlattenedParts {
  const row: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(flat)) if (!FLATTENED_FIELD.test(field)) row[field] = value;
  const added = (name: string): unknown => flat[`__${name}`] ?? flat[`__source_${name}`];
  const source: FlattenedParts['source'] = {};
  const lsn = positionOf(added('lsn'));
  if (lsn !== undefined) source.lsn = lsn;
  const file = added('file');
  if (typeof file === 'string') source.file = file;
  const pos = positionOf(added('pos'));
  if (pos !== undefined) source.pos = pos;
  const rowIndex = added('row');
  if (typeof rowIndex === 'number') source.row = rowIndex;
  const sequence = positionOf(added('sequence'));
  if (sequence !== undefined) source.sequence = sequence;
  const ts = flat.__source_ts_ms ?? flat.__ts_ms;
  if (typeof ts === 'number') source.ts_ms = ts;
  const table = added('table');
  if (typeof table === 'string') source.table = table;
  const op = typeof flat.__op === 'string' ? flat.__op : undefined;
  const d = flat.__deleted;
  const deleted = d === true || d === 'true' ? true : d === false || d === 'false' ? false : undefined;
  return { row, source, op, deleted };
}

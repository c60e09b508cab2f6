import * as z from 'zod';
import { type DebeziumSettings, defaultDebeziumSettings } from '../connectors/sources/cdc/config.ts';
import { compileRecordKey } from '../connectors/sources/support/rows.ts';
import { EsyncError, ValidationError } from '../errors.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { ExactNumber } from '../records/exact-json.ts';
import {
  lsnToBigInt,
  snapshotVersion,
  streamVersion,
  toIsoMillis,
  type Version,
} from '../records/version.ts';
import { parseAtEdge } from '../webhooks/parse.ts';
import {
  classifyDebezium,
  type FlattenedParts,
  type IgnoredEventKind,
  rowFieldSchemas,
  splitFlattened,
} from './debezium-kinds.ts';
import { type ConnectFieldSchema, decodeRow } from './debezium-values.ts';
import { unwrapEventBridge } from './eventbridge.ts';

/**
 * Debezium change events (https://debezium.io/documentation/reference/stable/connectors/):
 * `{before, after, op, source, ts_ms}`, as Debezium Server, Kafka Connect's JSON converter
 * (`{schema, payload}`) or an EventBridge event's `detail` delivers them.
 *
 * Ordering. Change events may arrive out of order and more than once; the target applies a
 * change only when its version is newer than the stored one. The version is the change's
 * commit time (`source.ts_ms`, else the envelope's `ts_ms`), so that it compares with polled
 * rows and webhook deliveries of the same records (`records/version.ts`), then its position
 * in the source's log, which breaks ties within one millisecond:
 * - PostgreSQL: `source.lsn` (a number, or `X/Y` text);
 * - MySQL/MariaDB: the binlog `source.file` index and `source.pos` (file × 10¹² + pos), with
 *   `source.row` (the row within a multi-row event) as sub-position;
 * - others: a numeric `source.sequence` (or the last number of Debezium PostgreSQL's
 *   `["<last commit lsn>","<lsn>"]`).
 * An event without a time or a position is refused: a late event could overwrite a newer one.
 * Snapshot reads (`op: r`) get a snapshot version, below every streamed change.
 *
 * Besides change events a Debezium stream carries messages that change no row (tombstones,
 * heartbeats, transaction metadata, schema changes; see `debezium-kinds.ts`), records flattened
 * by `ExtractNewRecordState` (versioned by the fields `add.fields` adds), and truncates. Values
 * are decoded by the schema the JSON converter sends, or by `source.debezium` (see
 * `debezium-values.ts`).
 */

const rowSchema = z.record(z.string(), z.unknown());
/** A number as parsed exactly: a JS number, or the literal of one beyond 2^53. */
const exactInteger = z.union([
  z.number().int().nonnegative(),
  z.instanceof(ExactNumber).transform((n) => n.value),
]);
const unsignedInteger = z.union([exactInteger, z.string().regex(/^\d+$/, 'a non-negative integer')]);

const sourceSchema = z.object({
  lsn: z.union([exactInteger, z.string()]).nullish(),
  file: z.string().nullish(),
  pos: unsignedInteger.nullish(),
  row: z.number().int().nonnegative().nullish(),
  sequence: z.union([exactInteger, z.string()]).nullish(),
  ts_ms: z.number().int().nonnegative().nullish(),
  db: z.string().nullish(),
  schema: z.string().nullish(),
  table: z.string().nullish(),
});

export const debeziumEventSchema = z.object({
  op: z.enum(['c', 'u', 'd', 'r', 't', 'm']),
  before: rowSchema.nullish(),
  after: rowSchema.nullish(),
  source: sourceSchema,
  ts_ms: z.number().int().nonnegative().nullish(),
});

export type DebeziumEvent = z.infer<typeof debeziumEventSchema>;

export interface DebeziumOptions {
  readonly pipeline: string;
  /** The pipeline's `source.key` fields, read from `after` (or `before` for a delete). */
  readonly keyFields: readonly string[];
  /** Id of the carrying event or message (EventBridge id, Kafka topic/partition/offset); provenance. */
  readonly deliveryId?: string;
  /** How the connector encodes values (`source.debezium`). @default - Debezium's defaults */
  readonly settings?: DebeziumSettings;
}

/**
 * What one Debezium message amounts to: change records, a truncate of the table (applied by the
 * load path as the pipeline's `source.truncate` says), or nothing (an event kind that changes
 * no row, counted by its kind).
 */
export type DebeziumDecoding =
  | { readonly kind: 'changes'; readonly records: RecordEnvelope[] }
  | { readonly kind: 'truncate'; readonly truncate: TruncateEvent }
  | { readonly kind: 'ignored'; readonly ignored: IgnoredEventKind };

/** A truncate of a source table: every row at or before this position is gone. */
export interface TruncateEvent {
  readonly table: string | undefined;
  readonly version: Version;
  readonly ts: string;
  readonly deliveryId?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The Debezium envelope inside whatever carries it: an EventBridge event (`detail`), the JSON
 * converter's `{schema, payload}`, or the envelope itself.
 */
export function unwrapDebezium(value: unknown): { event: unknown; schema?: unknown; eventId?: string } {
  const { detail, eventId } = unwrapEventBridge(value);
  const wrapped = isObject(detail) && !('op' in detail) && 'payload' in detail;
  const event = wrapped ? detail.payload : detail;
  const schema = wrapped ? detail.schema : undefined;
  return { event, ...(schema ? { schema } : {}), ...(eventId ? { eventId } : {}) };
}

/** The change's position in the source log: a number, and a sub-position within it. */
interface LogPosition {
  readonly position: bigint;
  readonly sub: bigint | number;
}

function logPosition(source: DebeziumEvent['source']): LogPosition | undefined {
  if (source.lsn !== undefined && source.lsn !== null)
    return { position: typeof source.lsn === 'number' ? BigInt(source.lsn) : parseLsn(source.lsn), sub: 0 };
  if (source.file && source.pos !== undefined && source.pos !== null) {
    const index = /(\d+)$/.exec(source.file)?.[1];
    if (index === undefined)
      throw new RangeError(`binlog file "${source.file}" does not end in its sequence number`);
    const pos = BigInt(source.pos);
    if (pos >= 10n ** 12n) throw new RangeError(`binlog position ${pos} exceeds 10^12`);
    return { position: BigInt(index) * 10n ** 12n + pos, sub: source.row ?? 0 };
  }
  if (source.sequence !== undefined && source.sequence !== null)
    return { position: parseSequence(source.sequence), sub: 0 };
  return undefined;
}

/**
 * The change's version (see the module comment and `records/version.ts`): its commit time,
 * then its log position; a snapshot read (`op: r`) gets a snapshot version.
 * @throws ValidationError when the event has no time or no position.
 */
export function debeziumVersion(
  source: DebeziumEvent['source'],
  envelopeTsMs?: number | null,
  op?: DebeziumEvent['op'],
): Version {
  const tsMs = source.ts_ms ?? envelopeTsMs;
  if (tsMs === undefined || tsMs === null)
    throw new ValidationError('debezium event has neither source.ts_ms nor ts_ms', [
      { path: 'source.ts_ms', message: 'required' },
    ]);
  let at: LogPosition | undefined;
  try {
    at = logPosition(source);
  } catch (error) {
    throw new ValidationError(`debezium event has an unusable source position: ${(error as Error).message}`, [
      { path: 'source', message: (error as Error).message },
    ]);
  }
  if (at === undefined)
    throw new ValidationError(
      'debezium event has no source position (source.lsn, source.file + source.pos, or source.sequence); without one a late event could overwrite a newer change',
      [{ path: 'source', message: 'no lsn, file+pos or sequence' }],
    );
  return op === 'r' ? snapshotVersion(tsMs, at.position) : streamVersion(tsMs, at.position, at.sub);
}

function parseLsn(text: string): bigint {
  if (/^\d+$/.test(text)) return BigInt(text);
  return lsnToBigInt(text);
}

function parseSequence(sequence: number | string): bigint {
  if (typeof sequence === 'number') return BigInt(sequence);
  if (/^\d+$/.test(sequence)) return BigInt(sequence);
  let parsed: unknown;
  try {
    parsed = JSON.parse(sequence);
  } catch {
    throw new RangeError(`source.sequence "${sequence}" is neither a number nor a JSON array of numbers`);
  }
  const numbers = Array.isArray(parsed) ? parsed.filter((p) => typeof p === 'string' && /^\d+$/.test(p)) : [];
  const last = numbers[numbers.length - 1];
  if (typeof last !== 'string') throw new RangeError(`source.sequence "${sequence}" holds no position`);
  return BigInt(last);
}

/** Zod's messages for a missing member name `undefined`; say what is wrong instead. */
const missingIsRequired = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : undefined),
};

/**
 * Decodes one Debezium message: a change event (with or without the JSON converter's schema),
 * a record flattened by `ExtractNewRecordState`, or a kind that changes no row (tombstone,
 * heartbeat, transaction metadata, schema change, logical decoding message).
 * @throws ValidationError for a malformed event, a delete without `before`, or an event
 * without a source position.
 */
export function decodeDebeziumMessage(value: unknown, options: DebeziumOptions): DebeziumDecoding {
  const { event: raw, schema, eventId } = unwrapDebezium(value);
  const kind = classifyDebezium(raw, schema);
  if (kind.kind === 'ignored') return kind;
  const settings = options.settings ?? defaultDebeziumSettings();
  const context = { ...options, settings, deliveryId: options.deliveryId ?? eventId };
  if (kind.kind === 'flattened')
    return { kind: 'changes', records: [decodeFlattened(kind.row, kind.fieldSchemas, context)] };
  const event = parseAtEdge(debeziumEventSchema, raw, 'debezium event', '', missingIsRequired);
  const version = debeziumVersion(event.source, event.ts_ms, event.op);
  const tsMs = event.source.ts_ms ?? event.ts_ms ?? 0;
  if (event.op === 'm') return { kind: 'ignored', ignored: 'message' };
  if (event.op === 't')
    return {
      kind: 'truncate',
      truncate: {
        table: event.source.table ?? undefined,
        version,
        ts: toIsoMillis(tsMs),
        ...(context.deliveryId ? { deliveryId: context.deliveryId } : {}),
      },
    };
  const deleted = event.op === 'd';
  const side = deleted ? 'before' : 'after';
  const row = event[side];
  if (!row)
    throw new ValidationError(
      deleted
        ? 'debezium delete event has no `before`, so its key is unknown (PostgreSQL: set REPLICA IDENTITY DEFAULT or FULL on the table)'
        : `debezium "${event.op}" event has no \`after\``,
      [{ path: side, message: 'required' }],
    );
  const data = decodeRow(row, { fieldSchemas: rowFieldSchemas(schema, side), settings }, side);
  return {
    kind: 'changes',
    records: [changeRecord(data, { deleted, side, version, tsMs }, context)],
  };
}

interface DecodeContext extends DebeziumOptions {
  readonly settings: DebeziumSettings;
}

/** The change record of one decoded row. */
function changeRecord(
  data: RecordData,
  at: { deleted: boolean; side: string; version: Version; tsMs: number },
  context: DecodeContext,
): RecordEnvelope {
  let key: string;
  try {
    key = compileRecordKey(context.keyFields)(data);
  } catch (error) {
    if (!(error instanceof EsyncError)) throw error;
    throw new ValidationError(
      `debezium event ${at.side}: ${error.message}`,
      [{ path: at.side, message: error.message }],
      { cause: error },
    );
  }
  return makeEnvelope({
    key,
    op: at.deleted ? 'delete' : 'upsert',
    version: at.version,
    ts: toIsoMillis(at.tsMs),
    data: at.deleted ? null : data,
    provenance: {
      pipeline: context.pipeline,
      ...(context.deliveryId ? { deliveryId: context.deliveryId } : {}),
    },
  });
}

/** True when the source fields name a position in the log (a malformed one too: the version reports it). */
function locatesChange(source: DebeziumEvent['source']): boolean {
  try {
    return logPosition(source) !== undefined;
  } catch {
    return true;
  }
}

/** What a flattened record lacks to be applied in order, in words; empty when it has all. */
function missingFlattenedFields(parts: FlattenedParts): string[] {
  const missing: string[] = [];
  if (parts.op === undefined && parts.deleted === undefined) missing.push('neither __op nor __deleted');
  if (typeof parts.source.ts_ms !== 'number') missing.push('no __source_ts_ms (or __ts_ms)');
  if (!locatesChange(parts.source))
    missing.push('no source position (__lsn; __file, __pos and __row; or __source_sequence)');
  return missing;
}

/**
 * Decodes a record flattened by `ExtractNewRecordState`: the row with the fields `add.fields`
 * added (`__op`, `__lsn`, `__source_ts_ms`, ...) and `__deleted` for a rewritten delete.
 * @throws ValidationError naming every missing field, so one fix of the connector settles it.
 */
function decodeFlattened(
  flat: Readonly<Record<string, unknown>>,
  fieldSchemas: ReadonlyMap<string, ConnectFieldSchema> | undefined,
  context: DecodeContext,
): RecordEnvelope {
  const parts = splitFlattened(flat);
  const { row, source, op, deleted } = parts;
  const missing = missingFlattenedFields(parts);
  // The time's check narrows its type; missingFlattenedFields names it.
  if (missing.length > 0 || typeof source.ts_ms !== 'number')
    throw new ValidationError(
      `flattened debezium record (ExtractNewRecordState) carries ${missing.join(', ')}; set add.fields=op,lsn,source.ts_ms (MySQL: op,file,pos,row,source.ts_ms) and delete.handling.mode=rewrite, so a late record cannot overwrite a newer change`,
      missing.map((m) => ({ path: /__\w+/.exec(m)?.[0] ?? 'record', message: m })),
    );
  if (op !== undefined && !['c', 'u', 'd', 'r'].includes(op))
    throw new ValidationError(`flattened debezium record has __op "${op}"; expected c, u, d or r`, [
      { path: '__op', message: 'not c, u, d or r' },
    ]);
  const version = debeziumVersion(source, undefined, op === 'r' ? 'r' : undefined);
  const isDelete = op === 'd' || deleted === true;
  const data = decodeRow(row, { fieldSchemas, settings: context.settings }, 'record');
  return changeRecord(data, { deleted: isDelete, side: 'record', version, tsMs: source.ts_ms }, context);
}

import * as z from 'zod';
import { compileRecordKey } from '../connectors/sources/support/rows.ts';
import { EsyncError, ValidationError } from '../errors.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { lsnToBigInt, positionVersion, toIsoMillis, type Version } from '../records/version.ts';
import { parseAtEdge } from '../webhooks/parse.ts';
import { unwrapEventBridge } from './eventbridge.ts';

/**
 * Debezium change events (https://debezium.io/documentation/reference/stable/connectors/):
 * `{before, after, op, source, ts_ms}`, as Debezium Server, Kafka Connect's JSON converter
 * (`{schema, payload}`) or an EventBridge event's `detail` delivers them.
 *
 * Ordering. Change events may arrive out of order and more than once; the target applies a
 * change only when its version is newer than the stored one. The version is the change's
 * position in the source's log:
 * - PostgreSQL: `source.lsn` (a number, or `X/Y` text), with `source.ts_ms` as sub-position;
 * - MySQL/MariaDB: the binlog `source.file` index and `source.pos` (file × 10¹² + pos), with
 *   `source.row` (the row within a multi-row event) as sub-position;
 * - others: a numeric `source.sequence` (or the last number of Debezium PostgreSQL's
 *   `["<last commit lsn>","<lsn>"]`), with `source.ts_ms` as sub-position.
 * An event with none of them is refused: without a position, a late event could overwrite a
 * newer one.
 */

const rowSchema = z.record(z.string(), z.unknown());
const unsignedInteger = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+$/, 'a non-negative integer'),
]);

const sourceSchema = z.object({
  lsn: z.union([z.number().int().nonnegative(), z.string()]).nullish(),
  file: z.string().nullish(),
  pos: unsignedInteger.nullish(),
  row: z.number().int().nonnegative().nullish(),
  sequence: z.union([z.number().int().nonnegative(), z.string()]).nullish(),
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
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The Debezium envelope inside whatever carries it: an EventBridge event (`detail`), the JSON
 * converter's `{schema, payload}`, or the envelope itself.
 */
export function unwrapDebezium(value: unknown): { event: unknown; eventId?: string } {
  const { detail, eventId } = unwrapEventBridge(value);
  const event = isObject(detail) && !('op' in detail) && isObject(detail.payload) ? detail.payload : detail;
  return { event, ...(eventId ? { eventId } : {}) };
}

/** The change's position in the source log, as a version; see the module comment. */
export function debeziumVersion(source: DebeziumEvent['source'], envelopeTsMs?: number | null): Version {
  const tsMs = source.ts_ms ?? envelopeTsMs ?? 0;
  try {
    if (source.lsn !== undefined && source.lsn !== null) {
      const lsn = typeof source.lsn === 'number' ? BigInt(source.lsn) : parseLsn(source.lsn);
      return positionVersion(lsn, tsMs);
    }
    if (source.file && source.pos !== undefined && source.pos !== null) {
      const index = /(\d+)$/.exec(source.file)?.[1];
      if (index === undefined)
        throw new RangeError(`binlog file "${source.file}" does not end in its sequence number`);
      const pos = BigInt(source.pos);
      if (pos >= 10n ** 12n) throw new RangeError(`binlog position ${pos} exceeds 10^12`);
      return positionVersion(BigInt(index) * 10n ** 12n + pos, source.row ?? 0);
    }
    if (source.sequence !== undefined && source.sequence !== null)
      return positionVersion(parseSequence(source.sequence), tsMs);
  } catch (error) {
    throw new ValidationError(`debezium event has an unusable source position: ${(error as Error).message}`, [
      { path: 'source', message: (error as Error).message },
    ]);
  }
  throw new ValidationError(
    'debezium event has no source position (source.lsn, source.file + source.pos, or source.sequence); without one a late event could overwrite a newer change',
    [{ path: 'source', message: 'no lsn, file+pos or sequence' }],
  );
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

/**
 * Decodes one Debezium change event into a change record (none for a logical-decoding message,
 * `op: m`, which changes no row).
 * @throws ValidationError for a malformed event, a truncate (`op: t`), a delete without `before`,
 * or an event without a source position.
 */
export function decodeDebeziumEvent(value: unknown, options: DebeziumOptions): RecordEnvelope[] {
  const { event: raw, eventId } = unwrapDebezium(value);
  const event = parseAtEdge(debeziumEventSchema, raw, 'debezium event');
  if (event.op === 'm') return [];
  if (event.op === 't')
    throw new ValidationError(
      `debezium truncate event for ${event.source.table ?? 'a table'} cannot be applied per key; run a full reload of the pipeline`,
      [{ path: 'op', message: 'truncate is not supported' }],
    );
  const deleted = event.op === 'd';
  const row = deleted ? event.before : event.after;
  if (!row)
    throw new ValidationError(
      deleted
        ? 'debezium delete event has no `before`, so its key is unknown (PostgreSQL: set REPLICA IDENTITY DEFAULT or FULL on the table)'
        : `debezium "${event.op}" event has no \`after\``,
      [{ path: deleted ? 'before' : 'after', message: 'required' }],
    );
  const version = debeziumVersion(event.source, event.ts_ms);
  const tsMs = event.source.ts_ms ?? event.ts_ms;
  if (tsMs === undefined || tsMs === null)
    throw new ValidationError('debezium event has neither source.ts_ms nor ts_ms', [
      { path: 'source.ts_ms', message: 'required' },
    ]);
  let key: string;
  try {
    key = compileRecordKey(options.keyFields)(row);
  } catch (error) {
    if (!(error instanceof EsyncError)) throw error;
    const side = deleted ? 'before' : 'after';
    throw new ValidationError(
      `debezium event ${side}: ${error.message}`,
      [{ path: side, message: error.message }],
      { cause: error },
    );
  }
  const deliveryId = options.deliveryId ?? eventId;
  return [
    makeEnvelope({
      key,
      op: deleted ? 'delete' : 'upsert',
      version,
      ts: toIsoMillis(tsMs),
      data: deleted ? null : (row as RecordData),
      provenance: { pipeline: options.pipeline, ...(deliveryId ? { deliveryId } : {}) },
    }),
  ];
}

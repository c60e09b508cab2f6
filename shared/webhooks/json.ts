import { compileRecordKey, isSoftDeleted } from '../connectors/sources/support/rows.ts';
import { versionFromRow } from '../domain/cursor.ts';
import { formatInstant, toInstant } from '../domain/instant.ts';
import { EsyncError, ValidationError } from '../errors.ts';
import type { SourceConfig } from '../pipeline/schema.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { timestampVersion } from '../records/version.ts';

/** Records one delivery may carry: enough for a bulk push, bounded so one body cannot flood the queue. */
export const MAX_RECORDS_PER_DELIVERY = 10_000;

export interface JsonDelivery {
  /** The parsed JSON body: one record (an object) or an array of them. */
  readonly body: unknown;
  /** What the body is called in errors (`body[3].id`). @default 'body' */
  readonly name?: string;
  readonly deliveryId: string;
  /** When the delivery arrived; the version of records without a cursor value. */
  readonly receivedAt: Date;
}

export interface JsonMappingOptions {
  readonly pipeline: string;
  readonly source: Pick<SourceConfig, 'key' | 'cursor' | 'deletes'>;
}

/**
 * Maps a generic JSON delivery to change records. The key comes from the pipeline's `source.key`
 * fields; the version from its `source.cursor` fields (a timestamp, or a position) like a batch
 * read, or, without a cursor, from the arrival time with the delivery id and the record's index
 * as tie-break (so records of one array keep their order). A record marked deleted by
 * `source.deletes` (mode soft) becomes a delete.
 * @throws ValidationError naming the record (`body[3].id`) and what is wrong with it.
 */
export function mapJsonDelivery(delivery: JsonDelivery, options: JsonMappingOptions): RecordEnvelope[] {
  const items = Array.isArray(delivery.body) ? delivery.body : [delivery.body];
  const many = Array.isArray(delivery.body);
  const name = delivery.name ?? 'body';
  if (items.length > MAX_RECORDS_PER_DELIVERY)
    throw new ValidationError(
      `the ${name} holds ${items.length} records; at most ${MAX_RECORDS_PER_DELIVERY} are accepted per delivery`,
      [{ path: name, message: 'too many records' }],
    );
  const keyOf = compileRecordKey(options.source.key);
  const receivedAt = delivery.receivedAt.toISOString();
  return items.map((item, index) => {
    const where = many ? `${name}[${index}]` : name;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new ValidationError(`${where} is not a JSON object`, [
        { path: where, message: 'expected an object' },
      ]);
    const data = item as RecordData;
    try {
      const key = keyOf(data);
      const fallback = timestampVersion(
        receivedAt,
        `${delivery.deliveryId}|${String(index).padStart(6, '0')}`,
        'webhook',
      );
      const version = versionFromRow(data, options.source.cursor, key, fallback, 'webhook');
      const cursorInstant =
        options.source.cursor[0] === undefined ? undefined : toInstant(data[options.source.cursor[0]]);
      const deleted = isSoftDeleted(data, options.source.deletes);
      return makeEnvelope({
        key,
        op: deleted ? 'delete' : 'upsert',
        version,
        ts: cursorInstant === undefined ? receivedAt : formatInstant(cursorInstant, 3),
        data: deleted ? null : data,
        provenance: { pipeline: options.pipeline, deliveryId: delivery.deliveryId },
      });
    } catch (error) {
      if (!(error instanceof EsyncError)) throw error;
      const issues = error instanceof ValidationError ? error.issues : [];
      throw new ValidationError(
        `${where}: ${error.message}`,
        issues.length > 0
          ? issues.map((i) => ({ path: `${where}.${i.path}`, message: i.message }))
          : [{ path: where, message: error.message }],
        { cause: error },
      );
    }
  });
}

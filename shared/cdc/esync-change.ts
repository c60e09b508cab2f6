import * as z from 'zod';
import { isIsoTimestamp } from '../domain/instant.ts';
import { ValidationError } from '../errors.ts';
import { makeEnvelope, type RecordEnvelope, recordKeySchema } from '../records/envelope.ts';
import { toIsoMillis } from '../records/version.ts';
import { parseAtEdge } from '../webhooks/parse.ts';
import { unwrapEventBridge } from './eventbridge.ts';

/** The EventBridge `detail-type` of ESync's own change event. */
export const ESYNC_CHANGE_DETAIL_TYPE = 'esync.change';

/**
 * The `detail` of an `esync.change` event: one change of one record, for producers that know
 * their own ordering (`version`: a string whose byte order is the change order, such as
 * `records/version.ts` builds).
 */
export const esyncChangeSchema = z
  .object({
    pipeline: z.string().min(1),
    key: recordKeySchema,
    op: z.enum(['upsert', 'delete']),
    version: z.string().min(1).max(200),
    ts: z.string().refine(isIsoTimestamp, 'an ISO-8601 timestamp'),
    data: z.record(z.string(), z.unknown()).nullish(),
  })
  .refine((c) => c.op === 'delete' || (c.data !== null && c.data !== undefined), {
    message: 'an upsert needs data',
    path: ['data'],
  });

export type EsyncChange = z.infer<typeof esyncChangeSchema>;

export interface EsyncChangeOptions {
  /** The pipeline the event was routed to; an event naming another pipeline is refused. */
  readonly pipeline: string;
  readonly deliveryId?: string;
}

/**
 * Decodes an `esync.change` event (the whole EventBridge event, or its `detail`) into a change record.
 * @throws ValidationError naming the wrong fields, or when the event names another pipeline.
 */
export function decodeEsyncChange(value: unknown, options: EsyncChangeOptions): RecordEnvelope {
  const { detail, eventId } = unwrapEventBridge(value);
  const change = parseAtEdge(esyncChangeSchema, detail, 'esync.change event', 'detail');
  if (change.pipeline !== options.pipeline)
    throw new ValidationError(
      `esync.change event for pipeline "${change.pipeline}" was routed to pipeline "${options.pipeline}"`,
      [{ path: 'detail.pipeline', message: 'another pipeline' }],
    );
  const deliveryId = options.deliveryId ?? eventId;
  return makeEnvelope({
    key: change.key,
    op: change.op,
    version: change.version,
    ts: toIsoMillis(change.ts),
    data: change.op === 'delete' ? null : (change.data ?? null),
    provenance: { pipeline: options.pipeline, ...(deliveryId ? { deliveryId } : {}) },
  });
}

/** The `detail` of an `esync.change` event for a record, for producers written against ESync. */
export function esyncChangeDetail(
  pipeline: string,
  record: Pick<RecordEnvelope, 'key' | 'op' | 'version' | 'ts' | 'data'>,
): EsyncChange {
  return {
    pipeline,
    key: record.key,
    op: record.op,
    version: record.version,
    ts: record.ts,
    data: record.op === 'delete' ? null : record.data,
  };
}

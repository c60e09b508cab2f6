import * as z from 'zod';
import { contentHash, DELETED_HASH } from './hash.ts';

/** A scalar or composite record key, always carried as one string (composite parts joined by `#`). */
export const recordKeySchema = z.string().min(1).max(1024);

export const provenanceSchema = z.object({
  pipeline: z.string(),
  /** Batch run that extracted the record; absent for pushed changes. */
  runId: z.string().optional(),
  /** Webhook delivery or CDC event id; absent for batch runs. */
  deliveryId: z.string().optional(),
  /** True when the record comes from a first, full load (no checkpoint yet). */
  initial: z.boolean().optional(),
});

/**
 * The one shape every change travels in, from extract or webhook or CDC to load.
 * `version` orders changes of one key (see `version.ts`); `hash` is the content hash
 * of `data` *before* transform, so a re-extract of unchanged data is recognised.
 */
export const recordEnvelopeSchema = z.object({
  key: recordKeySchema,
  op: z.enum(['upsert', 'delete']),
  version: z.string().min(1),
  /** Source-side change time, ISO-8601. */
  ts: z.string(),
  data: z.record(z.string(), z.unknown()).nullable(),
  hash: z.string(),
  provenance: provenanceSchema,
  /**
   * The pipeline's key expression failed on this record (`source.keyExpression`): `key` is made
   * of the `source.key` fields instead, and Load quarantines the record with this reason.
   */
  keyError: z.object({ expression: z.string(), error: z.string() }).optional(),
});

export type RecordEnvelope = z.infer<typeof recordEnvelopeSchema>;
export type Provenance = z.infer<typeof provenanceSchema>;
export type RecordData = Record<string, unknown>;

/** Builds a record key from the values of the key fields, in order. */
export function buildKey(data: RecordData, keyFields: readonly string[]): string {
  const parts = keyFields.map((field) => {
    const value = data[field];
    if (value === undefined || value === null || value === '')
      throw new RangeError(`key field "${field}" is missing or empty`);
    return String(value);
  });
  return parts.join('#');
}

/** Creates an envelope, computing the content hash of the data. */
export function makeEnvelope(input: {
  key: string;
  op: 'upsert' | 'delete';
  version: string;
  ts: string;
  data: RecordData | null;
  provenance: Provenance;
  keyError?: RecordEnvelope['keyError'];
}): RecordEnvelope {
  return { ...input, hash: input.data === null ? DELETED_HASH : contentHash(input.data) };
}

import { z } from 'zod';
import { recordEnvelopeSchema } from './envelope.ts';

/**
 * Bodies of load-queue messages. A batch of envelopes inline, or a claim check pointing at
 * S3 when a record is too large for a message. CDC events arrive on the same queue as raw
 * EventBridge events (see `shared/cdc`), told apart by their `detail-type`.
 */
export const recordsMessageSchema = z.object({
  kind: z.literal('records'),
  v: z.literal(1),
  pipeline: z.string(),
  /** Deterministic id of this group of records (see `domain/pack.ts` messageKey). */
  messageKey: z.string(),
  /** Ledger scope: `RUN#<runId>` or `STREAM#<pipeline>#<day>`. */
  scope: z.string(),
  records: z.array(recordEnvelopeSchema),
});

export const claimCheckMessageSchema = z.object({
  kind: z.literal('claim-check'),
  v: z.literal(1),
  pipeline: z.string(),
  messageKey: z.string(),
  scope: z.string(),
  count: z.number().int().positive(),
  bucket: z.string(),
  key: z.string(),
});

export const loadMessageSchema = z.discriminatedUnion('kind', [
  recordsMessageSchema,
  claimCheckMessageSchema,
]);
export type LoadMessage = z.infer<typeof loadMessageSchema>;
export type RecordsMessage = z.infer<typeof recordsMessageSchema>;

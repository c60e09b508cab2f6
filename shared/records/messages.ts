import * as z from 'zod';
import { recordEnvelopeSchema } from './envelope.ts';
import { stringifyExactJson } from './exact-json.ts';

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

/**
 * The body of a records message: the fields of `header`, then `records`, given as the JSON
 * array packing already wrote (serializing a message's records again would double the work).
 * With `[]` it gives the body's overhead around the records, which packing counts.
 */
export function recordsMessageBody(header: Omit<RecordsMessage, 'records'>, recordsJson: string): string {
  const fields = stringifyExactJson(header);
  return `${fields.slice(0, -1)},"records":${recordsJson}}`;
}

const ENVELOPE_KEYS: ReadonlySet<string> = new Set([
  'key',
  'op',
  'version',
  'ts',
  'data',
  'hash',
  'provenance',
  'keyError',
]);
const PROVENANCE_KEYS: ReadonlySet<string> = new Set(['pipeline', 'runId', 'deliveryId', 'initial']);
const MESSAGE_KEYS: ReadonlySet<string> = new Set([
  'kind',
  'v',
  'pipeline',
  'messageKey',
  'scope',
  'records',
]);

function onlyKeys(value: object, allowed: ReadonlySet<string>): boolean {
  for (const key in value) if (!allowed.has(key) || !Object.hasOwn(value, key)) return false;
  return true;
}

/** A JSON object as `JSON.parse` makes it, without a member that would reach the prototype. */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !Object.hasOwn(value, '__proto__')
  );
}

function isKeyError(value: unknown): boolean {
  return (
    isJsonObject(value) &&
    Object.keys(value).length === 2 &&
    typeof value.expression === 'string' &&
    typeof value.error === 'string'
  );
}

function isEnvelope(value: unknown): boolean {
  if (!isJsonObject(value) || !onlyKeys(value, ENVELOPE_KEYS)) return false;
  const { key, op, version, ts, data, hash, provenance, keyError } = value;
  if (typeof key !== 'string' || key.length < 1 || key.length > 1024) return false;
  if ((op !== 'upsert' && op !== 'delete') || typeof version !== 'string' || version.length < 1) return false;
  if (typeof ts !== 'string' || typeof hash !== 'string') return false;
  if (data !== null && !isJsonObject(data)) return false;
  if (keyError !== undefined && !isKeyError(keyError)) return false;
  if (!isJsonObject(provenance) || !onlyKeys(provenance, PROVENANCE_KEYS)) return false;
  const { pipeline, runId, deliveryId, initial } = provenance;
  return (
    typeof pipeline === 'string' &&
    (runId === undefined || typeof runId === 'string') &&
    (deliveryId === undefined || typeof deliveryId === 'string') &&
    (initial === undefined || typeof initial === 'boolean')
  );
}

/**
 * Parses a load-queue message body (already JSON-decoded), as `loadMessageSchema.safeParse`.
 * A records message holding exactly the schema's members, as Extract writes them, is checked
 * by hand and returned as it is: zod would copy every record's data, which measured as the
 * largest share of decoding a message. Anything else (extra members, a claim check, an invalid
 * message) goes through zod, which also names what is wrong.
 */
export function parseLoadMessage(body: unknown): ReturnType<typeof loadMessageSchema.safeParse> {
  if (
    isJsonObject(body) &&
    onlyKeys(body, MESSAGE_KEYS) &&
    body.kind === 'records' &&
    body.v === 1 &&
    typeof body.pipeline === 'string' &&
    typeof body.messageKey === 'string' &&
    typeof body.scope === 'string' &&
    Array.isArray(body.records) &&
    body.records.every(isEnvelope)
  )
    return { success: true, data: body as RecordsMessage };
  return loadMessageSchema.safeParse(body);
}

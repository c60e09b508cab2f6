import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { loadQueueUrl } from '../config.ts';
import { messageKey, packRecords } from '../domain/pack.ts';
import { TransientError } from '../errors.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { stringifyExactJson } from '../records/exact-json.ts';
import type { LoadMessage } from '../records/messages.ts';
import type { MessageOrigin } from '../state/ledger.ts';
import type { Deps } from './deps.ts';

/** SQS limits: 10 entries and 1 MiB per SendMessageBatch call. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 1_048_576;
/** Room for the envelope fields around the records array. */
const MESSAGE_OVERHEAD_BYTES = 512;

export interface EnqueueResult {
  readonly messages: number;
  readonly records: number;
  readonly claimChecks: number;
}

/**
 * Packs records into load-queue messages, registers them in the ledger, then sends them.
 * Registering first means a message can never be loaded without being counted. A message
 * registered but never sent (a crash in between) is sent again by a retried caller under the
 * same deterministic key; one of a partition's Extract carries its `origin`, so that a run
 * resuming the partition abandons it (resume.ts) instead of waiting for it.
 */
export async function enqueueRecords(
  deps: Deps,
  pipelineName: string,
  scope: string,
  records: readonly RecordEnvelope[],
  /**
   * Mixed into message keys when the same records may legitimately arrive twice as different
   * messages (two webhook deliveries of one version); a retried call passes the same seed.
   */
  keySeed = '',
  origin?: MessageOrigin,
  /** Records sent without the fields `schema.onDrift: discard` leaves out, counted in the ledger. */
  trimmed?: ReadonlySet<RecordEnvelope>,
): Promise<EnqueueResult> {
  if (records.length === 0) return { messages: 0, records: 0, claimChecks: 0 };
  const pipeline = deps.catalog.get(pipelineName);
  const groups = packRecords(records, {
    maxRecords: pipeline.batch.size,
    maxBytes: pipeline.batch.maxBytes - MESSAGE_OVERHEAD_BYTES,
  });
  const bodies: { messageKey: string; records: number; fieldsDiscarded: number; body: string }[] = [];
  const trimmedIn = (group: readonly RecordEnvelope[]) =>
    trimmed === undefined || trimmed.size === 0 ? 0 : group.filter((r) => trimmed.has(r)).length;
  let claimChecks = 0;
  for (const group of groups) {
    if ('claimCheck' in group) {
      const record = group.claimCheck;
      const key = messageKey(`${scope}|${keySeed}`, [record]);
      const objectKey = `claim-check/${pipelineName}/${encodeURIComponent(scope)}/${key}.json`;
      await deps.clients.s3.send(
        new PutObjectCommand({
          Bucket: deps.config.dataBucket,
          Key: objectKey,
          Body: stringifyExactJson([record]),
          ContentType: 'application/json',
        }),
      );
      const message: LoadMessage = {
        kind: 'claim-check',
        v: 1,
        pipeline: pipelineName,
        messageKey: key,
        scope,
        count: 1,
        bucket: deps.config.dataBucket,
        key: objectKey,
      };
      bodies.push({
        messageKey: key,
        records: 1,
        fieldsDiscarded: trimmedIn([record]),
        body: stringifyExactJson(message),
      });
      claimChecks++;
    } else {
      const key = messageKey(`${scope}|${keySeed}`, group.records);
      const message: LoadMessage = {
        kind: 'records',
        v: 1,
        pipeline: pipelineName,
        messageKey: key,
        scope,
        records: [...group.records],
      };
      bodies.push({
        messageKey: key,
        records: group.records.length,
        fieldsDiscarded: trimmedIn(group.records),
        body: stringifyExactJson(message),
      });
    }
  }
  await deps.state.ledger.register(
    scope,
    bodies.map((b) => ({ messageKey: b.messageKey, records: b.records, fieldsDiscarded: b.fieldsDiscarded })),
    origin,
  );
  await sendBodies(deps, loadQueueUrl(deps.config, pipelineName), bodies);
  return { messages: bodies.length, records: records.length, claimChecks };
}

async function sendBodies(
  deps: Deps,
  queueUrl: string,
  bodies: readonly { messageKey: string; body: string }[],
) {
  let batch: SendMessageBatchRequestEntry[] = [];
  let batchBytes = 0;
  const flush = async () => {
    let pending = batch;
    batch = [];
    batchBytes = 0;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await deps.clients.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      const senderFault = (out.Failed ?? []).find((f) => f.SenderFault);
      if (senderFault)
        throw new Error(`queue refused a message: ${senderFault.Code} ${senderFault.Message ?? ''}`);
      pending = pending.filter((e) => failed.has(e.Id));
      if (pending.length > 0 && attempt >= 5)
        throw new TransientError(`${pending.length} messages could not be sent to ${queueUrl}`);
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * Math.random()));
    }
  };
  for (const [i, b] of bodies.entries()) {
    const bytes = Buffer.byteLength(b.body);
    if (batch.length === MAX_BATCH_ENTRIES || batchBytes + bytes > MAX_BATCH_BYTES) await flush();
    batch.push({ Id: String(i), MessageBody: b.body });
    batchBytes += bytes;
  }
  await flush();
}

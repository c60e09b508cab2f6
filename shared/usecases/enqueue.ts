import type { SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { s3Commands } from '../aws/s3-commands.ts';
import { sqsCommands } from '../aws/sqs-commands.ts';
import { loadQueueUrl } from '../config.ts';
import {
  escapedJsonBytes,
  groupIdentity,
  MESSAGE_KEY_CHARS,
  messageKey,
  type PackOptions,
  packRecords,
} from '../domain/pack.ts';
import { PartitionTakenOverError, TransientError } from '../errors.ts';
import { messageEventBytesLimit, SQS_MAX_MESSAGE_BYTES } from '../pipeline/load-batching.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { stringifyExactJson } from '../records/exact-json.ts';
import { type LoadMessage, type RecordsMessage, recordsMessageBody } from '../records/messages.ts';
import type { MessageOrigin } from '../state/ledger.ts';
import type { Deps } from './deps.ts';
import type { VouchingChain } from './unchanged-messages.ts';

/** SQS takes 10 entries per SendMessageBatch call, of 1 MiB together. */
const MAX_BATCH_ENTRIES = 10;

export interface EnqueueResult {
  readonly messages: number;
  readonly records: number;
  readonly claimChecks: number;
  /** Of `messages`, those registered done and not sent: the vouching run loaded them clean. */
  readonly vouched: number;
}

/** One load-queue message to register and send. */
interface Body {
  readonly messageKey: string;
  readonly records: number;
  /** Of those, the records sent without the fields `schema.onDrift: discard` leaves out. */
  readonly fieldsDiscarded: number;
  readonly body: string;
  /** The records' content digest; none for a claim check, which is always sent. */
  readonly content?: string;
  /** The message's key in the vouching run's ledger, had that run packed the same records. */
  readonly keyThere?: string;
  readonly claimCheck?: true;
}

/** What a partition's Extract adds to {@link enqueueRecords}. */
export interface PartitionEnqueue {
  /** Where the messages come from, so that a run resuming the partition abandons them unsent. */
  readonly origin?: MessageOrigin;
  /** Records sent without the fields `schema.onDrift: discard` leaves out, counted in the ledger. */
  readonly trimmed?: ReadonlySet<RecordEnvelope>;
  readonly chain?: VouchingChain;
  /**
   * Checks that the partition is still this run's, after each registration and before its send
   * (PartitionTracker.confirmOwner).
   */
  readonly confirmOwner?: () => Promise<void>;
}

/**
 * Packs records into load-queue messages, registers them in the ledger, then sends them.
 * Registering first means a message can never be loaded without being counted. A message
 * registered but never sent (a crash in between) is sent again by a retried caller under the
 * same deterministic key; one of a partition's Extract carries its `origin`, so that a run
 * resuming the partition abandons it (resume.ts) instead of waiting for it; with `confirmOwner`,
 * no message is sent once that run has claimed the partition. With a `chain`
 * (unchanged-messages.ts), each message is registered with its content digest, and one that the
 * vouching run loaded clean with the same digest is registered done and not sent. The next
 * queue batch is registered while one is sent, never sent before its registration ended.
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
  partition: PartitionEnqueue = {},
): Promise<EnqueueResult> {
  if (records.length === 0) return { messages: 0, records: 0, claimChecks: 0, vouched: 0 };
  const { origin, trimmed, chain, confirmOwner } = partition;
  const trimmedIn = (group: readonly RecordEnvelope[]) =>
    trimmed === undefined || trimmed.size === 0 ? 0 : group.filter((r) => trimmed.has(r)).length;
  const packing = { pipelineName, scope, keySeed, chain, trimmedIn };
  const bodies = await packBodies(deps, packing, records);
  const vouchingScope = chain?.scope;
  const vouched = vouchingScope ? await vouchedBodies(deps, vouchingScope, bodies) : new Set<string>();
  const registerAll = (group: readonly Body[]) =>
    deps.state.ledger.register(
      scope,
      group.map((b) => ({
        messageKey: b.messageKey,
        records: b.records,
        fieldsDiscarded: b.fieldsDiscarded,
        ...(b.content ? { content: b.content } : {}),
        ...(vouched.has(b.messageKey) ? { vouchedBy: vouchingScope } : {}),
      })),
      origin,
    );
  const register = confirmOwner ? registeredIfOwned(deps, scope, registerAll, confirmOwner) : registerAll;
  if (vouched.size > 0) await register(bodies.filter((b) => vouched.has(b.messageKey)));
  await registerAndSend(
    deps,
    loadQueueUrl(deps.config, pipelineName),
    bodies.filter((b) => !vouched.has(b.messageKey)),
    register,
  );
  const claimChecks = bodies.filter((b) => b.claimCheck).length;
  return { messages: bodies.length, records: records.length, claimChecks, vouched: vouched.size };
}

/** Where and how {@link packBodies} packs. */
interface Packing {
  readonly pipelineName: string;
  readonly scope: string;
  readonly keySeed: string;
  readonly chain: VouchingChain | undefined;
  readonly trimmedIn: (group: readonly RecordEnvelope[]) => number;
}

/** The messages of `records`: groups within the batch limits, a claim check for a record too large. */
async function packBodies(deps: Deps, packing: Packing, records: readonly RecordEnvelope[]): Promise<Body[]> {
  const { pipelineName, scope, keySeed, chain, trimmedIn } = packing;
  const header = (key: string): Omit<RecordsMessage, 'records'> => ({
    kind: 'records',
    v: 1,
    pipeline: pipelineName,
    messageKey: key,
    scope,
  });
  const groups = packRecords(records, messageLimits(deps, header('x'.repeat(MESSAGE_KEY_CHARS))));
  const scopes = [`${scope}|${keySeed}`, ...(chain?.scope ? [`${chain.scope}|${keySeed}`] : [])];
  const bodies: Body[] = [];
  for (const group of groups) {
    if ('claimCheck' in group) {
      const body = await claimCheckBody(deps, packing, group.claimCheck);
      bodies.push({ ...body, fieldsDiscarded: trimmedIn([group.claimCheck]) });
      continue;
    }
    const {
      keys: [key, keyThere],
      content,
    } = groupIdentity(group.records, scopes, chain?.fingerprint);
    bodies.push({
      messageKey: key as string,
      records: group.records.length,
      fieldsDiscarded: trimmedIn(group.records),
      body: recordsMessageBody(header(key as string), group.json),
      ...(content ? { content } : {}),
      ...(keyThere ? { keyThere } : {}),
    });
  }
  return bodies;
}

/**
 * How a pipeline's records are packed: `batch.size` records and `batch.maxBytes` per message,
 * and no larger escaped than lets `load.batchSize` messages fit in one Load invocation's event.
 * The overheads are those of `header`'s body, whose message key has the length of every key.
 */
function messageLimits(deps: Deps, header: Omit<RecordsMessage, 'records'>): PackOptions {
  const pipeline = deps.catalog.get(header.pipeline);
  const around = recordsMessageBody(header, '');
  return {
    maxRecords: pipeline.batch.size,
    maxBytes: pipeline.batch.maxBytes,
    overheadBytes: Buffer.byteLength(around),
    maxEventBytes: messageEventBytesLimit(pipeline.load.batchSize),
    eventOverheadBytes: escapedJsonBytes(around),
  };
}

/** A record too large for a message: written to S3, the message carries where. */
async function claimCheckBody(
  deps: Deps,
  packing: Packing,
  record: RecordEnvelope,
): Promise<Omit<Body, 'fieldsDiscarded'>> {
  const { pipelineName, scope, keySeed } = packing;
  const key = messageKey(`${scope}|${keySeed}`, [record]);
  const objectKey = `claim-check/${pipelineName}/${encodeURIComponent(scope)}/${key}.json`;
  const { PutObjectCommand } = await s3Commands();
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
  return { messageKey: key, records: 1, body: stringifyExactJson(message), claimCheck: true };
}

/** The keys of the bodies whose counterpart the vouching run's ledger shows loaded clean with the same content. */
async function vouchedBodies(
  deps: Deps,
  vouchingScope: string,
  bodies: readonly Body[],
): Promise<Set<string>> {
  const here = new Map<string, string>();
  const asked: { messageKey: string; content: string }[] = [];
  for (const b of bodies)
    if (b.content && b.keyThere) {
      here.set(b.keyThere, b.messageKey);
      asked.push({ messageKey: b.keyThere, content: b.content });
    }
  if (asked.length === 0) return new Set();
  const clean = await deps.state.ledger.loadedClean(vouchingScope, asked);
  return new Set([...clean].flatMap((there) => here.get(there) ?? []));
}

/**
 * `register`, then `confirmOwner`. A batch registered while its run still owned the partition is
 * found by a run that claims it later, and abandoned by it unless the partition's progress
 * reaches it; one registered after the claim might be missed, so it is abandoned here and never
 * sent, and the Extract stops.
 */
function registeredIfOwned<B extends { readonly messageKey: string }>(
  deps: Deps,
  scope: string,
  register: (group: readonly B[]) => Promise<void>,
  confirmOwner: () => Promise<void>,
): (group: readonly B[]) => Promise<void> {
  return async (group) => {
    await register(group);
    try {
      await confirmOwner();
    } catch (error) {
      if (error instanceof PartitionTakenOverError)
        await deps.state.ledger.abandonRegistered(
          scope,
          group.map((b) => b.messageKey),
        );
      throw error;
    }
  };
}

/** The bodies in the queue batches they are sent in: 10 entries and 1 MiB per SendMessageBatch. */
function queueBatches<B extends { readonly body: string }>(bodies: readonly B[]): B[][] {
  const batches: B[][] = [];
  let batch: B[] = [];
  let batchBytes = 0;
  for (const b of bodies) {
    const bytes = Buffer.byteLength(b.body);
    if (
      batch.length === MAX_BATCH_ENTRIES ||
      (batch.length > 0 && batchBytes + bytes > SQS_MAX_MESSAGE_BYTES)
    ) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(b);
    batchBytes += bytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Sends the bodies batch by batch, each registered by `register` before it is sent; the next
 * batch's registration overlaps the send of this one, one ahead at most. A send that fails
 * leaves the next batch registered and unsent, as a crash between the two would.
 */
async function registerAndSend<B extends { readonly body: string }>(
  deps: Deps,
  queueUrl: string,
  bodies: readonly B[],
  register: (batch: readonly B[]) => Promise<void>,
): Promise<void> {
  const batches = queueBatches(bodies);
  // Handled at once: a registration failing during a send is awaited, and thrown, after it.
  const registerAhead = (batch: readonly B[] | undefined) => {
    const registration = batch ? register(batch) : Promise.resolve();
    registration.catch(() => undefined);
    return registration;
  };
  let registered = registerAhead(batches[0]);
  for (const [i, batch] of batches.entries()) {
    await registered;
    registered = registerAhead(batches[i + 1]);
    try {
      await sendBatch(deps, queueUrl, batch);
    } catch (error) {
      await registered.catch(() => undefined);
      throw error;
    }
  }
  await registered;
}

/** One SendMessageBatch, entries the queue failed retried with backoff; a sender fault throws. */
async function sendBatch(deps: Deps, queueUrl: string, bodies: readonly { body: string }[]): Promise<void> {
  const { SendMessageBatchCommand } = await sqsCommands();
  let pending: SendMessageBatchRequestEntry[] = bodies.map((b, i) => ({
    Id: String(i),
    MessageBody: b.body,
  }));
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
}

import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import {
  InProgressError,
  NotFoundError,
  TooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { parseExactJson } from '../records/exact-json.ts';
import { contentHash } from '../records/hash.ts';
import { jsonDepth, MAX_JSON_DEPTH } from '../records/json-depth.ts';
import { keys } from '../state/keys.ts';
import { ignoredDelivery, mapDelivery } from '../webhooks/map-delivery.ts';
import { verifyDelivery } from '../webhooks/signatures.ts';
import type { Deps } from './deps.ts';
import { enqueueRecords } from './enqueue.ts';

export interface WebhookRequest {
  readonly pipeline: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received: signatures are over these bytes. */
  readonly rawBody: string;
}

export interface WebhookAccepted {
  readonly deliveryId: string;
  readonly accepted: number;
  /** The event type of a delivery the pipeline's mapping does not take (nothing is queued). */
  readonly ignored?: string;
  /** Why it was ignored. */
  readonly reason?: string;
}

/** What a delivery enqueues. */
export interface DeliveryRecords {
  readonly deliveryId: string;
  readonly pipeline: string;
  readonly records: RecordEnvelope[];
}

type Enqueue = ((input: DeliveryRecords) => Promise<WebhookAccepted>) & { config: IdempotencyConfig };
const enqueuers = new WeakMap<Deps, Enqueue>();

/**
 * Delivery deduplication with Powertools idempotency on the idempotency table: a redelivery
 * (same delivery id) gets the first answer back without sending its records again.
 */
function idempotentEnqueue(deps: Deps): Enqueue {
  let enqueue = enqueuers.get(deps);
  if (!enqueue) {
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: deps.config.idempotencyTable,
      awsSdkV3Client: deps.clients.dynamodb,
    });
    const config = new IdempotencyConfig({
      eventKeyJmesPath: '[pipeline, deliveryId]',
      expiresAfterSeconds: 7 * 86_400,
    });
    const idempotent = makeIdempotent(
      async (input: {
        deliveryId: string;
        pipeline: string;
        records: RecordEnvelope[];
      }): Promise<WebhookAccepted> => {
        const day = deps.now().toISOString().slice(0, 10);
        const sent = await enqueueRecords(
          deps,
          input.pipeline,
          keys.ledgerScopeOfStream(input.pipeline, day),
          input.records,
          input.deliveryId,
        );
        return { deliveryId: input.deliveryId, accepted: sent.records };
      },
      { persistenceStore, config },
    );
    enqueue = Object.assign(idempotent, { config });
    enqueuers.set(deps, enqueue);
  }
  return enqueue;
}

function webhookPipeline(
  deps: Deps,
  name: string,
): Pipeline & { triggers: { webhook: NonNullable<Pipeline['triggers']['webhook']> } } {
  const pipeline = deps.catalog.get(name);
  if (!pipeline.triggers.webhook) throw new NotFoundError(`pipeline "${name}" accepts no webhooks`);
  return pipeline as Pipeline & { triggers: { webhook: NonNullable<Pipeline['triggers']['webhook']> } };
}

/**
 * Accepts one webhook delivery: look up the pipeline, check size and signature, parse, map to
 * records, deduplicate by delivery id, and put the records on the load queue. It returns only
 * once they are on the queue, so an accepted delivery is never lost. A signed delivery of an
 * event type the mapping does not take is answered with `ignored` and the reason, queuing nothing.
 * @throws NotFoundError (404), TooLargeError (413), UnauthorizedError (401),
 *   UnsupportedMediaTypeError (415), ValidationError (400)
 */
export async function receiveWebhook(
  deps: Deps,
  request: WebhookRequest,
  lambdaContext?: Context,
): Promise<WebhookAccepted> {
  const pipeline = webhookPipeline(deps, request.pipeline);
  const trigger = pipeline.triggers.webhook;
  const size = Buffer.byteLength(request.rawBody);
  if (size > trigger.maxBodyBytes)
    throw new TooLargeError(
      `the delivery has ${size} bytes; this pipeline accepts at most ${trigger.maxBodyBytes}`,
    );
  const secret = await deps.connectorContext(pipeline).secrets.getString(trigger.secret);
  const verified = verifyDelivery(trigger, secret, request.headers, request.rawBody, deps.now());
  const contentType = request.headers['content-type'] ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(contentType))
    throw new UnsupportedMediaTypeError(
      `content-type must be application/json, got "${contentType || 'none'}"`,
      [{ path: 'headers.content-type', message: 'expected application/json' }],
    );
  let body: unknown;
  try {
    body = parseExactJson(request.rawBody);
  } catch (error) {
    throw new ValidationError(`the body is not valid JSON: ${(error as Error).message}`, [
      { path: 'body', message: 'invalid JSON' },
    ]);
  }
  const depth = jsonDepth(body);
  if (depth > MAX_JSON_DEPTH)
    throw new ValidationError(`the body nests deeper than ${MAX_JSON_DEPTH} levels`, [
      { path: 'body', message: `nesting depth above ${MAX_JSON_DEPTH}` },
    ]);
  const deliveryId = verified.deliveryId ?? `body-${contentHash(request.rawBody)}`;
  const ignored = ignoredDelivery(pipeline, request.headers);
  if (ignored) return { deliveryId, accepted: 0, ignored: ignored.event, reason: ignored.reason };
  const records = mapDelivery(pipeline, {
    headers: request.headers,
    body,
    deliveryId,
    receivedAt: deps.now(),
  });
  const enqueue = idempotentEnqueue(deps);
  // Lets an in-progress record expire with the invocation, so a crashed delivery can be retried.
  if (lambdaContext) enqueue.config.registerLambdaContext(lambdaContext);
  return enqueueOnce(enqueue, { deliveryId, pipeline: pipeline.name, records });
}

/** How long a duplicate waits for the original delivery's answer before it is told to retry. */
const IN_PROGRESS_WAIT_MS = 2_000;
const IN_PROGRESS_POLL_MS = 100;

/**
 * Enqueues a delivery once. A duplicate that arrives while the original is still being enqueued
 * waits briefly for the original's answer and gets it; if the original is still going after
 * that, the duplicate gets a 409 with `Retry-After` (the sender retries and then gets the answer).
 */
export async function enqueueOnce(
  enqueue: (input: DeliveryRecords) => Promise<WebhookAccepted>,
  input: DeliveryRecords,
  deadline = Date.now() + IN_PROGRESS_WAIT_MS,
): Promise<WebhookAccepted> {
  for (;;) {
    try {
      return await enqueue(input);
    } catch (error) {
      if (!(error instanceof IdempotencyAlreadyInProgressError)) throw error;
      if (Date.now() >= deadline)
        throw new InProgressError(
          `delivery ${input.deliveryId} is being accepted by another request; repeat it to get its answer`,
          1,
          { cause: error },
        );
      await new Promise((resolve) => setTimeout(resolve, IN_PROGRESS_POLL_MS));
    }
  }
}

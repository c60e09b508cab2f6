import { ConfigError, ValidationError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { RecordEnvelope } from '../records/envelope.ts';
import { ignoredGithubEvent, mapGithubDelivery } from './github.ts';
import { ignoredGithubSourceEvent, mapGithubSourceDelivery } from './github-entities.ts';
import { mapJsonDelivery } from './json.ts';
import { headerValue, type WebhookHeaders } from './signatures.ts';

export interface Delivery {
  readonly headers: WebhookHeaders;
  /** The parsed JSON body. */
  readonly body: unknown;
  /** The delivery's dedup id (the sender's, or a hash of the body). */
  readonly deliveryId: string;
  readonly receivedAt: Date;
}

/** A delivery of an event type the pipeline's mapping does not take: the type and why. */
export interface IgnoredDelivery {
  readonly event: string;
  readonly reason: string;
}

/** The delivery's event type when the pipeline's mapping ignores it (GitHub only: `X-GitHub-Event`). */
export function ignoredDelivery(pipeline: Pipeline, headers: WebhookHeaders): IgnoredDelivery | undefined {
  const { source } = pipeline;
  const github = source.type === 'github' || (source.type === 'webhook' && source.mapping === 'github');
  const event = github ? headerValue(headers, 'x-github-event')?.trim() : undefined;
  if (!event) return undefined;
  const reason =
    source.type === 'github' ? ignoredGithubSourceEvent(source, event) : ignoredGithubEvent(event);
  return reason ? { event, reason } : undefined;
}

/**
 * Turns a verified delivery into change records, by the pipeline's `source.mapping`.
 * A `github` source (polling the API) with a webhook trigger takes deliveries of the resource it
 * reads (`github-entities.ts`).
 * @throws ConfigError when the pipeline's source is neither a webhook nor a github source.
 * @throws ValidationError for a malformed delivery, naming what is wrong.
 */
export function mapDelivery(pipeline: Pipeline, delivery: Delivery): RecordEnvelope[] {
  const source = pipeline.source;
  if (source.type === 'github')
    return mapGithubSourceDelivery(
      { deliveryId: delivery.deliveryId, payload: delivery.body, receivedAt: delivery.receivedAt },
      { pipeline: pipeline.name, source },
    );
  if (source.type !== 'webhook')
    throw new ConfigError(
      `pipeline "${pipeline.name}" has a ${source.type} source; webhooks need source.type webhook or github`,
    );
  if (source.mapping === 'github') {
    const event = headerValue(delivery.headers, 'x-github-event')?.trim();
    if (!event)
      throw new ValidationError('the x-github-event header is missing', [
        { path: 'headers.x-github-event', message: 'required' },
      ]);
    return mapGithubDelivery(
      { event, deliveryId: delivery.deliveryId, payload: delivery.body },
      { pipeline: pipeline.name, keyFields: source.key },
    );
  }
  return mapJsonDelivery(
    { body: delivery.body, deliveryId: delivery.deliveryId, receivedAt: delivery.receivedAt },
    { pipeline: pipeline.name, source },
  );
}

import { PushOnlySource } from '../support/push-only.ts';
import { sourceFactory } from '../support/source-base.ts';

/** The webhook source: deliveries arrive through POST /webhooks/<pipeline>; a batch run reads nothing. */
export const createWebhookSource = sourceFactory<'webhook'>(PushOnlySource);

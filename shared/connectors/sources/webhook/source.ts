import type { SourceConfig } from '../../../pipeline/schema.ts';
import type { ConnectorContext, SourceConnector } from '../../types.ts';
import { PushOnlySource } from '../support/push-only.ts';

/** The webhook source: deliveries arrive through POST /webhooks/<pipeline>; a batch run reads nothing. */
export function createWebhookSource(
  config: Extract<SourceConfig, { type: 'webhook' }>,
  _context: ConnectorContext,
): SourceConnector {
  return new PushOnlySource(config);
}

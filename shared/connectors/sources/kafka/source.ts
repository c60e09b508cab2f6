import type { SourceConfig } from '../../../pipeline/schema.ts';
import type { ConnectorContext, SourceConnector } from '../../types.ts';
import { PushOnlySource } from '../support/push-only.ts';

/** The Kafka source: records arrive from the topics of triggers.kafka; a batch run reads nothing. */
export function createKafkaSource(
  config: Extract<SourceConfig, { type: 'kafka' }>,
  _context: ConnectorContext,
): SourceConnector {
  return new PushOnlySource(config);
}

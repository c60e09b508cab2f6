import type { SourceConfig } from '../../../pipeline/schema.ts';
import type { ConnectorContext, SourceConnector } from '../../types.ts';
import { PushOnlySource } from '../support/push-only.ts';

/** The CDC source: change events arrive on the ESync bus; a batch run reads nothing. */
export function createCdcSource(
  config: Extract<SourceConfig, { type: 'cdc' }>,
  _context: ConnectorContext,
): SourceConnector {
  return new PushOnlySource(config);
}

import type { PushOnlySourceType } from '../../../pipeline/push-only-sources.ts';
import type { Cursor, SourceDiscovery, SourceRow } from '../../types.ts';
import { SourceBase } from './source-base.ts';

/**
 * A source whose changes are pushed (webhook deliveries, CDC events, Kafka records) rather than read:
 * a batch run finds nothing to read, so its window stays empty and Verify has nothing of
 * the source's to compare.
 */
export class PushOnlySource extends SourceBase<PushOnlySourceType> {
  async discover(): Promise<SourceDiscovery> {
    return {
      fields: [],
      primaryKey: [],
      capabilities: { incremental: false, deletes: this.config.deletes.mode, cdc: true },
    };
  }

  async *read(): AsyncIterable<SourceRow[]> {}

  async currentHighWatermark(): Promise<Cursor | null> {
    return null;
  }
}

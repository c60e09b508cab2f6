import type { SourceConfig } from '../../../pipeline/schema.ts';
import type {
  ChangeWindow,
  Cursor,
  Partition,
  SourceConnector,
  SourceDiscovery,
  SourceRow,
} from '../../types.ts';

/**
 * A source whose changes are pushed (webhook deliveries, CDC events) rather than read:
 * a batch run finds nothing to read, so its window stays empty and Verify has nothing of
 * the source's to compare.
 */
export class PushOnlySource implements SourceConnector {
  readonly #deletes: SourceConfig['deletes']['mode'];

  constructor(config: Pick<SourceConfig, 'deletes'>) {
    this.#deletes = config.deletes.mode;
  }

  async discover(): Promise<SourceDiscovery> {
    return {
      fields: [],
      primaryKey: [],
      capabilities: { incremental: false, deletes: this.#deletes, cdc: true },
    };
  }

  async planPartitions(_window: ChangeWindow, _desired: number): Promise<Partition[]> {
    return [{ id: 'all', spec: {} }];
  }

  async *read(
    _window: ChangeWindow,
    _partition: Partition,
    _resumeAfter?: Cursor,
  ): AsyncIterable<SourceRow[]> {}

  async currentHighWatermark(): Promise<Cursor | null> {
    return null;
  }

  async close(): Promise<void> {}
}

import type { SourceConfig } from '../../../pipeline/schema.ts';
import type {
  ChangeWindow,
  ConnectorContext,
  Cursor,
  Partition,
  SourceConnector,
  SourceDiscovery,
  SourceFactory,
  SourceRow,
} from '../../types.ts';
import { RowMapper } from './rows.ts';

type SourceType = SourceConfig['type'];

export interface SourceOptions {
  /**
   * The clock a high watermark is read from (a listing bounded by the time the window is planned).
   * @default - the system clock
   */
  readonly now?: () => Date;
}

/**
 * What every source connector holds and answers alike: its config (typed by its source type),
 * its context, its name in errors, one partition per window, nothing to close, and the mapping
 * of a record to a row by the pipeline's key, cursor and deletes. A source extends it, builds
 * what it needs from `config` and `context` in its field initializers, and writes only how it
 * discovers, reads and bounds a window (and how it splits one, when it can); {@link sourceFactory}
 * makes the factory the registry calls.
 */
export abstract class SourceBase<T extends SourceType> implements SourceConnector {
  protected readonly config: Extract<SourceConfig, { type: T }>;
  protected readonly context: ConnectorContext;
  /** The source's name in its errors (`http source`). */
  protected readonly connector: string;
  protected readonly now: () => Date;

  constructor(
    config: Extract<SourceConfig, { type: T }>,
    context: ConnectorContext,
    options: SourceOptions = {},
  ) {
    this.config = config;
    this.context = context;
    this.connector = `${config.type} source`;
    this.now = options.now ?? (() => new Date());
  }

  abstract discover(): Promise<SourceDiscovery>;

  abstract read(window: ChangeWindow, partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]>;

  abstract currentHighWatermark(): Promise<Cursor | null>;

  /**
   * Splits a window into at most `desired` partitions.
   * @default - one partition: a listing walked page after page (in cursor order) cannot be split without reading it
   */
  async planPartitions(_window: ChangeWindow, _desired: number): Promise<Partition[]> {
    return [{ id: 'all', spec: {} }];
  }

  /** @default - nothing to release: the source holds no connection of its own */
  async close(): Promise<void> {}

  /**
   * Maps records to rows by the pipeline's key, cursor and deletes.
   * @param cursor the cursor fields, when the source fixes them (GitHub's `updated_at`)
   */
  protected rowMapper(cursor: readonly string[] = this.config.cursor): RowMapper {
    return new RowMapper({ ...this.config, connector: this.connector, cursor });
  }
}

/** The factory the source registry calls, for a source class built from its config and context. */
export function sourceFactory<T extends SourceType>(
  Source: new (config: Extract<SourceConfig, { type: T }>, context: ConnectorContext) => SourceConnector,
): SourceFactory<T> {
  return (config, context) => new Source(config, context);
}

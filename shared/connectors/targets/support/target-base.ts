import type { KeyRange } from '../../../domain/key-range.ts';
import type { TargetConfig } from '../../../pipeline/schema.ts';
import type {
  ConnectorContext,
  TargetConnector,
  TargetFactory,
  TargetSnapshotRecord,
  TargetState,
  TargetWrite,
  WriteOutcome,
} from '../../types.ts';

type TargetType = TargetConfig['type'];

/**
 * What every target connector holds: its config (typed by its target type) and its context. A
 * target extends it, builds what it needs from `config` and `context` in its field initializers,
 * and writes how it discovers, reads and writes records; {@link targetFactory} makes the factory
 * the registry calls.
 */
export abstract class TargetBase<T extends TargetType> implements TargetConnector {
  protected readonly config: Extract<TargetConfig, { type: T }>;
  protected readonly context: ConnectorContext;

  constructor(config: Extract<TargetConfig, { type: T }>, context: ConnectorContext) {
    this.config = config;
    this.context = context;
  }

  abstract discover(): Promise<{ readonly exists: boolean; readonly detail: string }>;

  abstract readState(
    keys: readonly string[],
    options: { readonly withData: boolean },
  ): Promise<Map<string, TargetState>>;

  abstract write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]>;

  abstract snapshot(range?: KeyRange): AsyncIterable<TargetSnapshotRecord[]>;

  /** @default - nothing to release: the AWS clients (and fetch's connection pool) belong to the caller */
  async close(): Promise<void> {}
}

/** The factory the target registry calls, for a target class built from its config and context. */
export function targetFactory<T extends TargetType>(
  Target: new (config: Extract<TargetConfig, { type: T }>, context: ConnectorContext) => TargetConnector,
): TargetFactory<T> {
  return (config, context) => new Target(config, context);
}

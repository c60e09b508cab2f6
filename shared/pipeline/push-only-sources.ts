import type { SourceConfig } from './schema.ts';

/**
 * Source types whose changes only arrive pushed (webhook deliveries, CDC events, Kafka records),
 * one change a message: a batch run has nothing of theirs to read, so they take no schedule, have
 * no poll channel, and their Load invocations take more messages (`defaultLoadBatchSize`). A
 * polled source with push triggers is not one of them.
 */
export const PUSH_ONLY_SOURCE_TYPES = [
  'webhook',
  'cdc',
  'kafka',
] as const satisfies readonly SourceConfig['type'][];

export type PushOnlySourceType = (typeof PUSH_ONLY_SOURCE_TYPES)[number];

/** Whether a source of this type only receives pushed changes. */
export function isPushOnlySource(type: string): type is PushOnlySourceType {
  return (PUSH_ONLY_SOURCE_TYPES as readonly string[]).includes(type);
}

import type { IgnoredEventKind } from '../cdc/index.ts';
import { decodeKafkaEvent } from '../cdc/kafka.ts';
import { zeroOutcomes } from '../domain/run-counts.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { KafkaDecoded } from '../kafka/event.ts';
import { decodePlainKafkaEvent } from '../kafka/records.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { keys } from '../state/keys.ts';
import type { MessageOutcome } from '../state/ledger.ts';
import { type ChangeEventRecords, recordsOfChangeEvent } from './cdc-events.ts';
import type { Deps } from './deps.ts';
import { applyUnit, quarantine } from './phases/4-load.ts';

/** The parts of a Lambda Kafka event the routing needs; the records are validated by the decoder. */
export interface KafkaEventLike {
  /** The MSK cluster (`eventSource: aws:kafka`). */
  readonly eventSourceArn?: string;
  /** The brokers of a self-managed cluster, comma-separated (`eventSource: SelfManagedKafka`). */
  readonly bootstrapServers?: string | null;
  readonly records: Readonly<Record<string, readonly { readonly topic: string }[]>>;
}

type KafkaTrigger = NonNullable<Pipeline['triggers']['kafka']>;

/** Whether the event came from the trigger's cluster: the MSK ARN, or a broker the trigger names. */
function sameCluster(trigger: KafkaTrigger, event: KafkaEventLike): boolean {
  if (trigger.clusterArn !== undefined) return trigger.clusterArn === event.eventSourceArn;
  const brokers = new Set((event.bootstrapServers ?? '').split(',').map((b) => b.trim()));
  return (trigger.bootstrapServers ?? []).some((b) => brokers.has(b));
}

/** The pipeline whose `triggers.kafka` names this cluster and topic. */
export function pipelineOfKafkaTopic(deps: Deps, event: KafkaEventLike, topic: string): Pipeline {
  const pipeline = deps.catalog
    .all()
    .find((p) => p.triggers.kafka?.topics.includes(topic) && sameCluster(p.triggers.kafka, event));
  if (!pipeline) {
    const cluster = event.eventSourceArn ?? event.bootstrapServers ?? 'an unnamed cluster';
    throw new NotFoundError(`no pipeline reads topic "${topic}" of ${cluster}`);
  }
  return pipeline;
}

/** The changes of one decoded Kafka record, made when it is loaded. */
type KafkaChanges = () => Promise<ChangeEventRecords>;

/**
 * Decodes a batch of one topic by the pipeline's source: plain values for a kafka source,
 * Debezium change events for any other.
 */
async function decodeBatch(
  deps: Deps,
  pipeline: Pipeline,
  event: KafkaEventLike,
): Promise<KafkaDecoded<KafkaChanges>[]> {
  const { source } = pipeline;
  if (source.type === 'kafka')
    return (await decodePlainKafkaEvent(event, { pipeline: pipeline.name, source, now: deps.now() })).map(
      (result) =>
        result.ok
          ? {
              ...result,
              decoding: async () =>
                result.decoding.kind === 'records'
                  ? { records: result.decoding.records }
                  : { records: [], ignored: result.decoding.ignored },
            }
          : result,
    );
  return decodeKafkaEvent(event, {
    pipeline: pipeline.name,
    keyFields: source.key,
    ...(source.type === 'cdc' ? { settings: source.debezium } : {}),
  }).map((result) =>
    result.ok ? { ...result, decoding: () => recordsOfChangeEvent(deps, pipeline, result.decoding) } : result,
  );
}

export interface KafkaLoadResult {
  readonly records: number;
  readonly outcome: MessageOutcome;
  /** Kafka records that changed no row, by kind (tombstones, heartbeats...). */
  readonly ignored: Readonly<Partial<Record<IgnoredEventKind, number>>>;
}

/**
 * Applies a Lambda Kafka event (MSK or self-managed): each Kafka record is decoded (a Debezium
 * change, or plain values for a kafka source) and loaded as one ledger entry keyed by
 * topic:partition:offset, so a redelivered batch is counted once. A record that cannot be
 * decoded (or a truncate the pipeline refuses) is quarantined; the Kafka event sources have no
 * partial batch response, so any other failure fails the batch and the whole batch is redelivered.
 */
export async function loadKafkaEvent(deps: Deps, event: KafkaEventLike): Promise<KafkaLoadResult> {
  const total = { ...zeroOutcomes(), unavailableFields: 0, ties: 0 };
  const ignored: Partial<Record<IgnoredEventKind, number>> = {};
  let records = 0;
  for (const batch of Object.values(event.records)) {
    const topic = batch[0]?.topic;
    if (topic === undefined) continue;
    const pipeline = pipelineOfKafkaTopic(deps, event, topic);
    const scope = keys.ledgerScopeOfStream(pipeline.name, deps.now().toISOString().slice(0, 10));
    const results = await decodeBatch(deps, pipeline, { ...event, records: { [topic]: batch } });
    for (const result of results) {
      const messageKey = `kafka-${result.deliveryId}`;
      const { count, outcome } = await outcomeOfKafkaRecord(deps, pipeline, { scope, messageKey }, result);
      if (await deps.state.ledger.complete(scope, messageKey, count, outcome)) {
        records += count;
        total.loaded += outcome.loaded;
        total.skipped += outcome.skipped;
        total.filtered += outcome.filtered ?? 0;
        total.conflicts += outcome.conflicts;
        total.quarantined += outcome.quarantined;
        total.unavailableFields += outcome.unavailableFields ?? 0;
        total.ties += outcome.ties ?? 0;
        if (outcome.ignored) ignored[outcome.ignored] = (ignored[outcome.ignored] ?? 0) + 1;
      }
    }
  }
  return { records, outcome: { ...total, excludedKeys: [] }, ignored };
}

/** Loads one decoded Kafka record; one that cannot be decoded or applied as such is quarantined. */
async function outcomeOfKafkaRecord(
  deps: Deps,
  pipeline: Pipeline,
  unit: { scope: string; messageKey: string },
  result: KafkaDecoded<KafkaChanges>,
): Promise<{ count: number; outcome: MessageOutcome }> {
  let error: ValidationError;
  if (result.ok)
    try {
      const { records, ignored } = await result.decoding();
      const applied = await applyUnit(deps, pipeline, { ...unit, records });
      return { count: records.length, outcome: ignored ? { ...applied, ignored } : applied };
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      error = failure;
    }
  else error = result.error;
  await quarantine(deps, pipeline, unit, [
    { raw: result.deliveryId, reasons: [{ rule: 'decode', message: error.message }] },
  ]);
  return {
    count: 1,
    outcome: { loaded: 0, skipped: 0, conflicts: 0, quarantined: 1, deadLettered: 0, excludedKeys: [] },
  };
}

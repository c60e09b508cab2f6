import type { IgnoredEventKind } from '../cdc/index.ts';
import { decodeKafkaEvent, type KafkaRecordResult } from '../cdc/kafka.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { keys } from '../state/keys.ts';
import type { MessageOutcome } from '../state/ledger.ts';
import { recordsOfChangeEvent } from './cdc-events.ts';
import type { Deps } from './deps.ts';
import { applyUnit, quarantine } from './phases/4-load.ts';

/** The parts of a Lambda MSK event the routing needs; the records are validated by the decoder. */
export interface KafkaEventLike {
  readonly eventSourceArn?: string;
  readonly records: Readonly<Record<string, readonly { readonly topic: string }[]>>;
}

/** The pipeline whose `triggers.kafka` names this cluster and topic. */
export function pipelineOfKafkaTopic(deps: Deps, clusterArn: string, topic: string): Pipeline {
  const pipeline = deps.catalog
    .all()
    .find((p) => p.triggers.kafka?.clusterArn === clusterArn && p.triggers.kafka.topics.includes(topic));
  if (!pipeline) throw new NotFoundError(`no pipeline reads topic "${topic}" of ${clusterArn}`);
  return pipeline;
}

export interface KafkaLoadResult {
  readonly records: number;
  readonly outcome: MessageOutcome;
  /** Kafka records that changed no row, by kind (tombstones, heartbeats...). */
  readonly ignored: Readonly<Partial<Record<IgnoredEventKind, number>>>;
}

/**
 * Applies a Lambda MSK event: each Kafka record is decoded as a Debezium change and loaded as
 * one ledger entry keyed by topic:partition:offset, so a redelivered batch is counted once. A
 * record that cannot be decoded (or a truncate the pipeline refuses) is quarantined; the MSK event source has no partial batch
 * response, so any other failure fails the batch and the whole batch is redelivered.
 */
export async function loadKafkaEvent(deps: Deps, event: KafkaEventLike): Promise<KafkaLoadResult> {
  const total = {
    loaded: 0,
    skipped: 0,
    filtered: 0,
    conflicts: 0,
    quarantined: 0,
    deadLettered: 0,
    unavailableFields: 0,
    ties: 0,
  };
  const ignored: Partial<Record<IgnoredEventKind, number>> = {};
  let records = 0;
  const clusterArn = event.eventSourceArn ?? '';
  for (const batch of Object.values(event.records)) {
    const topic = batch[0]?.topic;
    if (topic === undefined) continue;
    const pipeline = pipelineOfKafkaTopic(deps, clusterArn, topic);
    const scope = keys.ledgerScopeOfStream(pipeline.name, deps.now().toISOString().slice(0, 10));
    const results = decodeKafkaEvent(
      { ...event, records: { [topic]: batch } },
      {
        pipeline: pipeline.name,
        keyFields: pipeline.source.key,
        ...(pipeline.source.type === 'cdc' ? { settings: pipeline.source.debezium } : {}),
      },
    );
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
  result: KafkaRecordResult,
): Promise<{ count: number; outcome: MessageOutcome }> {
  let error: ValidationError;
  if (result.ok)
    try {
      const { records, ignored } = await recordsOfChangeEvent(deps, pipeline, result.decoding);
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

import { decodeKafkaEvent } from '../cdc/kafka.ts';
import { NotFoundError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { keys } from '../state/keys.ts';
import type { MessageOutcome } from '../state/ledger.ts';
import type { Deps } from './deps.ts';
import { applyUnit, quarantine } from './load.ts';

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
}

/**
 * Applies a Lambda MSK event: each Kafka record is decoded as a Debezium change and loaded as
 * one ledger entry keyed by topic:partition:offset, so a redelivered batch is counted once. A
 * record that cannot be decoded is quarantined; the MSK event source has no partial batch
 * response, so any other failure fails the batch and the whole batch is redelivered.
 */
export async function loadKafkaEvent(deps: Deps, event: KafkaEventLike): Promise<KafkaLoadResult> {
  const total = { loaded: 0, skipped: 0, conflicts: 0, quarantined: 0, deadLettered: 0 };
  let records = 0;
  const clusterArn = event.eventSourceArn ?? '';
  for (const batch of Object.values(event.records)) {
    const topic = batch[0]?.topic;
    if (topic === undefined) continue;
    const pipeline = pipelineOfKafkaTopic(deps, clusterArn, topic);
    const scope = keys.ledgerScopeOfStream(pipeline.name, deps.now().toISOString().slice(0, 10));
    const results = decodeKafkaEvent(
      { ...event, records: { [topic]: batch } },
      { pipeline: pipeline.name, keyFields: pipeline.source.key },
    );
    for (const result of results) {
      const messageKey = `kafka-${result.deliveryId}`;
      let outcome: MessageOutcome;
      let count: number;
      if (result.ok) {
        count = result.records.length;
        outcome = await applyUnit(deps, pipeline, { scope, messageKey, records: result.records });
      } else {
        count = 1;
        await quarantine(deps, pipeline, { scope, messageKey }, [
          { raw: result.deliveryId, reasons: [{ rule: 'decode', message: result.error.message }] },
        ]);
        outcome = { loaded: 0, skipped: 0, conflicts: 0, quarantined: 1, deadLettered: 0, excludedKeys: [] };
      }
      if (await deps.state.ledger.complete(scope, messageKey, count, outcome)) {
        records += count;
        total.loaded += outcome.loaded;
        total.skipped += outcome.skipped;
        total.conflicts += outcome.conflicts;
        total.quarantined += outcome.quarantined;
      }
    }
  }
  return { records, outcome: { ...total, excludedKeys: [] } };
}

import type { Pipeline } from '../pipeline/schema.ts';
import { type DebeziumDecoding, decodeDebeziumMessage } from './debezium.ts';
import { decodeEsyncChange, ESYNC_CHANGE_DETAIL_TYPE } from './esync-change.ts';
import { isEventBridgeEvent, unwrapEventBridge } from './eventbridge.ts';

export {
  type DebeziumDecoding,
  debeziumVersion,
  decodeDebeziumMessage,
  type TruncateEvent,
  unwrapDebezium,
} from './debezium.ts';
export { IGNORED_EVENT_KINDS, type IgnoredEventKind } from './debezium-kinds.ts';
export {
  decodeEsyncChange,
  ESYNC_CHANGE_DETAIL_TYPE,
  esyncChangeDetail,
  esyncChangeSchema,
} from './esync-change.ts';
export { decodeKafkaEvent, type KafkaRecordResult } from './kafka.ts';

/**
 * True for a load-queue body that is a change event an EventBridge rule routed from the bus
 * (rather than a records batch ESync packed itself).
 */
export function isChangeEvent(body: unknown): boolean {
  return isEventBridgeEvent(body);
}

/**
 * Decodes a change event routed to a pipeline: an `esync.change` event by its detail-type,
 * anything else by the pipeline's `source.format` (Debezium unless it says `esync`).
 * @throws ValidationError for an event that cannot be decoded; retrying it would never help.
 */
export function decodeChangeEvent(pipeline: Pipeline, body: unknown): DebeziumDecoding {
  const { detailType } = unwrapEventBridge(body);
  const format =
    detailType === ESYNC_CHANGE_DETAIL_TYPE
      ? 'esync'
      : pipeline.source.type === 'cdc'
        ? pipeline.source.format
        : 'debezium';
  if (format === 'esync')
    return { kind: 'changes', records: [decodeEsyncChange(body, { pipeline: pipeline.name })] };
  return decodeDebeziumMessage(body, {
    pipeline: pipeline.name,
    keyFields: pipeline.source.key,
    ...(pipeline.source.type === 'cdc' ? { settings: pipeline.source.debezium } : {}),
  });
}

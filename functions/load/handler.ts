import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context, MSKEvent, SelfManagedKafkaEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import type { IgnoredEventKind } from '../../shared/cdc/index.ts';
import { SOURCE_REREADERS } from '../../shared/connectors/sources/rereaders.ts';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import { withInvocationLimits } from '../../shared/connectors/targets/support/write-limit.ts';
import {
  createObservability,
  IGNORED_EVENT_METRIC,
  METRIC,
  publishRecordedMetrics,
} from '../../shared/lambda/observability.ts';
import { pipelineOfLoadQueueArn } from '../../shared/naming.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';
import { loadKafkaEvent } from '../../shared/usecases/load-kafka.ts';
import { loadMessage } from '../../shared/usecases/phases/4-load.ts';

const { logger, tracing, metrics, log } = createObservability('load');
let deps: Deps | undefined;
/** Targets to write, and the sources whose API Load reads again to decide ties. */
const LOAD_REGISTRIES = { targets: TARGET_CONNECTORS, rereaders: SOURCE_REREADERS };
let dimensioned = false;

async function loadRecord(d: Deps, record: SQSRecord, invocationEndsAt: number): Promise<void> {
  const pipeline = pipelineOfLoadQueueArn(record.eventSourceARN, d.config.stage);
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  let result: Awaited<ReturnType<typeof loadMessage>>;
  try {
    result = await loadMessage(d, pipeline, {
      messageId: record.messageId,
      body: record.body,
      receiveCount,
      invocationEndsAt,
    });
  } catch (error) {
    metrics.addMetric(METRIC.recordsFailed, MetricUnit.Count, 1);
    if (receiveCount >= d.catalog.get(pipeline).dlq.maxReceiveCount)
      metrics.addMetric(METRIC.deadLettered, MetricUnit.Count, 1);
    throw error;
  }
  metrics.addMetric(METRIC.messagesProcessed, MetricUnit.Count, 1);
  if (!result.firstCompletion) return;
  metrics.addMetric(METRIC.recordsProcessed, MetricUnit.Count, result.records);
  metrics.addMetric(METRIC.recordsLoaded, MetricUnit.Count, result.loaded);
  metrics.addMetric(METRIC.recordsSkipped, MetricUnit.Count, result.skipped);
  if ((result.filtered ?? 0) > 0)
    metrics.addMetric(METRIC.recordsFiltered, MetricUnit.Count, result.filtered ?? 0);
  metrics.addMetric(METRIC.conflicts, MetricUnit.Count, result.conflicts);
  metrics.addMetric(METRIC.quarantined, MetricUnit.Count, result.quarantined);
  if (result.poison) metrics.addMetric(METRIC.poisonMessages, MetricUnit.Count, 1);
  if ((result.ties ?? 0) > 0) metrics.addMetric(METRIC.versionTies, MetricUnit.Count, result.ties ?? 0);
  if ((result.tiesReread ?? 0) > 0)
    metrics.addMetric(METRIC.versionTiesReread, MetricUnit.Count, result.tiesReread ?? 0);
  addCdcMetrics(result.unavailableFields ?? 0, result.ignored ? { [result.ignored]: 1 } : {});
}

function addCdcMetrics(unavailableFields: number, ignored: Partial<Record<IgnoredEventKind, number>>): void {
  if (unavailableFields > 0) metrics.addMetric(METRIC.unavailableFields, MetricUnit.Count, unavailableFields);
  for (const [kind, count] of Object.entries(ignored) as [IgnoredEventKind, number][])
    metrics.addMetric(IGNORED_EVENT_METRIC[kind], MetricUnit.Count, count);
}

type KafkaEvent = MSKEvent | SelfManagedKafkaEvent;

const isKafkaEvent = (event: SQSEvent | KafkaEvent): event is KafkaEvent =>
  'eventSource' in event && (event.eventSource === 'aws:kafka' || event.eventSource === 'SelfManagedKafka');

/**
 * Load: consumes the pipeline's queue with partial batch responses (a failed message alone is
 * retried by SQS, the others are deleted), or a batch of records from Kafka topics (Amazon MSK
 * or self-managed): Debezium change events, or plain records of a kafka source.
 */
export const handler = middy(async (event: SQSEvent | KafkaEvent, context: Context) => {
  deps ??= createDeps({ log }, LOAD_REGISTRIES);
  const d = await currentDeps(deps);
  if (isKafkaEvent(event)) {
    const result = await withInvocationLimits(() => loadKafkaEvent(d, event));
    metrics.addMetric(METRIC.recordsProcessed, MetricUnit.Count, result.records);
    metrics.addMetric(METRIC.recordsLoaded, MetricUnit.Count, result.outcome.loaded);
    metrics.addMetric(METRIC.quarantined, MetricUnit.Count, result.outcome.quarantined);
    if ((result.outcome.ties ?? 0) > 0)
      metrics.addMetric(METRIC.versionTies, MetricUnit.Count, result.outcome.ties ?? 0);
    addCdcMetrics(result.outcome.unavailableFields ?? 0, result.ignored);
    return undefined;
  }
  const sqsEvent = event as SQSEvent;
  const first = sqsEvent.Records[0];
  // Each pipeline has a Load function of its own, so the dimension is set once per container.
  if (first && !dimensioned) {
    metrics.setDefaultDimensions({
      pipeline: pipelineOfLoadQueueArn(first.eventSourceARN, d.config.stage),
    });
    dimensioned = true;
  }
  // One processor per invocation: a shared one keeps its failure list between calls, so two
  // invocations overlapping in one process (the local stack) swap their failures, and a failed
  // message is deleted as if it had succeeded.
  // Target writes in flight are limited per invocation: its messages share the limit.
  const invocationEndsAt = Date.now() + context.getRemainingTimeInMillis();
  return withInvocationLimits(() =>
    processPartialResponse(
      sqsEvent,
      (record: SQSRecord) => loadRecord(d, record, invocationEndsAt),
      new BatchProcessor(EventType.SQS),
      { context },
    ),
  );
})
  .use(tracing)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishRecordedMetrics(metrics));

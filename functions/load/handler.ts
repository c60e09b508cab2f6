import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { createTarget } from '../../shared/connectors/targets/registry.ts';
import { createObservability, METRIC } from '../../shared/lambda/observability.ts';
import { pipelineOfLoadQueueArn } from '../../shared/naming.ts';
import { createDeps, type Deps } from '../../shared/usecases/deps.ts';
import { loadMessage } from '../../shared/usecases/load.ts';

const { logger, tracer, metrics, log } = createObservability('load');
const processor = new BatchProcessor(EventType.SQS);
let deps: Deps | undefined;

async function loadRecord(record: SQSRecord): Promise<void> {
  deps ??= createDeps({ log }, { targets: createTarget });
  const d = deps;
  const pipeline = pipelineOfLoadQueueArn(record.eventSourceARN, d.config.stage);
  const result = await loadMessage(d, pipeline, {
    messageId: record.messageId,
    body: record.body,
    receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1'),
  });
  metrics.addMetric(METRIC.messagesProcessed, MetricUnit.Count, 1);
  if (!result.firstCompletion) return;
  metrics.addMetric(METRIC.recordsProcessed, MetricUnit.Count, result.records);
  metrics.addMetric(METRIC.recordsLoaded, MetricUnit.Count, result.loaded);
  metrics.addMetric(METRIC.recordsSkipped, MetricUnit.Count, result.skipped);
  metrics.addMetric(METRIC.conflicts, MetricUnit.Count, result.conflicts);
  metrics.addMetric(METRIC.quarantined, MetricUnit.Count, result.quarantined);
  if (result.poison) metrics.addMetric(METRIC.poisonMessages, MetricUnit.Count, 1);
}

/**
 * Load: consumes the pipeline's queue with partial batch responses; a failed message alone
 * is retried by SQS, the others are deleted.
 */
export const handler = middy(async (event: SQSEvent, context: Context) => {
  deps ??= createDeps({ log }, { targets: createTarget });
  const first = event.Records[0];
  if (first)
    metrics.addDimension('pipeline', pipelineOfLoadQueueArn(first.eventSourceARN, deps.config.stage));
  return processPartialResponse(event, loadRecord, processor, { context });
})
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

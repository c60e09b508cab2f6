import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { describeError } from '../../shared/errors.ts';
import {
  createObservability,
  METRIC,
  publishRecordedMetrics,
  traceWithoutPayloads,
} from '../../shared/lambda/observability.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';
import { receiveWebhook } from '../../shared/usecases/webhook.ts';
import { errorResponse } from '../http-errors.ts';

const { logger, tracer, metrics, log } = createObservability('webhook');
let deps: Deps | undefined;

async function handle(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const pipeline = event.pathParameters?.pipeline ?? '';
  const headers = Object.fromEntries(
    Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  logger.appendKeys({
    pipeline,
    deliveryId: headers['x-github-delivery'] ?? headers['webhook-id'] ?? headers['x-delivery-id'],
  });
  metrics.addDimension('pipeline', pipeline || 'unknown');
  try {
    deps ??= createDeps({ log });
    const rawBody = event.isBase64Encoded
      ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
      : (event.body ?? '');
    const accepted = await receiveWebhook(await currentDeps(deps), { pipeline, headers, rawBody }, context);
    if (accepted.ignored) {
      metrics.addMetric(METRIC.webhookIgnored, MetricUnit.Count, 1);
      logger.info('webhook ignored', { event: accepted.ignored, reason: accepted.reason });
    } else metrics.addMetric(METRIC.webhookDeliveries, MetricUnit.Count, 1);
    return {
      statusCode: 202,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(accepted),
    };
  } catch (error) {
    const response = errorResponse(error, context.awsRequestId);
    metrics.addMetric(METRIC.webhookRefused, MetricUnit.Count, 1);
    // Never the body or the signature: they may hold personal data or secrets.
    if (response.statusCode === 500) logger.error('webhook failed', { error: describeError(error) });
    else logger.warn('webhook refused', { status: response.statusCode, error: describeError(error).name });
    return response;
  }
}

/** POST /webhooks/{pipeline}: authenticated by signature, answered 202 once the records are queued. */
export const handler = middy(handle)
  .use(traceWithoutPayloads(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishRecordedMetrics(metrics));

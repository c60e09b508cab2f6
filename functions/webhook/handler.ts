import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { describeError } from '../../shared/errors.ts';
import { httpErrorAnswer, jsonResult } from '../../shared/lambda/http-errors.ts';
import { bodyText, type HttpApiEvent, parseHttpApiEvent } from '../../shared/lambda/http-event.ts';
import { createObservability, METRIC, publishRecordedMetrics } from '../../shared/lambda/observability.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';
import { receiveWebhook } from '../../shared/usecases/webhook.ts';

const { logger, tracing, metrics, log } = createObservability('webhook');
let deps: Deps | undefined;

/** Puts the delivery's pipeline and id on every log line of the invocation. */
function tagDelivery(event: HttpApiEvent): { pipeline: string; headers: Record<string, string> } {
  const pipeline = event.pathParameters?.pipeline ?? '';
  const headers = Object.fromEntries(Object.entries(event.headers).map(([k, v]) => [k.toLowerCase(), v]));
  logger.appendKeys({
    pipeline,
    deliveryId: headers['x-github-delivery'] ?? headers['webhook-id'] ?? headers['x-delivery-id'],
  });
  metrics.addDimension('pipeline', pipeline || 'unknown');
  return { pipeline, headers };
}

async function handle(event: unknown, context: Context): Promise<APIGatewayProxyStructuredResultV2> {
  try {
    const parsed = parseHttpApiEvent(event);
    const { pipeline, headers } = tagDelivery(parsed);
    deps ??= createDeps({ log });
    const rawBody = bodyText(parsed) ?? '';
    const accepted = await receiveWebhook(await currentDeps(deps), { pipeline, headers, rawBody }, context);
    if (accepted.ignored) {
      metrics.addMetric(METRIC.webhookIgnored, MetricUnit.Count, 1);
      logger.info('webhook ignored', { event: accepted.ignored, reason: accepted.reason });
    } else metrics.addMetric(METRIC.webhookDeliveries, MetricUnit.Count, 1);
    return jsonResult({ status: 202, body: { ...accepted } });
  } catch (error) {
    const answer = httpErrorAnswer(error, context.awsRequestId);
    metrics.addMetric(METRIC.webhookRefused, MetricUnit.Count, 1);
    // Never the body or the signature: they may hold personal data or secrets.
    if (answer.status === 500) logger.error('webhook failed', { error: describeError(error) });
    else logger.warn('webhook refused', { status: answer.status, error: describeError(error).name });
    return jsonResult(answer);
  }
}

/** POST /webhooks/{pipeline}: authenticated by signature, answered 202 once the records are queued. */
export const handler = middy(handle)
  .use(tracing)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishRecordedMetrics(metrics));

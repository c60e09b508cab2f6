import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import { describeError } from '../../shared/errors.ts';
import { httpErrorAnswer, jsonResult } from '../../shared/lambda/http-errors.ts';
import { bodyText, type HttpApiEvent, parseHttpApiEvent } from '../../shared/lambda/http-event.ts';
import { createObservability, publishRecordedMetrics } from '../../shared/lambda/observability.ts';
import type { ManagementRequest } from '../../shared/usecases/api/common.ts';
import { handleManagementRequest } from '../../shared/usecases/api/routes.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';

/** Principal recorded when the edge passed none; IAM-authorized routes on AWS always pass one. */
const ANONYMOUS = 'anonymous';

const { logger, tracing, metrics, log } = createObservability('api');

/** The management call an HTTP API event (IAM-authorized route) carries. */
function managementRequestOf(event: HttpApiEvent, context: Context): ManagementRequest {
  const { requestContext } = event;
  const principal = requestContext.authorizer?.iam?.userArn ?? ANONYMOUS;
  if (principal === ANONYMOUS)
    logger.warn('management request without an IAM principal', { path: event.rawPath });
  // With a named stage the raw path starts with it; routes are declared without.
  const stagePrefix = `/${requestContext.stage}`;
  const path =
    requestContext.stage !== '$default' && event.rawPath.startsWith(`${stagePrefix}/`)
      ? event.rawPath.slice(stagePrefix.length)
      : event.rawPath;
  return {
    method: requestContext.http.method,
    path,
    pathParameters: event.pathParameters ?? {},
    query: event.queryStringParameters ?? {},
    body: bodyText(event),
    principal,
    requestId: requestContext.requestId || context.awsRequestId,
  };
}

/**
 * The handler without middlewares. Dependencies are the given ones (tests, the local stack) or
 * built from the environment on the first call, not at import, so a missing setting fails that
 * call loudly. An event that is not an HTTP API payload 2.0 is answered 400 naming its fields.
 */
export function createManagementHandler(provided?: Deps) {
  let deps = provided;
  return async (event: unknown, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    let request: ManagementRequest;
    try {
      const parsed = parseHttpApiEvent(event);
      logger.setCorrelationId(parsed.requestContext.requestId);
      request = managementRequestOf(parsed, context);
    } catch (error) {
      logger.warn('management event refused', { error: describeError(error) });
      return jsonResult(httpErrorAnswer(error, context.awsRequestId));
    }
    deps ??= createDeps({ log }, { targets: TARGET_CONNECTORS });
    const response = await handleManagementRequest(await currentDeps(deps), request);
    metrics.addMetric(
      response.status >= 500 ? 'ManagementErrors' : 'ManagementRequests',
      MetricUnit.Count,
      1,
    );
    logger.info('management request', {
      method: request.method,
      path: request.path,
      status: response.status,
      principal: request.principal,
    });
    return jsonResult(response);
  };
}

/** The management API (IAM-authorized routes of the HTTP API): one use case, `handleManagementRequest`. */
export const handler = middy(createManagementHandler())
  .use(tracing)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishRecordedMetrics(metrics));

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import { createTarget } from '../../shared/connectors/targets/registry.ts';
import { jsonResult } from '../../shared/lambda/http-errors.ts';
import { createObservability, publishRecordedMetrics } from '../../shared/lambda/observability.ts';
import { handleManagementRequest } from '../../shared/usecases/api/routes.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';

/**
 * The parts of an API Gateway HTTP API (payload 2.0) event with IAM authorization that the
 * management API reads; everything else is ignored.
 */
const managementEventSchema = z.object({
  rawPath: z.string(),
  queryStringParameters: z.record(z.string(), z.string().optional()).nullish(),
  pathParameters: z.record(z.string(), z.string().optional()).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.object({
    requestId: z.string(),
    stage: z.string().default('$default'),
    http: z.object({ method: z.string() }),
    authorizer: z.object({ iam: z.object({ userArn: z.string().nullish() }).nullish() }).nullish(),
  }),
});

export type ManagementEvent = z.input<typeof managementEventSchema>;

/** Principal recorded when the edge passed none; IAM-authorized routes on AWS always pass one. */
const ANONYMOUS = 'anonymous';

const { logger, tracing, metrics, log } = createObservability('api');

/**
 * The handler without middlewares. Dependencies are the given ones (tests, the local stack) or
 * built from the environment on the first call, not at import, so a missing setting fails that
 * call loudly.
 */
export function createManagementHandler(provided?: Deps) {
  let deps = provided;
  return async (event: unknown, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const parsed = managementEventSchema.parse(event);
    const { requestContext } = parsed;
    logger.setCorrelationId(requestContext.requestId);
    const principal = requestContext.authorizer?.iam?.userArn ?? ANONYMOUS;
    if (principal === ANONYMOUS)
      logger.warn('management request without an IAM principal', { path: parsed.rawPath });
    deps ??= createDeps({ log }, { targets: createTarget });
    // With a named stage the raw path starts with it; routes are declared without.
    const stagePrefix = `/${requestContext.stage}`;
    const path =
      requestContext.stage !== '$default' && parsed.rawPath.startsWith(`${stagePrefix}/`)
        ? parsed.rawPath.slice(stagePrefix.length)
        : parsed.rawPath;
    const body =
      parsed.body === undefined || parsed.body === null
        ? undefined
        : parsed.isBase64Encoded
          ? Buffer.from(parsed.body, 'base64').toString('utf8')
          : parsed.body;
    const response = await handleManagementRequest(await currentDeps(deps), {
      method: requestContext.http.method,
      path,
      pathParameters: parsed.pathParameters ?? {},
      query: parsed.queryStringParameters ?? {},
      body,
      principal,
      requestId: requestContext.requestId || context.awsRequestId,
    });
    metrics.addMetric(
      response.status >= 500 ? 'ManagementErrors' : 'ManagementRequests',
      MetricUnit.Count,
      1,
    );
    logger.info('management request', {
      method: requestContext.http.method,
      path,
      status: response.status,
      principal,
    });
    return jsonResult(response);
  };
}

/** The management API (IAM-authorized routes of the HTTP API): one use case, `handleManagementRequest`. */
export const handler = middy(createManagementHandler())
  .use(tracing)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishRecordedMetrics(metrics));

import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';

/**
 * The handler's trace segment, without its response: handlers return record data (conflict
 * values, record history, dead-letter previews) that must not reach X-Ray. Errors stay out too:
 * the functions run with POWERTOOLS_TRACER_CAPTURE_ERROR=false (infra/constructs/esync-function.ts),
 * which leaves only the segment's error flag.
 */
export function traceWithoutPayloads(tracer: Tracer): MiddlewareObj {
  return captureLambdaHandler(tracer, { captureResponse: false });
}

/**
 * The tracing middlewares of a function. A stage without tracing (`tracing` in infra/stage.ts)
 * bundles `tracing-off.ts` in place of this module (`#esync/tracing` in package.json,
 * infra/bundling.ts), so its functions never load the X-Ray SDK.
 */
export function handlerTracing(serviceName: string): MiddlewareObj[] {
  return [traceWithoutPayloads(new Tracer({ serviceName }))];
}

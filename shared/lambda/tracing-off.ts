import type { MiddlewareObj } from '@middy/core';

/**
 * Bundled in place of `tracing.ts` for a stage without tracing (infra/bundling.ts): no middleware,
 * and neither the Powertools tracer nor the X-Ray SDK in the bundle.
 */
export function handlerTracing(_serviceName: string): MiddlewareObj[] {
  return [];
}

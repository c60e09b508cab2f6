import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { createObservability, METRIC } from '../shared/lambda/observability.ts';
import { type ConnectorRegistries, createDeps, currentDeps, type Deps } from '../shared/usecases/deps.ts';

/** Counts a phase reports as metrics, from its result or its error (a run Discover stopped). */
export type PhaseCounts<R> = (
  outcome: { result: R } | { error: unknown },
) => Readonly<Record<string, number>>;

/**
 * Builds the handler of a state machine task: parse the payload with its zod schema, call one
 * use case, return its result. Dependencies are built once per container, on the first call,
 * so a missing setting fails that call loudly instead of the import. Errors propagate with
 * their class name, which Step Functions shows as the Error of a failed task. `countsOf` names
 * metrics (by their `METRIC` name) the phase's outcome carries; a zero is not published.
 */
export function phaseHandler<S extends z.ZodType, R>(
  functionName: string,
  schema: S,
  useCase: (deps: Deps, input: z.infer<S>, context: Context) => Promise<R>,
  registries: ConnectorRegistries = {},
  countsOf?: PhaseCounts<R>,
) {
  const { logger, tracing, metrics, log } = createObservability(functionName);
  let deps: Deps | undefined;
  const handle = async (event: unknown, context: Context): Promise<R> => {
    deps ??= createDeps({ log }, registries);
    const current = await currentDeps(deps);
    const input = schema.parse(event) as z.infer<S> & {
      pipeline?: string;
      runId?: string;
      executionArn?: string;
    };
    logger.appendKeys({ pipeline: input.pipeline, runId: input.runId, executionArn: input.executionArn });
    const started = Date.now();
    // A single metric publishes each value as it is added: no state shared between invocations.
    const metric = metrics.singleMetric();
    metric.addDimension('pipeline', input.pipeline ?? 'unknown');
    metric.addDimension('phase', functionName);
    const count = (outcome: Parameters<PhaseCounts<R>>[0]) => {
      for (const [name, value] of Object.entries(countsOf?.(outcome) ?? {}))
        if (value > 0) metric.addMetric(name, MetricUnit.Count, value);
    };
    let result: R;
    try {
      result = await useCase(current, input, context);
    } catch (error) {
      count({ error });
      throw error;
    }
    count({ result });
    metric.addMetric(METRIC.phaseDuration, MetricUnit.Milliseconds, Date.now() - started);
    return result;
  };
  return middy(handle)
    .use(tracing)
    .use(injectLambdaContext(logger, { resetKeys: true }));
}

import type { z } from 'zod';
import { driftChanges } from '../../domain/schema-drift.ts';
import { ConnectorError } from '../../errors.ts';
import type { discoverInputSchema, discoverOutputSchema } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { checkSchemaDrift } from '../schema-drift.ts';
import { inPhase } from './in-phase.ts';

/** Discover: create the run record, then check source and target and read the source's shape. */
export async function discover(
  deps: Deps,
  input: z.infer<typeof discoverInputSchema>,
): Promise<z.infer<typeof discoverOutputSchema>> {
  const pipeline = deps.catalog.get(input.pipeline);
  await deps.state.runs.create(
    {
      runId: input.runId,
      pipeline: pipeline.name,
      trigger: input.trigger,
      requestedBy: input.requestedBy,
      executionArn: input.executionArn,
      startedAt: deps.now().toISOString(),
    },
    pipeline.retention.runDays,
  );
  return inPhase(deps, input.runId, 'Discover', async () => {
    const source = deps.createSource(pipeline);
    const target = deps.createTarget(pipeline);
    try {
      const found = await source.discover();
      const targetFound = await target.discover();
      const missing = pipeline.source.key.filter(
        (k) => found.fields.length > 0 && !found.fields.some((f) => f.name === k),
      );
      if (missing.length > 0)
        throw new ConnectorError(
          pipeline.source.type,
          `key field(s) ${missing.join(', ')} not found in the source; it has ${found.fields.map((f) => f.name).join(', ')}`,
        );
      const schema = await checkSchemaDrift(deps, pipeline, input.runId, found, target);
      deps.log.info('discovered', {
        pipeline: pipeline.name,
        runId: input.runId,
        fields: found.fields.length,
        target: targetFound.detail,
      });
      return {
        fields: found.fields.length,
        primaryKey: [...found.primaryKey],
        incremental: found.capabilities.incremental,
        ...(found.approximateRows === undefined ? {} : { approximateRows: found.approximateRows }),
        ...(schema?.drift && { schemaDrift: driftChanges(schema.drift) }),
      };
    } finally {
      await source.close();
      await target.close();
    }
  });
}

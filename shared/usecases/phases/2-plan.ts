import type { z } from 'zod';
import { s3Commands } from '../../aws/s3-commands.ts';
import { manifestKey } from '../../naming.ts';
import type { planOutputSchema, RunRef } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { planOrResume } from '../resume.ts';
import { inPhase } from './in-phase.ts';

/**
 * Plan: fix the window (checkpoint − lookback, high watermark] and split it into partitions,
 * or take over the unfinished plan of a stopped run (see resume.ts).
 */
export async function plan(deps: Deps, input: RunRef): Promise<z.infer<typeof planOutputSchema>> {
  const pipeline = deps.catalog.get(input.pipeline);
  return inPhase(deps, input.runId, 'Plan', async () => {
    const source = deps.createSource(pipeline);
    try {
      const { planId, window, partitions, resumed, earlierRuns } = await planOrResume(
        deps,
        pipeline,
        input.runId,
        source,
      );
      await deps.state.runs.update(input.runId, { window, planId, earlierRuns });
      if (resumed)
        deps.log.info('resuming an unfinished plan', {
          pipeline: pipeline.name,
          runId: input.runId,
          planId,
          partitionsLeft: partitions.length,
        });
      if (partitions.length <= pipeline.extract.manifestThreshold)
        return { partitionCount: partitions.length, partitions, window };
      const key = manifestKey(pipeline.name, input.runId);
      const { PutObjectCommand } = await s3Commands();
      await deps.clients.s3.send(
        new PutObjectCommand({
          Bucket: deps.config.dataBucket,
          Key: key,
          Body: JSON.stringify(
            partitions.map((p) => ({ pipeline: pipeline.name, runId: input.runId, partition: p })),
          ),
          ContentType: 'application/json',
        }),
      );
      return {
        partitionCount: partitions.length,
        partitions: [],
        manifest: { bucket: deps.config.dataBucket, key },
        window,
      };
    } finally {
      await source.close();
    }
  });
}

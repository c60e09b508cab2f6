import type { SourceDiscovery, TargetConnector } from '../connectors/types.ts';
import {
  acceptedAfter,
  describeDrift,
  diffSchema,
  discardedFields,
  driftChanges,
  type SchemaDrift,
  type SchemaField,
} from '../domain/schema-drift.ts';
import { SchemaDriftError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { RunSchema } from '../state/runs.ts';
import type { Deps } from './deps.ts';
import { emitRunEvent } from './run-events.ts';

/** Detail type of the bus event a run emits when it finds the source's schema drifted. */
export const SCHEMA_DRIFT_EVENT = 'esync.run.schema-drift';

/**
 * Schema drift, in Discover: compares the source's columns with the schema the pipeline accepted
 * last (kept beside its checkpoint), records both and the difference on the run, and applies
 * `schema.onDrift`. `evolve` has the target take the change; `discard` names the fields Extract
 * leaves out; `freeze` fails the run before anything is loaded. A drift is announced on the bus
 * (`esync.run.schema-drift`) whatever the policy. A source without a catalog is not checked.
 * @returns the run's schema record, undefined for a source without a catalog
 * @throws SchemaDriftError under `freeze` (and from the target, when `evolve` cannot take a type change)
 */
export async function checkSchemaDrift(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  found: SourceDiscovery,
  target: TargetConnector,
): Promise<RunSchema | undefined> {
  if (!found.fieldsFromCatalog) return undefined;
  const policy = pipeline.schema.onDrift;
  const fields: SchemaField[] = found.fields.map(({ name, type, nullable }) => ({ name, type, nullable }));
  const accepted = (await deps.state.checkpoints.getSchema(pipeline.name))?.fields;
  const drift = accepted === undefined ? undefined : diffSchema(accepted, fields);
  if (accepted === undefined || drift === undefined || driftChanges(drift) === 0) {
    await acceptSchema(deps, pipeline.name, runId, fields);
    const schema: RunSchema = { fields, policy };
    await deps.state.runs.update(runId, { schema });
    return schema;
  }
  const summary = describeDrift(drift);
  const detected = { fields, policy, drift, summary };
  const schema = await applyPolicy(pipeline, drift, target, detected).catch(async (error: unknown) => {
    if (!(error instanceof SchemaDriftError)) throw error;
    const failed: RunSchema = { ...detected, action: 'failed' };
    await deps.state.runs.update(runId, { schema: failed });
    await announceDrift(deps, pipeline.name, runId, failed, drift);
    throw error;
  });
  await deps.state.runs.update(runId, { schema });
  await announceDrift(deps, pipeline.name, runId, schema, drift);
  if (schema.action === 'failed')
    throw new SchemaDriftError(
      `the columns of the source changed since the schema the pipeline accepted: ${summary}. schema.onDrift is freeze, so the run stopped before loading anything; ` +
        'change the source back, or run once with onDrift evolve or discard to accept the change',
      driftChanges(drift),
    );
  await acceptSchema(deps, pipeline.name, runId, acceptedAfter(policy, accepted, fields));
  return schema;
}

/** The run's schema record once the policy has acted on the drift. */
async function applyPolicy(
  pipeline: Pipeline,
  drift: SchemaDrift,
  target: TargetConnector,
  schema: RunSchema,
): Promise<RunSchema> {
  if (schema.policy === 'freeze') return { ...schema, action: 'failed' };
  const evolve = (change: SchemaDrift, widen: boolean) =>
    target.evolveSchema?.(change, pipeline.source.type, { widen }) ?? Promise.resolve([]);
  if (schema.policy === 'discard') {
    // The added columns stay out; the target must still hold the retyped ones as they are.
    await evolve({ added: [], removed: [], typeChanged: drift.typeChanged }, false);
    return { ...schema, action: 'discarded', discarded: discardedFields(drift) };
  }
  return { ...schema, action: 'evolved', targetChanges: await evolve(drift, true) };
}

async function acceptSchema(deps: Deps, pipeline: string, runId: string, fields: readonly SchemaField[]) {
  await deps.state.checkpoints.putSchema({
    pipeline,
    fields,
    setBy: runId,
    updatedAt: deps.now().toISOString(),
  });
}

/** Tells the bus and the log: column names and types only, never record data. */
async function announceDrift(
  deps: Deps,
  pipeline: string,
  runId: string,
  schema: RunSchema,
  drift: SchemaDrift,
): Promise<void> {
  await emitRunEvent(deps, SCHEMA_DRIFT_EVENT, {
    pipeline,
    runId,
    policy: schema.policy,
    action: schema.action,
    summary: schema.summary,
    added: drift.added.map((f) => f.name),
    removed: drift.removed.map((f) => f.name),
    typeChanged: drift.typeChanged,
    ...(schema.discarded && { discarded: schema.discarded }),
    ...(schema.targetChanges && { targetChanges: schema.targetChanges }),
  });
  deps.log.warn('source schema drifted', {
    pipeline,
    runId,
    policy: schema.policy,
    action: schema.action,
    changes: driftChanges(drift),
  });
}

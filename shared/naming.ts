/**
 * One naming pattern for every resource: `esync-<stage>-<pipeline>-<role>`. Resources shared
 * by all pipelines use the reserved pipeline name `core`. The CDK naming Aspect checks it; the
 * runtime derives queue URLs and state machine ARNs from it, so no map of names travels in
 * environment variables (Lambda allows 4 KB of them).
 */
export const CORE = 'core';

export const STAGES = ['dev', 'staging', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export const RESOURCE_NAME_PATTERN = /^esync-(dev|staging|prod)-[a-z][a-z0-9-]*-[a-z][a-z0-9-]*$/;

export type PipelineRole =
  | 'load'
  | 'load-dlq'
  | 'cdc-dlq'
  | 'target'
  | 'sm'
  | 'schedule'
  | 'cdc-rule'
  | 'dashboard'
  | 'load-fn';

export function resourceName(stage: string, pipeline: string, role: string): string {
  return `esync-${stage}-${pipeline}-${role}`;
}

export const loadQueueName = (stage: string, pipeline: string) => resourceName(stage, pipeline, 'load');
export const loadDlqName = (stage: string, pipeline: string) => resourceName(stage, pipeline, 'load-dlq');
export const stateMachineName = (stage: string, pipeline: string) => resourceName(stage, pipeline, 'sm');
export const ownedTargetTableName = (stage: string, pipeline: string) =>
  resourceName(stage, pipeline, 'target');
export const stateTableName = (stage: string) => resourceName(stage, CORE, 'state');
export const idempotencyTableName = (stage: string) => resourceName(stage, CORE, 'idempotency');
export const eventBusName = (stage: string) => resourceName(stage, CORE, 'bus');

/**
 * The SSM parameter path under which each pipeline's stack publishes the pipeline
 * (`/esync/<stage>/pipelines/<pipeline>`, its validated definition as JSON): the shared functions
 * read the stage's pipelines from it at run time, so the shared stack never lists them.
 */
export const pipelineParameterPath = (stage: string) => `/esync/${stage}/pipelines`;
export const pipelineParameterName = (stage: string, pipeline: string) =>
  `${pipelineParameterPath(stage)}/${pipeline}`;

/** The data bucket prefix of a pipeline's plan manifests: the only objects its state machine may read. */
export const manifestPrefix = (pipeline: string) => `manifests/${pipeline}/`;
/** The manifest of a run's plan too large for the state machine's payload (read by the Distributed Map). */
export const manifestKey = (pipeline: string, runId: string) => `${manifestPrefix(pipeline)}${runId}.json`;
/** The manifest of the partitions a run's Verify covers, when too many for the payload. */
export const verifyManifestKey = (pipeline: string, runId: string) =>
  `${manifestPrefix(pipeline)}${runId}-verify.json`;
/**
 * The quarantine object of one queue message's rejected records. Deterministic: a redelivered
 * message rewrites the same object instead of adding one, and a resuming run that abandons the
 * message finds the object to delete (usecases/resume.ts).
 */
export const quarantineKey = (
  pipeline: string,
  unit: { readonly scope: string; readonly messageKey: string },
) => `quarantine/${pipeline}/${encodeURIComponent(unit.scope)}/${unit.messageKey}.json`;

/** The pipeline a run state machine belongs to, from its ARN (`...:stateMachine:esync-<stage>-<pipeline>-sm`). */
export function pipelineOfStateMachineArn(arn: string, stage: string): string {
  const name = arn.slice(arn.lastIndexOf(':') + 1);
  const prefix = `esync-${stage}-`;
  if (!name.startsWith(prefix) || !name.endsWith('-sm'))
    throw new RangeError(`state machine "${name}" is not an ESync run state machine of stage ${stage}`);
  return name.slice(prefix.length, -'-sm'.length);
}

/** The pipeline a load queue belongs to, from the queue's ARN (`...:esync-<stage>-<pipeline>-load`). */
export function pipelineOfLoadQueueArn(arn: string, stage: string): string {
  const name = arn.slice(arn.lastIndexOf(':') + 1);
  const prefix = `esync-${stage}-`;
  if (!name.startsWith(prefix) || !name.endsWith('-load'))
    throw new RangeError(`queue "${name}" is not an ESync load queue of stage ${stage}`);
  return name.slice(prefix.length, -'-load'.length);
}

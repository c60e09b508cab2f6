import { Aws } from 'aws-cdk-lib';
import { loadDlqName, loadQueueName, stateMachineName } from '../../shared/naming.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import type { EsyncFunction } from './esync-function.ts';
import { type FunctionAccess, grantOn } from './function-access.ts';

/** Every pipeline of the stage: the `*` in `esync-<stage>-*-load` and the like. */
export const EVERY_PIPELINE = '*';

/** What a move task of dead letters back to the load queue and a peek at them need on the DLQ. */
const DEAD_LETTER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:StartMessageMoveTask',
  'sqs:ListMessageMoveTasks',
  'sqs:CancelMessageMoveTask',
  'sqs:ListDeadLetterSourceQueues',
];

/**
 * The ARNs of a pipeline's queues, state machine and runs, built from their names
 * (`esync-<stage>-<pipeline>-<role>`, which the naming Aspect holds every resource to) rather
 * than from the resources: a function in the core stack is granted on a pipeline in a stack of
 * its own without the core stack depending on it. `pipeline` may be {@link EVERY_PIPELINE}.
 */
export function pipelineResourceArns(stage: string, pipeline: string) {
  const arn = (service: string, resource: string) =>
    `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
  const machine = stateMachineName(stage, pipeline);
  return {
    loadQueue: arn('sqs', loadQueueName(stage, pipeline)),
    deadLetterQueue: arn('sqs', loadDlqName(stage, pipeline)),
    stateMachine: arn('states', `stateMachine:${machine}`),
    executions: arn('states', `execution:${machine}:*`),
  };
}

const PATTERN_REASON =
  'Granted by the naming pattern esync-<stage>-*-<role> on the pipelines’ queues, state machines and runs, which the function serves all of; the naming Aspect holds every resource to the pattern, so it covers this stage’s pipelines only, and a new pipeline needs no change to the shared roles.';
const RUNS_REASON =
  'Runs are executions named by their run id at run time; the grant covers only the state machines of the pipelines the function serves.';

/**
 * Grants `fn` the per-pipeline part of `access` on ESync's own resources of `pipelines`
 * (queues, dead letters, state machines, runs): by name, or for every pipeline of the stage by
 * the naming pattern.
 */
export function grantPipelineResources(
  fn: EsyncFunction,
  access: FunctionAccess,
  stage: string,
  pipelines: readonly string[],
): void {
  if (pipelines.length === 0) return;
  const arns = pipelines.map((p) => pipelineResourceArns(stage, p));
  const grant = (actions: readonly string[], resources: string[]) => {
    grantOn(fn, actions, resources);
    for (const resource of resources)
      if (resource.includes('*'))
        acknowledgeWildcardResource(
          fn.executionRole,
          resource,
          resource.endsWith(':*') ? RUNS_REASON : PATTERN_REASON,
        );
  };
  if (access.sendToQueues || access.handleDeadLetters)
    grant(
      ['sqs:SendMessage'],
      arns.map((a) => a.loadQueue),
    );
  if (access.inspectQueues)
    grant(
      ['sqs:GetQueueAttributes'],
      arns.flatMap((a) => [a.loadQueue, a.deadLetterQueue]),
    );
  if (access.handleDeadLetters)
    grant(
      DEAD_LETTER_ACTIONS,
      arns.map((a) => a.deadLetterQueue),
    );
  if (access.startRuns) {
    grant(
      ['states:StartExecution'],
      arns.map((a) => a.stateMachine),
    );
    grant(
      ['states:GetExecutionHistory', 'states:DescribeExecution'],
      arns.map((a) => a.executions),
    );
  }
}

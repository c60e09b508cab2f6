import { Aws, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { PIPELINE_PLACEHOLDER } from '../../shared/aws/pipeline-credentials.ts';
import { CORE, resourceName, type Stage } from '../../shared/naming.ts';
import type { FunctionName } from '../../shared/usecases/contracts.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import type { EsyncFunction } from './esync-function.ts';
import { type FunctionAccess, grantOn } from './function-access.ts';

/**
 * The IAM path of the pipelines' access roles: the shared functions may assume roles under it
 * only. The name, `esync-<stage>-<pipeline>-<function>`, is at most 63 characters (a pipeline
 * name at most 40), within IAM's 64.
 */
export const ACCESS_ROLE_PATH = '/esync-access/';

/** The last part of an access role's name where the function's name is too long for IAM's 64 characters. */
const SHORT_ROLE_PARTS: Partial<Record<FunctionName, string>> = { 'alert-webhook': 'alerts' };

/** The name of `pipeline`'s access role for the shared function `name`. */
function accessRoleName(stage: Stage, pipeline: string, name: FunctionName): string {
  return resourceName(stage, pipeline, SHORT_ROLE_PARTS[name] ?? name);
}

/** Something a pipeline's grants are made to: a function, or an access role. */
export interface AccessGrantee extends iam.IGrantable {
  /** The role whose policy holds the grants (and their cdk-nag acknowledgements). */
  readonly executionRole: iam.Role;
}

/** Whether `access` reaches a pipeline's own source, target or secrets (what an access role holds). */
export function reachesPipelineData(access: FunctionAccess): boolean {
  return Boolean(access.source || access.rereadSource || access.target || access.webhookSecrets);
}

const roleArn = (pathAndName: string) => `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/${pathAndName}`;

/** The ARN of the role the shared function `name` assumes to reach `pipeline` (`*`: any pipeline). */
export function accessRoleArn(stage: Stage, pipeline: string, name: FunctionName): string {
  return roleArn(`${ACCESS_ROLE_PATH.slice(1)}${accessRoleName(stage, pipeline, name)}`);
}

/** The name the shared function `name`'s own role gets, which the access roles trust. */
function sharedRoleName(stage: Stage, name: FunctionName): string {
  return resourceName(stage, CORE, name);
}

/**
 * The ARN of the shared function `name`'s own role, by the name {@link assumeAccessRoles} gives
 * it: what a pipeline's stack names in a resource policy without referring to the shared stack.
 */
export function sharedRoleArn(stage: Stage, name: FunctionName): string {
  return roleArn(sharedRoleName(stage, name));
}

const ASSUME_REASON =
  'The pipelines’ access roles are each in their pipeline’s stack, named esync-<stage>-<pipeline>-<function> under the path /esync-access/; the pattern names this stage and this function, so the shared role reaches no other function’s roles, and a new pipeline needs no change to it.';

/**
 * Readies a shared function for pipelines deployed in stacks of their own: its role gets a fixed
 * name (which the access roles trust by ARN), leave to assume this function's access roles of
 * the stage and nothing else, and their ARN with `{pipeline}` in `ESYNC_ACCESS_ROLE_ARN`
 * (shared/usecases/deps.ts assumes the pipeline's role per pipeline).
 */
export function assumeAccessRoles(fn: EsyncFunction, stage: Stage, name: FunctionName): void {
  (fn.executionRole.node.defaultChild as iam.CfnRole).roleName = sharedRoleName(stage, name);
  const pattern = accessRoleArn(stage, '*', name);
  grantOn(fn, ['sts:AssumeRole'], [pattern]);
  acknowledgeWildcardResource(fn.executionRole, pattern, ASSUME_REASON);
  fn.addEnvironment('ESYNC_ACCESS_ROLE_ARN', accessRoleArn(stage, PIPELINE_PLACEHOLDER, name));
}

/**
 * The role through which the shared function `name` reaches `pipeline`'s own source, target and
 * secrets: in the pipeline's stack, so the grants come and go with the pipeline, and trusted by
 * that shared function's role alone (by ARN, so a role of the same name made again is trusted
 * again). Sessions last at most an hour.
 */
export function createAccessRole(
  scope: Construct,
  id: string,
  options: { readonly stage: Stage; readonly pipeline: string; readonly name: FunctionName },
): AccessGrantee {
  const { stage, pipeline, name } = options;
  const role = new iam.Role(scope, id, {
    roleName: accessRoleName(stage, pipeline, name),
    path: ACCESS_ROLE_PATH,
    description: `Assumed by ${sharedRoleName(stage, name)} to reach pipeline ${pipeline}'s source, target and secrets`,
    assumedBy: new iam.AccountRootPrincipal().withConditions({
      ArnEquals: { 'aws:PrincipalArn': sharedRoleArn(stage, name) },
    }),
    maxSessionDuration: Duration.hours(1),
  });
  return { grantPrincipal: role, executionRole: role };
}

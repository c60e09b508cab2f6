import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct, IConstruct } from 'constructs';

/**
 * The only actions any ESync policy grants on resource "*": AWS authorizes them on no narrower
 * resource. Each set goes into a policy of its own ({@link AnyResourcePolicy}), so the cdk-nag
 * acknowledgement of its `Resource::*` finding covers that statement and nothing else.
 */
export const ANY_RESOURCE_ACTIONS = {
  /** Lambda active tracing sends segments under the function's role. */
  functionTracing: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
  /** Step Functions tracing also reads the sampling rules. */
  stateMachineTracing: [
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
    'xray:GetSamplingRules',
    'xray:GetSamplingTargets',
  ],
  /** Step Functions delivers execution logs through CloudWatch Logs vended log delivery. */
  logDelivery: [
    'logs:CreateLogDelivery',
    'logs:GetLogDelivery',
    'logs:UpdateLogDelivery',
    'logs:DeleteLogDelivery',
    'logs:ListLogDeliveries',
    'logs:PutResourcePolicy',
    'logs:DescribeResourcePolicies',
    'logs:DescribeLogGroups',
  ],
  /** Lambda reaches a VPC (an MSK cluster's, a database's) through network interfaces it creates under the role. */
  networkInterfaces: [
    'ec2:CreateNetworkInterface',
    'ec2:DeleteNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSecurityGroups',
    'ec2:DescribeSubnets',
    'ec2:DescribeVpcs',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
} as const satisfies Record<string, readonly string[]>;

export type AnyResourceGrant = keyof typeof ANY_RESOURCE_ACTIONS;

const REASONS: Readonly<Record<AnyResourceGrant, string>> = {
  functionTracing: 'X-Ray grants xray:PutTraceSegments and xray:PutTelemetryRecords only on resource "*".',
  stateMachineTracing: 'X-Ray grants segment writes and sampling-rule reads only on resource "*".',
  logDelivery:
    'CloudWatch Logs vended log delivery (logs:*LogDelivery and related) is granted only on resource "*".',
  networkInterfaces:
    'Lambda’s VPC network interfaces (ec2:*NetworkInterface*, ec2:Describe*) have no resource-level permissions.',
};

export interface AnyResourcePolicyProps {
  readonly role: iam.IRole;
  /** Which of {@link ANY_RESOURCE_ACTIONS} the policy grants. */
  readonly grant: AnyResourceGrant;
  /**
   * Resources that must not be created before the policy is in place (a state machine checks its log permissions).
   * @default - none
   */
  readonly requiredBy?: readonly IConstruct[];
}

/**
 * One statement on resource "*" in a policy of its own, its cdk-nag `Resource::*` finding
 * acknowledged on this policy only: a `*` statement added anywhere else (the role's default
 * policy included) is still reported.
 */
export class AnyResourcePolicy extends iam.Policy {
  constructor(scope: Construct, id: string, props: AnyResourcePolicyProps) {
    super(scope, id, {
      roles: [props.role],
      statements: [
        new iam.PolicyStatement({ actions: [...ANY_RESOURCE_ACTIONS[props.grant]], resources: ['*'] }),
      ],
    });
    Validations.of(this).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: REASONS[props.grant] });
    // The resource itself, not its construct: a role created inside it would then wait for a
    // policy that names the role.
    for (const dependent of props.requiredBy ?? [])
      (dependent.node.defaultChild ?? dependent).node.addDependency(this);
  }
}

import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * Flattens a resolved CloudFormation value the way cdk-nag names IAM5 findings: `Ref X` is `<X>`,
 * `Fn::GetAtt [X, Arn]` is `<X.Arn>`, a pseudo parameter is `<AWS::Partition>`, `Fn::Join` is
 * joined. Acknowledgements then name one finding exactly instead of silencing the rule.
 */
function flatten(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) {
      const [delimiter, items] = v['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (v['Fn::Sub'] !== undefined) return flatten(v['Fn::Sub']);
    if (Array.isArray(v['Fn::GetAtt'])) {
      const [resource, attribute] = v['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (v.Ref !== undefined) return `<${flatten(v.Ref)}>`;
  }
  return JSON.stringify(value);
}

/**
 * Acknowledges the cdk-nag IAM5 finding for one wildcard resource (`arn`, as passed to the grant)
 * in the policies under `scope`, with the reason it cannot be narrower.
 */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  const resource = flatten(Stack.of(scope).resolve(arn));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
}

/**
 * Acknowledges every wildcard resource of a policy CDK generates whole (its ARNs are not ours to
 * name), for the one reason that policy exists. Wildcard actions are never acknowledged here.
 */
export function acknowledgeWildcardsOf(policy: iam.Policy, reason: string): void {
  const document = Stack.of(policy).resolve(policy.document) as { Statement?: Array<{ Resource?: unknown }> };
  for (const statement of document.Statement ?? []) {
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const resource of resources) {
      const flat = flatten(resource);
      if (flat.includes('*'))
        Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
    }
  }
}

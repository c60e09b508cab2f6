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
 * Acknowledges the findings `ids` names on `scope`, now and again once the app is synthesized: a
 * reference to a resource of another stack (a pipeline's stack using the core stack's bucket)
 * becomes a stack-output reference only then, and cdk-nag names the finding by that form.
 */
function acknowledgeResolved(scope: IConstruct, ids: () => readonly string[], reason: string): void {
  const early = new Set(ids());
  for (const id of early) Validations.of(scope).acknowledge({ id, reason });
  scope.node.addValidation({
    validate: () => {
      for (const id of ids()) if (!early.has(id)) Validations.of(scope).acknowledge({ id, reason });
      return [];
    },
  });
}

/**
 * Acknowledges the cdk-nag IAM5 finding for one wildcard resource (`arn`, as passed to the grant)
 * in the policies under `scope`, with the reason it cannot be narrower.
 */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  acknowledgeResolved(
    scope,
    () => [`AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(arn))}]`],
    reason,
  );
}

/**
 * Acknowledges every wildcard resource of a policy CDK generates whole (its ARNs are not ours to
 * name), for the one reason that policy exists. Wildcard actions are never acknowledged here.
 */
export function acknowledgeWildcardsOf(policy: iam.Policy, reason: string): void {
  acknowledgeResolved(
    policy,
    () => {
      const document = Stack.of(policy).resolve(policy.document) as {
        Statement?: Array<{ Resource?: unknown }>;
      };
      return (document.Statement ?? []).flatMap((statement) =>
        (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource])
          .map(flatten)
          .filter((flat) => flat.includes('*'))
          .map((flat) => `AwsSolutions-IAM5[Resource::${flat}]`),
      );
    },
    reason,
  );
}

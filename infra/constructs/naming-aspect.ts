import { CfnResource, type IAspect, Token, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { RESOURCE_NAME_PATTERN } from '../../shared/naming.ts';

/**
 * The name-carrying L1 property of each resource type whose name we choose, and how to get the
 * `esync-...` part out of it (log groups and aliases wrap the name in a path).
 */
const NAMED_TYPES: Readonly<Record<string, { readonly property: string; readonly strip?: RegExp }>> = {
  'AWS::SQS::Queue': { property: 'queueName' },
  'AWS::DynamoDB::Table': { property: 'tableName' },
  'AWS::S3::Bucket': { property: 'bucketName' },
  'AWS::Lambda::Function': { property: 'functionName' },
  'AWS::StepFunctions::StateMachine': { property: 'stateMachineName' },
  'AWS::Events::EventBus': { property: 'name' },
  'AWS::Events::Rule': { property: 'name' },
  'AWS::Events::Archive': { property: 'archiveName' },
  'AWS::SNS::Topic': { property: 'topicName' },
  'AWS::CloudWatch::Alarm': { property: 'alarmName' },
  'AWS::CloudWatch::Dashboard': { property: 'dashboardName' },
  'AWS::ApiGatewayV2::Api': { property: 'name' },
  'AWS::KMS::Alias': { property: 'aliasName', strip: /^alias\// },
  'AWS::Logs::LogGroup': { property: 'logGroupName', strip: /^\/aws\/(lambda|vendedlogs\/[a-z]+)\// },
};

/** Id of the error the Aspect reports, for tests and for grepping synth output. */
export const NAMING_ERROR_ID = 'esync:ResourceName';

/**
 * Fails synthesis when a resource we name does not follow `esync-<stage>-<pipeline>-<role>`
 * (RESOURCE_NAME_PATTERN in shared/naming.ts), the pattern the runtime derives queue URLs and
 * state machine ARNs from. Names CloudFormation generates (unresolved tokens) are not ours and
 * are skipped.
 */
export class ResourceNamingAspect implements IAspect {
  visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    const named = NAMED_TYPES[node.cfnResourceType];
    if (!named) return;
    // L1 resources expose their properties by camelCase name; a Lazy resolves here, a reference does not.
    const value: unknown = node.stack.resolve((node as unknown as Record<string, unknown>)[named.property]);
    if (typeof value !== 'string' || Token.isUnresolved(value)) return;
    const name = named.strip ? value.replace(named.strip, '') : value;
    if (!RESOURCE_NAME_PATTERN.test(name))
      Validations.of(node).addError(
        NAMING_ERROR_ID,
        `${node.cfnResourceType} name "${value}" does not follow esync-<stage>-<pipeline>-<role> (${RESOURCE_NAME_PATTERN})`,
      );
  }
}

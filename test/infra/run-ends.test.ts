import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_PIPELINES, fixtureTemplate, logicalIdOf, resourceNamed } from './fixtures.ts';

let template: Template;
beforeAll(() => {
  template = fixtureTemplate();
});

describe('the route of run execution ends', () => {
  it('matches every end status of exactly the pipelines’ state machines on the default bus', () => {
    const rule = resourceNamed(template, 'AWS::Events::Rule', 'Name', 'esync-dev-core-run-ends');
    const pattern = rule.Properties.EventPattern as {
      source: string[];
      'detail-type': string[];
      detail: { status: string[]; stateMachineArn: Array<{ Ref: string }> };
    };

    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(pattern.source).toEqual(['aws.states']);
    expect(pattern['detail-type']).toEqual(['Step Functions Execution Status Change']);
    expect(pattern.detail.status.sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED', 'TIMED_OUT']);
    expect(pattern.detail.stateMachineArn.map((r) => r.Ref).sort()).toEqual(
      FIXTURE_PIPELINES.map((p) =>
        logicalIdOf(
          template,
          'AWS::StepFunctions::StateMachine',
          'StateMachineName',
          `esync-dev-${p.name}-sm`,
        ),
      ).sort(),
    );
  });

  it('invokes the run-ended function, retrying for a day, then dead-letters', () => {
    const rule = resourceNamed(template, 'AWS::Events::Rule', 'Name', 'esync-dev-core-run-ends');
    const fn = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', 'esync-dev-core-run-ended');
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', 'esync-dev-core-run-ends-dlq');

    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      }),
    ]);
  });
});

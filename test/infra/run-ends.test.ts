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
      detail: { status: string[]; stateMachineArn: Array<{ 'Fn::Join': [string, unknown[]] }> };
    };

    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(pattern.source).toEqual(['aws.states']);
    expect(pattern['detail-type']).toEqual(['Step Functions Execution Status Change']);
    expect(pattern.detail.status.sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED', 'TIMED_OUT']);
    // By name: the state machines may sit in the pipelines' own stacks.
    const names = pattern.detail.stateMachineArn.map((arn) => {
      const parts = arn['Fn::Join'][1];
      return String(parts.at(-1)).replace(/^:stateMachine:/, '');
    });
    expect(names.sort()).toEqual(FIXTURE_PIPELINES.map((p) => `esync-dev-${p.name}-sm`).sort());
    expect(JSON.stringify(pattern.detail.stateMachineArn)).toContain(':states:');
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

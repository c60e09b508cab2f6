import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureTemplate, logicalIdOf, resourceNamed } from './fixtures.ts';

let template: Template;
beforeAll(() => {
  template = fixtureTemplate();
});

describe('the route of run execution ends', () => {
  it('matches every end status of the stage’s run state machines by their naming pattern on the default bus', () => {
    const rule = resourceNamed(template, 'AWS::Events::Rule', 'Name', 'esync-dev-core-run-ends');
    const pattern = rule.Properties.EventPattern as {
      source: string[];
      'detail-type': string[];
      detail: {
        status: string[];
        stateMachineArn: Array<{ wildcard: { 'Fn::Join': [string, unknown[]] } }>;
      };
    };

    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(pattern.source).toEqual(['aws.states']);
    expect(pattern['detail-type']).toEqual(['Step Functions Execution Status Change']);
    expect([...pattern.detail.status].sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED', 'TIMED_OUT']);
    // By the naming pattern: the state machines sit in the pipelines' own stacks, added and
    // removed without this rule changing.
    expect(pattern.detail.stateMachineArn).toHaveLength(1);
    const parts = pattern.detail.stateMachineArn[0]?.wildcard['Fn::Join'][1] ?? [];
    expect(parts.at(-1)).toBe(':stateMachine:esync-dev-*-sm');
    expect(JSON.stringify(parts)).toContain(':states:');
  });

  it('is the same rule whatever pipelines the stage has', () => {
    const rule = (t: Template) =>
      resourceNamed(t, 'AWS::Events::Rule', 'Name', 'esync-dev-core-run-ends').Properties.EventPattern;

    const none = fixtureTemplate({ pipelines: [] });

    expect(rule(none)).toEqual(rule(template));
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

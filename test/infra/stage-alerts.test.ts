import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { stageAlerts } from '../../infra/stage.ts';
import { pipelineSchema } from '../../shared/pipeline/schema.ts';
import {
  FIXTURE_PIPELINES,
  fixtureApp,
  fixtureTemplate,
  logicalIdOf,
  resourceNamed,
  resourcesOf,
} from './fixtures.ts';

const STAGE_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:stage-pager';
const STAGE_ALERTS = {
  dev: {
    notify: {
      emails: ['data-team@example.com'],
      snsTopics: [STAGE_TOPIC],
      webhooks: [{ secret: 'esync/test/stage-slack' }],
    },
  },
};
const ROLES = ['dlq-depth', 'failure-rate', 'conflict-rate', 'latency', 'runs-failed'];
const FORMATTER = 'esync-dev-core-alert-webhook';

let template: Template;
beforeAll(() => {
  template = fixtureTemplate({ context: { alerts: STAGE_ALERTS } });
});

const subscriptions = (protocol: string) =>
  Object.values(resourcesOf(template, 'AWS::SNS::Subscription')).filter(
    (s) => s.Properties.Protocol === protocol,
  );

describe('the stage’s alerts.notify (cdk.json context alerts.<stage>)', () => {
  it('subscribes each stage email to the alarm topic unfiltered, beside the pipelines’ filtered ones', () => {
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
    const emails = subscriptions('email').map((s) => s.Properties);

    expect(emails).toHaveLength(2);
    const stage = emails.find((p) => p.Endpoint === 'data-team@example.com');
    expect(stage).toMatchObject({ TopicArn: { Ref: topicId } });
    expect(stage?.FilterPolicy).toBeUndefined();
    expect(emails.find((p) => p.Endpoint === 'oncall@example.com')?.FilterPolicy).toBeDefined();
  });

  it('has every alarm of every pipeline notify the stage’s SNS topics when it fires and recovers', () => {
    for (const pipeline of FIXTURE_PIPELINES)
      for (const role of ROLES) {
        const props = resourceNamed(
          template,
          'AWS::CloudWatch::Alarm',
          'AlarmName',
          `esync-dev-${pipeline.name}-${role}`,
        ).Properties;
        expect(props.AlarmActions, `${pipeline.name} ${role}`).toContain(STAGE_TOPIC);
        expect(props.OKActions, `${pipeline.name} ${role}`).toContain(STAGE_TOPIC);
      }
  });

  it('subscribes the chat formatter to every alarm, tells it the stage’s webhook secrets and lets it read them', () => {
    const fn = resourceNamed(template, 'AWS::Lambda::Function', 'FunctionName', FORMATTER);
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', FORMATTER);
    const lambdas = subscriptions('lambda');

    expect(lambdas).toHaveLength(1);
    expect(lambdas[0]?.Properties.Endpoint).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    expect(lambdas[0]?.Properties.FilterPolicy).toBeUndefined();
    expect(
      (fn.Properties.Environment as { Variables: Record<string, string> }).Variables
        .ESYNC_STAGE_ALERT_WEBHOOKS,
    ).toBe('esync/test/stage-slack');
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter(
      (p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
    );
    const text = JSON.stringify(policies);
    expect(text).toContain(':secret:esync/test/stage-slack-??????');
    expect(text).toContain(':secret:esync/test/slack-oncall-??????');
  });

  it('deploys the formatter for the stage’s webhooks alone, when no pipeline names one', () => {
    const quiet = FIXTURE_PIPELINES.map((p) =>
      pipelineSchema.parse({
        ...p,
        alerts: { ...p.alerts, notify: { emails: [], snsTopics: [], webhooks: [] } },
      }),
    );
    const alone = fixtureTemplate({ pipelines: quiet, context: { alerts: STAGE_ALERTS } });

    expect(() => resourceNamed(alone, 'AWS::Lambda::Function', 'FunctionName', FORMATTER)).not.toThrow();
    const without = fixtureTemplate({ pipelines: quiet });
    expect(Object.keys(resourcesOf(without, 'AWS::SNS::Subscription'))).toEqual([]);
  });

  it('leaves cdk-nag nothing to find, in the per-pipeline stacks as deployed', () => {
    const { app } = fixtureApp({ context: { alerts: STAGE_ALERTS }, layout: 'per-pipeline' });

    const findings = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));

    expect(findings).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });
});

describe('alarms the formatter could not post', () => {
  it('are retried twice by Lambda, then kept with their error in the alert DLQ, where SNS also puts what it could not deliver', () => {
    const queueId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', 'esync-dev-core-alert-dlq');
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', FORMATTER);
    const queueArn = { 'Fn::GetAtt': [queueId, 'Arn'] };

    const invokeConfigs = Object.values(resourcesOf(template, 'AWS::Lambda::EventInvokeConfig')).filter(
      (c) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: fnId }),
    );
    expect(invokeConfigs.map((c) => c.Properties)).toEqual([
      expect.objectContaining({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: queueArn } },
      }),
    ]);
    expect(subscriptions('lambda')[0]?.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: queueArn });
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[queueId];
    expect(queue?.Properties.KmsMasterKeyId).toBeDefined();
    const policies = JSON.stringify(
      Object.values(resourcesOf(template, 'AWS::SQS::QueuePolicy')).filter((p) =>
        JSON.stringify(p.Properties.Queues).includes(queueId),
      ),
    );
    expect(policies).toContain('"Service":"sns.amazonaws.com"');
    expect(policies).toContain(JSON.stringify({ 'aws:SourceArn': { Ref: topicId } }));
    const fn = resourceNamed(template, 'AWS::Lambda::Function', 'FunctionName', FORMATTER);
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const rolePolicies = JSON.stringify(
      Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter(
        (p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
      ),
    );
    expect(rolePolicies).toContain('sqs:SendMessage');
    expect(rolePolicies).toContain(JSON.stringify(queueArn));
  });
});

describe('stageAlerts', () => {
  it('reads the stage’s entry from cdk.json’s object or -c alerts=<json>, nobody when it names none', () => {
    expect(stageAlerts('dev', STAGE_ALERTS).notify.emails).toEqual(['data-team@example.com']);
    expect(stageAlerts('dev', JSON.stringify(STAGE_ALERTS)).notify.webhooks).toEqual([
      { secret: 'esync/test/stage-slack' },
    ]);
    expect(stageAlerts('prod', STAGE_ALERTS).notify).toEqual({ emails: [], snsTopics: [], webhooks: [] });
    expect(stageAlerts('dev', undefined).notify.snsTopics).toEqual([]);
  });

  it('refuses a bad entry naming the stage, the field and the value received', () => {
    expect(() => stageAlerts('dev', { dev: { notify: { emails: ['nobody'] } } })).toThrow(
      /^alerts\.dev: notify\.emails\.0 an email address, e\.g\. oncall@example\.com \(got .*nobody/,
    );
    expect(() => stageAlerts('dev', { dev: { notfy: {} } })).toThrow(/alerts\.dev: .*notfy/);
    expect(() => stageAlerts('dev', '{oops')).toThrow(/-c alerts=\{oops: not JSON/);
  });

  it('refuses at synth more SNS topics for an alarm than CloudWatch takes, naming the pipeline', () => {
    const topics = [1, 2, 3, 4].map((n) => `arn:aws:sns:eu-west-1:123456789012:t${n}`);

    expect(() =>
      fixtureTemplate({ context: { alerts: { dev: { notify: { snsTopics: topics } } } } }),
    ).toThrow(/pipeline accounts-sync: its alarms would notify 5 SNS topics .* at most 4/);
  });
});

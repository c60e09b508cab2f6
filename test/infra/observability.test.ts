import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESYNC_METRICS } from '../../infra/constructs/observability.ts';
import { METRIC, METRICS_NAMESPACE } from '../../shared/lambda/observability.ts';
import { FIXTURE_PIPELINES, fixtureTemplate, logicalIdOf, resourceNamed, resourcesOf } from './fixtures.ts';

let template: Template;
beforeAll(() => {
  template = fixtureTemplate();
});

const alarm = (name: string) => resourceNamed(template, 'AWS::CloudWatch::Alarm', 'AlarmName', name);

describe.each(FIXTURE_PIPELINES.map((p) => [p.name, p] as const))(
  'alarms of pipeline %s',
  (name, pipeline) => {
    it('notify the alarm topic when they fire and when they recover', () => {
      const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
      const roles = ['dlq-depth', 'failure-rate', 'conflict-rate', 'latency', 'runs-failed'];

      for (const role of roles) {
        const props = alarm(`esync-dev-${name}-${role}`).Properties;
        const actions = [{ Ref: topicId }, ...pipeline.alerts.notify.snsTopics];
        expect(props.AlarmActions, role).toEqual(actions);
        expect(props.OKActions, role).toEqual(actions);
        expect(props.TreatMissingData, role).toBe('notBreaching');
      }
    });

    it('fire on any message in the load DLQ', () => {
      const dlqId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', `esync-dev-${name}-load-dlq`);

      expect(alarm(`esync-dev-${name}-dlq-depth`).Properties).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
      });
    });

    it('fire above the pipeline’s failure and conflict rates, computed from the Load metrics', () => {
      const failure = alarm(`esync-dev-${name}-failure-rate`).Properties;
      const conflict = alarm(`esync-dev-${name}-conflict-rate`).Properties;
      const metricsOf = (p: Record<string, unknown>) =>
        (
          p.Metrics as Array<{
            MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: unknown } };
          }>
        ).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));

      expect(failure.Threshold).toBe(pipeline.alerts.failureRate);
      expect(conflict.Threshold).toBe(pipeline.alerts.conflictRate);
      for (const metric of [...metricsOf(failure), ...metricsOf(conflict)])
        expect(metric).toMatchObject({
          Namespace: 'ESync',
          Dimensions: expect.arrayContaining([
            { Name: 'pipeline', Value: name },
            { Name: 'service', Value: 'esync-load' },
          ]),
        });
      expect(
        metricsOf(conflict)
          .map((m) => m.MetricName)
          .sort(),
      ).toEqual(['Conflicts', 'RecordsProcessed']);
    });

    it('fire when the oldest load message is older than the pipeline’s latency limit', () => {
      expect(alarm(`esync-dev-${name}-latency`).Properties).toMatchObject({
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: pipeline.alerts.latencyMs / 1000,
      });
    });

    it('fire on failed or timed-out runs', () => {
      const names = JSON.stringify(alarm(`esync-dev-${name}-runs-failed`).Properties.Metrics);

      expect(names).toContain('ExecutionsFailed');
      expect(names).toContain('ExecutionsTimedOut');
    });

    it('have a dashboard', () => {
      const dashboard = resourceNamed(
        template,
        'AWS::CloudWatch::Dashboard',
        'DashboardName',
        `esync-dev-${name}-dashboard`,
      );
      const body = JSON.stringify(dashboard.Properties.DashboardBody);

      for (const title of ['Throughput', 'Latency', 'Errors', 'Conflicts', 'Queue depth', 'DLQ depth'])
        expect(body).toContain(title);
    });
  },
);

describe('observability', () => {
  it('alarms on the CDC route’s DLQ only for pipelines with CDC', () => {
    const names = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties.AlarmName,
    );

    const cdcAlarms = FIXTURE_PIPELINES.map((p) => `esync-dev-${p.name}-cdc-dlq-depth`).filter((n) =>
      names.includes(n),
    );

    expect(cdcAlarms).toEqual(['esync-dev-stock-cdc-cdc-dlq-depth']);
  });

  it('reads the metric names and namespace that shared/lambda/observability.ts defines', () => {
    expect(ESYNC_METRICS.namespace).toBe(METRICS_NAMESPACE);
    for (const key of [
      'processed',
      'loaded',
      'skipped',
      'failed',
      'quarantined',
      'deadLettered',
      'conflicts',
    ] as const) {
      const emitted = Object.values(METRIC) as string[];
      expect(emitted, key).toContain(ESYNC_METRICS[key]);
    }
  });
});

describe('alerts.notify', () => {
  it('notifies a pipeline’s own SNS topics from its alarms, and no other pipeline’s', () => {
    const own = alarm('esync-dev-accounts-sync-runs-failed').Properties;
    const other = alarm('esync-dev-stock-cdc-runs-failed').Properties;

    expect(own.AlarmActions).toContain('arn:aws:sns:eu-west-1:123456789012:pager');
    expect(other.AlarmActions).not.toContain('arn:aws:sns:eu-west-1:123456789012:pager');
  });

  it('subscribes each email to the alarm topic, filtered to exactly that pipeline’s alarms', () => {
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
    const emails = Object.values(resourcesOf(template, 'AWS::SNS::Subscription')).filter(
      (s) => s.Properties.Protocol === 'email',
    );

    expect(emails).toHaveLength(1);
    expect(emails[0]?.Properties).toMatchObject({
      TopicArn: { Ref: topicId },
      Endpoint: 'oncall@example.com',
      FilterPolicyScope: 'MessageBody',
    });
    const policy = emails[0]?.Properties.FilterPolicy as { AlarmName: string[] } | undefined;
    const names = policy?.AlarmName ?? [];
    expect([...names].sort()).toEqual(
      ['conflict-rate', 'dlq-depth', 'failure-rate', 'latency', 'runs-failed'].map(
        (role) => `esync-dev-accounts-sync-${role}`,
      ),
    );
  });
});

describe('alerts.notify.webhooks', () => {
  const formatterName = 'esync-dev-core-alert-webhook';

  it('subscribes the chat formatter to the alarm topic, filtered to exactly the alarms of pipelines with webhooks', () => {
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', formatterName);
    const lambdas = Object.values(resourcesOf(template, 'AWS::SNS::Subscription')).filter(
      (s) => s.Properties.Protocol === 'lambda',
    );

    expect(lambdas).toHaveLength(1);
    expect(lambdas[0]?.Properties).toMatchObject({
      TopicArn: { Ref: topicId },
      Endpoint: { 'Fn::GetAtt': [fnId, 'Arn'] },
      FilterPolicyScope: 'MessageBody',
    });
    const names =
      (lambdas[0]?.Properties.FilterPolicy as { AlarmName?: string[] } | undefined)?.AlarmName ?? [];
    expect([...names].sort()).toEqual(
      ['conflict-rate', 'dlq-depth', 'failure-rate', 'latency', 'runs-failed'].map(
        (role) => `esync-dev-accounts-sync-${role}`,
      ),
    );
  });

  it('lets only SNS, from the alarm topic, invoke the formatter', () => {
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'TopicName', 'esync-dev-core-alarms');
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', formatterName);
    const permissions = Object.values(resourcesOf(template, 'AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [fnId, 'Arn'] }),
    );

    expect(permissions.map((p) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
        Principal: 'sns.amazonaws.com',
        SourceArn: { Ref: topicId },
      },
    ]);
  });

  it('gives the formatter read access to the webhook URL secrets by name and the runs index, and sending to its DLQ, nothing else of ESync’s', () => {
    const fn = resourceNamed(template, 'AWS::Lambda::Function', 'FunctionName', formatterName);
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap(
        (p) =>
          (
            p.Properties.PolicyDocument as {
              Statement: Array<{ Action: string | string[]; Resource: unknown }>;
            }
          ).Statement,
      );
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

    expect(actions.filter((a) => a.startsWith('secretsmanager:')).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
    expect(JSON.stringify(statements)).toContain(':secret:esync/test/slack-oncall-??????');
    expect(actions.filter((a) => /^(s3|states|events):/.test(a))).toEqual([]);
    // SQS only to keep an alarm it could not post in its own DLQ (Lambda's on-failure destination).
    const dlqId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', 'esync-dev-core-alert-dlq');
    expect(statements.filter((s) => JSON.stringify(s.Action).includes('sqs:'))).toEqual([
      expect.objectContaining({ Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlqId, 'Arn'] } }),
    ]);
    const tableId = logicalIdOf(template, 'AWS::DynamoDB::Table', 'TableName', 'esync-dev-core-state');
    expect(statements.filter((s) => JSON.stringify(s.Action).includes('dynamodb:'))).toEqual([
      expect.objectContaining({
        Action: 'dynamodb:Query',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, '/index/gsi1']] },
      }),
    ]);
  });
});

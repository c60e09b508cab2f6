import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { VISIBILITY_TIMEOUT_FACTOR } from '../../infra/constructs/pipeline-queues.ts';
import { SQS_MAX_MESSAGE_BYTES } from '../../shared/pipeline/load-batching.ts';
import { STATE_GSI1 } from '../../shared/state/keys.ts';
import { FIXTURE_PIPELINES, fixtureTemplate, logicalIdOf, resourceNamed, resourcesOf } from './fixtures.ts';

let template: Template;
beforeAll(() => {
  template = fixtureTemplate();
});

const queue = (name: string) => resourceNamed(template, 'AWS::SQS::Queue', 'QueueName', name);

describe.each(FIXTURE_PIPELINES.map((p) => [p.name, p] as const))('pipeline %s', (name, pipeline) => {
  it('redrives a load message to its DLQ after the pipeline’s maxReceiveCount', () => {
    const dlqId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', `esync-dev-${name}-load-dlq`);

    const redrive = queue(`esync-dev-${name}-load`).Properties.RedrivePolicy;

    expect(redrive).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: pipeline.dlq.maxReceiveCount,
    });
  });

  it('keeps a message invisible at least six times the Load function timeout', () => {
    const fn = resourceNamed(template, 'AWS::Lambda::Function', 'FunctionName', `esync-dev-${name}-load-fn`);

    const visibility = queue(`esync-dev-${name}-load`).Properties.VisibilityTimeout as number;

    expect(fn.Properties.Timeout).toBe(pipeline.load.timeoutSeconds);
    expect(visibility).toBeGreaterThanOrEqual(VISIBILITY_TIMEOUT_FACTOR * pipeline.load.timeoutSeconds);
  });

  it('feeds the Load function in batches with partial batch responses and the pipeline’s maximum concurrency', () => {
    const queueId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', `esync-dev-${name}-load`);
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'FunctionName', `esync-dev-${name}-load-fn`);

    const mappings = Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping')).filter(
      (m) =>
        JSON.stringify(m.Properties.EventSourceArn) === JSON.stringify({ 'Fn::GetAtt': [queueId, 'Arn'] }),
    );

    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      FunctionName: { Ref: fnId },
      BatchSize: pipeline.load.batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: pipeline.load.maxConcurrency },
    });
    const window = mappings[0]?.Properties.MaximumBatchingWindowInSeconds;
    expect(window ?? 0).toBe(pipeline.load.batchingWindowSeconds);
  });

  it('lets its load queue and DLQ take messages as large as Extract may pack', () => {
    const sizes = [`esync-dev-${name}-load`, `esync-dev-${name}-load-dlq`].map(
      (q) => queue(q).Properties.MaximumMessageSize,
    );

    expect(pipeline.batch.maxBytes).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    expect(sizes).toEqual([SQS_MAX_MESSAGE_BYTES, SQS_MAX_MESSAGE_BYTES]);
  });

  it('exports its state machine ARN and load queue URL', () => {
    const outputs = Object.keys(template.toJSON().Outputs as Record<string, unknown>);
    const id = name
      .split('-')
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join('');

    expect(outputs).toEqual(expect.arrayContaining([`StateMachineArn${id}`, `LoadQueueUrl${id}`]));
  });
});

describe('triggers', () => {
  it('starts a scheduled pipeline’s state machine on its schedule with trigger "schedule"', () => {
    const smId = logicalIdOf(
      template,
      'AWS::StepFunctions::StateMachine',
      'StateMachineName',
      'esync-dev-accounts-sync-sm',
    );

    const rule = resourceNamed(template, 'AWS::Events::Rule', 'Name', 'esync-dev-accounts-sync-schedule');

    expect(rule.Properties.ScheduleExpression).toBe('rate(30 minutes)');
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({ Arn: { Ref: smId }, Input: JSON.stringify({ trigger: 'schedule' }) }),
    ]);
  });

  it('creates no schedule for pipelines without one', () => {
    const names = Object.values(resourcesOf(template, 'AWS::Events::Rule')).map((r) => r.Properties.Name);

    expect(names).not.toContain('esync-dev-stock-cdc-schedule');
    expect(names).not.toContain('esync-dev-issues-hook-schedule');
  });

  it('routes CDC events matching the pipeline’s pattern from the ESync bus to its load queue, with a DLQ', () => {
    const busId = logicalIdOf(template, 'AWS::Events::EventBus', 'Name', 'esync-dev-core-bus');
    const queueId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', 'esync-dev-stock-cdc-load');
    const dlqId = logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', 'esync-dev-stock-cdc-cdc-dlq');

    const rule = resourceNamed(template, 'AWS::Events::Rule', 'Name', 'esync-dev-stock-cdc-cdc-rule');

    expect(rule.Properties.EventBusName).toEqual({ Ref: busId });
    expect(rule.Properties.EventPattern).toEqual({ source: ['esync.cdc'], 'detail-type': ['stock.change'] });
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
      }),
    ]);
  });

  it('lets only the CDC rule send to the load queue and the route DLQ', () => {
    const ruleId = logicalIdOf(template, 'AWS::Events::Rule', 'Name', 'esync-dev-stock-cdc-cdc-rule');
    const ids = ['esync-dev-stock-cdc-load', 'esync-dev-stock-cdc-cdc-dlq'].map((n) =>
      logicalIdOf(template, 'AWS::SQS::Queue', 'QueueName', n),
    );

    for (const id of ids) {
      const policies = Object.values(resourcesOf(template, 'AWS::SQS::QueuePolicy')).filter((p) =>
        JSON.stringify(p.Properties.Queues).includes(`"${id}"`),
      );
      const allows = policies
        .flatMap(
          (p) => (p.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
        )
        .filter((s) => s.Effect === 'Allow');

      expect(allows).toEqual([
        expect.objectContaining({
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        }),
      ]);
    }
  });
});

describe('target tables', () => {
  it('creates the table ESync owns for a DynamoDB target that names none, keyed by keyAttribute', () => {
    const table = resourceNamed(
      template,
      'AWS::DynamoDB::Table',
      'TableName',
      'esync-dev-accounts-sync-target',
    );

    expect(table.Properties.KeySchema).toEqual([{ AttributeName: 'accountId', KeyType: 'HASH' }]);
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('creates no table for targets that are not DynamoDB', () => {
    const names = Object.values(resourcesOf(template, 'AWS::DynamoDB::Table')).map(
      (t) => t.Properties.TableName,
    );

    expect(names.sort()).toEqual([
      'esync-dev-accounts-sync-target',
      'esync-dev-core-idempotency',
      'esync-dev-core-state',
    ]);
  });
});

describe('state table', () => {
  it('has the one index the cost model bills writes for: gsi1, its keys and projection as STATE_GSI1 says', () => {
    const table = resourceNamed(template, 'AWS::DynamoDB::Table', 'TableName', 'esync-dev-core-state');

    expect(table.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: STATE_GSI1.name,
        KeySchema: [
          { AttributeName: STATE_GSI1.keys[0], KeyType: 'HASH' },
          { AttributeName: STATE_GSI1.keys[1], KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: STATE_GSI1.projection },
      },
    ]);
  });
});

describe('stack outputs', () => {
  it('name what the esync command needs: API URL, state table, data bucket and event bus', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['ApiUrl', 'StateTableName', 'DataBucketName', 'EventBusName', 'AlarmTopicArn']),
    );
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain('execute-api');
  });
});

describe('Kafka trigger', () => {
  it('adds an MSK event source for each topic to the pipeline’s Load function', () => {
    const mappings = template.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { Topics: ['shop.public.stock'] },
    });
    const [mapping] = Object.values(mappings) as { Properties: Record<string, unknown> }[];
    expect(mapping?.Properties).toMatchObject({
      EventSourceArn:
        'arn:aws:kafka:eu-west-1:123456789012:cluster/cdc/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
      BatchSize: 250,
      StartingPosition: 'TRIM_HORIZON',
    });
  });
});

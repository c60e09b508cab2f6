import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { ResourceNamingAspect } from '../../infra/constructs/naming-aspect.ts';
import { parseStage } from '../../infra/stage.ts';
import type { Stage } from '../../shared/naming.ts';
import { fixtureApp, tempOutdir } from './fixtures.ts';

function stackWithQueue(queueName?: string): Stack {
  const app = new App({
    outdir: tempOutdir(),
    builtinCloudFormationValidation: false,
  });
  const stack = new Stack(app, 'NamingTest');
  new sqs.Queue(stack, 'Queue', { queueName, enforceSSL: true });
  Aspects.of(app).add(new ResourceNamingAspect());
  return stack;
}

/** One ESync stack per stage, synthesized once for the whole file. */
const stageStacks = new Map<Stage, Stack>();
function stageStack(stage: Stage): Stack {
  let stack = stageStacks.get(stage);
  if (!stack) {
    stack = fixtureApp({ stage }).stack;
    stageStacks.set(stage, stack);
  }
  return stack;
}

const namingErrors = (stack: Stack) =>
  Annotations.fromStack(stack).findError(
    '*',
    Match.stringLikeRegexp('does not follow esync-<stage>-<pipeline>-<role>'),
  );

describe('the naming Aspect', () => {
  it('rejects a resource name outside esync-<stage>-<pipeline>-<role>, naming the value', () => {
    const stack = stackWithQueue('orders-queue');

    const errors = namingErrors(stack);

    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.entry.data)).toContain('"orders-queue"');
  });

  it('rejects a name with an unknown stage', () => {
    expect(namingErrors(stackWithQueue('esync-qa-orders-load'))).toHaveLength(1);
  });

  it('reports the violation as an error of the stack, which fails `cdk synth`', () => {
    const stack = stackWithQueue('Orders_Load');

    const messages = (stack.node.root as App).synth().getStackArtifact(stack.artifactId).messages;

    const errors = messages.filter((m) => m.level === 'error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.entry.data)).toContain('"Orders_Load" does not follow');
    expect(errors[0]?.entry.type).toBe('aws:cdk:error');
  });

  it('accepts a name that follows the pattern', () => {
    expect(namingErrors(stackWithQueue('esync-prod-orders-load-dlq'))).toHaveLength(0);
  });

  it('leaves names CloudFormation generates alone', () => {
    expect(namingErrors(stackWithQueue(undefined))).toHaveLength(0);
  });

  it('finds no violation in the ESync stack of any stage', () => {
    for (const stage of ['dev', 'staging', 'prod'] as const) {
      expect(namingErrors(stageStack(stage)), stage).toHaveLength(0);
    }
  });
});

describe('stages', () => {
  it('defaults to dev', () => {
    expect(parseStage(undefined)).toBe('dev');
  });

  it('rejects an unknown stage, showing the value and the stages allowed', () => {
    expect(() => parseStage('qa')).toThrow(
      'unknown stage "qa" (from -c stage=...); use one of: dev, staging, prod',
    );
  });

  it('keeps the state table when a staging or prod stack is deleted, and not in dev', () => {
    const deletionPolicy = (stage: 'dev' | 'staging' | 'prod') => {
      const template = Template.fromStack(stageStack(stage));
      const tables = template.findResources('AWS::DynamoDB::Table', {
        Properties: { TableName: `esync-${stage}-core-state` },
      });
      return Object.values(tables)[0]?.DeletionPolicy;
    };

    expect(deletionPolicy('dev')).toBe('Delete');
    expect(deletionPolicy('staging')).toBe('Retain');
    expect(deletionPolicy('prod')).toBe('Retain');
  });

  it('protects every prod table from deletion and retains it, the data bucket and the dead letters', () => {
    const protection = (stage: Stage) => {
      const template = Template.fromStack(stageStack(stage));
      const policies = (type: string, filter: (props: Record<string, unknown>) => boolean = () => true) =>
        Object.values(template.findResources(type))
          .filter((r) => filter(r.Properties as Record<string, unknown>))
          .map((r) => {
            const props = r.Properties as Record<string, unknown>;
            return {
              name: String(props.TableName ?? props.QueueName ?? 'bucket'),
              policy: r.DeletionPolicy,
              ...(type === 'AWS::DynamoDB::Table' && { protected: props.DeletionProtectionEnabled === true }),
              ...(type === 'AWS::SQS::Queue' && { retentionSeconds: props.MessageRetentionPeriod }),
            };
          });
      return {
        tables: policies('AWS::DynamoDB::Table'),
        dlqs: policies('AWS::SQS::Queue', (props) => String(props.QueueName).endsWith('-load-dlq')),
        dataBucket: policies('AWS::S3::Bucket', (props) => props.VersioningConfiguration !== undefined),
      };
    };

    const prod = protection('prod');
    const dev = protection('dev');

    expect(prod.tables.map((t) => t.name)).toEqual([
      'esync-prod-core-state',
      'esync-prod-core-idempotency',
      'esync-prod-accounts-sync-target',
    ]);
    expect(prod.tables.every((t) => t.protected && t.policy === 'Retain')).toBe(true);
    expect(prod.dataBucket).toEqual([{ name: 'bucket', policy: 'Retain' }]);
    expect(prod.dlqs).toHaveLength(3);
    expect(prod.dlqs.every((q) => q.policy === 'Retain' && q.retentionSeconds === 14 * 86_400)).toBe(true);
    expect(dev.tables.some((t) => t.protected)).toBe(false);
    expect(dev.dlqs.every((q) => q.policy === 'Delete' && q.retentionSeconds === 14 * 86_400)).toBe(true);
  });
});

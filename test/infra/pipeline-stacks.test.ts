import { Annotations, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import { generatedPipelines } from '../support/generated-pipelines.ts';
import { FIXTURE_PIPELINES, fixtureApp, resourcesOf } from './fixtures.ts';

/** CloudFormation's limit of resources in one stack. */
const STACK_RESOURCE_LIMIT = 500;

type Named = { Type: string; Properties: Record<string, unknown> };

/** Every resource of a template as `Type name` (its physical name where it has one, else its logical id). */
function resourceNames(resources: Record<string, Named>): string[] {
  return Object.entries(resources).map(([id, r]) => {
    const p = r.Properties ?? {};
    const name = [
      p.FunctionName,
      p.QueueName,
      p.StateMachineName,
      p.TableName,
      p.Name,
      p.AlarmName,
      p.DashboardName,
    ]
      .concat([p.LogGroupName, p.TopicName])
      .find((v) => typeof v === 'string');
    return `${r.Type} ${name ?? id}`;
  });
}

describe('per-pipeline stacks', () => {
  // About 15 s alone; up to three times that on a machine the whole suite loads.
  it('keeps every stack of a 100-pipeline stage under the 500-resource limit, each pipeline in its own', {
    timeout: 150_000,
  }, () => {
    const pipelines = generatedPipelines(100);

    const { app, stack } = fixtureApp({ pipelines, layout: 'per-pipeline' });
    const assembly = app.synth();

    const counts = assembly.stacks.map(
      (s) => [s.stackName, Object.keys(s.template.Resources ?? {}).length] as const,
    );
    expect(counts).toHaveLength(101);
    for (const [name, count] of counts) expect(count, name).toBeLessThan(STACK_RESOURCE_LIMIT);
    const queuesOf = (stackName: string) =>
      Object.values(assembly.getStackByName(stackName).template.Resources as Record<string, Named>)
        .filter((r) => r.Type === 'AWS::SQS::Queue')
        .map((r) => r.Properties.QueueName);
    expect(queuesOf('esync-dev-p007-sync')).toEqual([
      'esync-dev-p007-sync-load-dlq',
      'esync-dev-p007-sync-load',
    ]);
    expect(queuesOf(stack.stackName).every((q) => String(q).startsWith('esync-dev-core-'))).toBe(true);
    // Past 10 managed policies a role needs a quota increase: the shared roles' grants stay within.
    const policyWarnings = Annotations.fromStack(stack)
      .findWarning('*', /Policy (too )?large/)
      .map((w) => w.id);
    expect(policyWarnings).toEqual([]);
  });

  it('deploys the same resources as one stack would, with nothing unacknowledged by cdk-nag', () => {
    const single = Template.fromStack(fixtureApp().stack);
    const { app, stack } = fixtureApp({ layout: 'per-pipeline' });

    const assembly = app.synth();
    const split = assembly.stacks.flatMap((s) =>
      resourceNames(s.template.Resources as Record<string, Named>),
    );

    const named = (names: string[]) => names.filter((n) => !/ [A-Z]\w+[0-9A-F]{8}$/.test(n)).sort();
    // Apart, each pipeline also publishes itself where the shared functions read the pipelines.
    const published = FIXTURE_PIPELINES.map((p) => `AWS::SSM::Parameter /esync/dev/pipelines/${p.name}`);
    expect(named(split)).toEqual(
      named([...resourceNames(single.toJSON().Resources as Record<string, Named>), ...published]),
    );
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual([
      'esync-dev',
      ...FIXTURE_PIPELINES.map((p) => `esync-dev-${p.name}`).sort(),
    ]);
    expect(stack.dependencies).toEqual([]);
    const findings = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings).toEqual([]);
  });

  it('leaves the other pipelines’ stacks untouched when a pipeline is added', () => {
    const templates = (pipelines: readonly Pipeline[]) =>
      new Map(
        fixtureApp({ pipelines, layout: 'per-pipeline' })
          .app.synth()
          .stacks.map((s) => [s.stackName, JSON.stringify(s.template)] as const),
      );
    const [added] = generatedPipelines(1);

    const before = templates(FIXTURE_PIPELINES);
    const after = templates([...FIXTURE_PIPELINES, added as Pipeline]);

    for (const p of FIXTURE_PIPELINES)
      expect(after.get(`esync-dev-${p.name}`), p.name).toBe(before.get(`esync-dev-${p.name}`));
    expect(after.has('esync-dev-p000-sync')).toBe(true);
    expect(
      resourcesOf(Template.fromJSON(JSON.parse(after.get('esync-dev') ?? '{}')), 'AWS::SQS::Queue'),
    ).toEqual(resourcesOf(Template.fromJSON(JSON.parse(before.get('esync-dev') ?? '{}')), 'AWS::SQS::Queue'));
  });
});

type Fn = {
  Type: string;
  Properties: { FunctionName?: string; Environment?: { Variables?: Record<string, unknown> } };
};
type PolicyDoc = { Statement: Array<{ Action: string | string[]; Resource: unknown }> };

describe('the pipelines the shared functions serve, apart', () => {
  const assembly = fixtureApp({ layout: 'per-pipeline' }).app.synth();
  const core = assembly.getStackByName('esync-dev').template as { Resources: Record<string, Fn> };
  const functionsOf = (template: { Resources: Record<string, Fn> }) =>
    Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');

  it('are read from the stage’s SSM path by every shared function, with GetParametersByPath on that path only', () => {
    const shared = functionsOf(core);
    const policies = Object.values(core.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => (r.Properties as unknown as { PolicyDocument: PolicyDoc }).PolicyDocument.Statement)
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('ssm:')));

    expect(shared.length).toBeGreaterThan(5);
    for (const fn of shared)
      expect(
        fn.Properties.Environment?.Variables?.ESYNC_PIPELINE_PARAMETERS,
        fn.Properties.FunctionName,
      ).toBe('/esync/dev/pipelines');
    expect(policies.length).toBeGreaterThanOrEqual(shared.length);
    for (const statement of policies) {
      expect(statement.Action).toBe('ssm:GetParametersByPath');
      expect(JSON.stringify(statement.Resource)).toMatch(/:parameter\/esync\/dev\/pipelines"\]\]\}$/);
    }
  });

  it('are published by each pipeline’s stack, whose own functions serve that pipeline alone', () => {
    for (const pipeline of FIXTURE_PIPELINES) {
      const template = assembly.getStackByName(`esync-dev-${pipeline.name}`).template as {
        Resources: Record<string, Fn>;
      };
      const parameters = Object.values(template.Resources).filter((r) => r.Type === 'AWS::SSM::Parameter');
      const own = functionsOf(template);

      expect(parameters.map((p) => p.Properties)).toEqual([
        expect.objectContaining({
          Name: `/esync/dev/pipelines/${pipeline.name}`,
          Type: 'String',
          Tier: 'Standard',
        }),
      ]);
      expect(
        JSON.parse(String((parameters[0]?.Properties as { Value?: string } | undefined)?.Value)),
      ).toEqual(JSON.parse(JSON.stringify(pipeline)));
      expect(own.length).toBeGreaterThan(0);
      for (const fn of own)
        expect(fn.Properties.Environment?.Variables?.ESYNC_PIPELINE_PARAMETERS).toBeUndefined();
    }
  });
});

describe('a pipeline changed apart from the others', () => {
  it('changes its own stack only: the core stack and the other pipelines’ stacks stay byte-identical', () => {
    const templates = (pipelines: readonly Pipeline[]) =>
      new Map(
        fixtureApp({ pipelines, layout: 'per-pipeline' })
          .app.synth()
          .stacks.map((s) => [s.stackName, JSON.stringify(s.template)] as const),
      );
    const [a, b] = FIXTURE_PIPELINES as [Pipeline, Pipeline];
    // Settings the shared functions read at run time: batching, redelivery, alert thresholds.
    const changedB = pipelineSchema.parse({
      ...b,
      dlq: { maxReceiveCount: 4 },
      load: { ...b.load, batchSize: 9, maxConcurrency: 5 },
      alerts: { ...b.alerts, failureRate: 0.5 },
    });

    const before = templates([a, b]);
    const after = templates([a, changedB]);

    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(after.get('esync-dev')).toBe(before.get('esync-dev'));
    expect(after.get(`esync-dev-${a.name}`)).toBe(before.get(`esync-dev-${a.name}`));
    expect(after.get(`esync-dev-${b.name}`)).not.toBe(before.get(`esync-dev-${b.name}`));
    expect(after.get(`esync-dev-${b.name}`)).toContain('"maxReceiveCount\\":4');
  });
});

import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { EsyncStack } from '../../infra/stacks/esync-stack.ts';
import { parseCatalogMode, parseLayout, type StackLayout } from '../../infra/stage.ts';
import type { CatalogMode } from '../../shared/pipeline/catalog-source.ts';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import { generatedPipelines } from '../support/generated-pipelines.ts';
import { cdkJsonContext, FIXTURE_PIPELINES, fixtureApp, resourcesOf, tempOutdir } from './fixtures.ts';

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

/** The stage of 100 generated pipelines, synthesized once for the tests that read it. */
let hundred: { app: App; stack: Stack; assembly: CloudAssembly } | undefined;
function hundredPipelineStage(): { app: App; stack: Stack; assembly: CloudAssembly } {
  if (!hundred) {
    const { app, stack } = fixtureApp({ pipelines: generatedPipelines(100), layout: 'per-pipeline' });
    hundred = { app, stack, assembly: app.synth() };
  }
  return hundred;
}

describe('per-pipeline stacks', () => {
  // About 15 s alone; up to three times that on a machine the whole suite loads.
  it('keeps every stack of a 100-pipeline stage under the 500-resource limit, each pipeline in its own, with nothing unacknowledged by cdk-nag', {
    timeout: 150_000,
  }, () => {
    const { app, stack, assembly } = hundredPipelineStage();

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
    expect(queuesOf('esync-dev').every((q) => String(q).startsWith('esync-dev-core-'))).toBe(true);
    // Past 10 managed policies a role needs a quota increase: the shared roles' grants stay within.
    // Read from the assembly at hand: Annotations.fromStack would synthesize all 101 stacks again.
    const warnings = assembly
      .getStackArtifact(stack.artifactId)
      .messages.filter((m) => m.level === 'warning');
    expect(warnings.filter((m) => /Policy (too )?large/.test(String(m.entry.data))).map((m) => m.id)).toEqual(
      [],
    );
    // Naming rules held: the naming Aspect fixtureApp adds fails the synth on a name out of pattern.
    const findings = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings).toEqual([]);
  });

  it('synthesizes the core stack byte-identical with 1, 2 and 100 pipelines, whatever their history days and alert webhooks', {
    timeout: 150_000,
  }, () => {
    const coreOf = (assembly: CloudAssembly) => JSON.stringify(assembly.getStackByName('esync-dev').template);
    const [one, two] = [1, 2].map((n) =>
      fixtureApp({ pipelines: generatedPipelines(n), layout: 'per-pipeline' }).app.synth(),
    ) as [CloudAssembly, CloudAssembly];
    const pipelines = generatedPipelines(100);
    expect(new Set(pipelines.map((p) => p.retention.historyDays)).size).toBeGreaterThan(2);
    expect(pipelines.filter((p) => p.alerts.notify.webhooks.length > 0)).toHaveLength(50);

    expect(coreOf(two)).toBe(coreOf(one));
    expect(coreOf(hundredPipelineStage().assembly)).toBe(coreOf(one));
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

type Resources = { Resources: Record<string, Fn> };
const functionsOf = (template: Resources) =>
  Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
const parametersOf = (template: Resources) =>
  Object.values(template.Resources).filter((r) => r.Type === 'AWS::SSM::Parameter');

/** Asserts that each function reads the stage's SSM path, and that every SSM grant is GetParametersByPath on it. */
function expectPipelinesReadFromSsm(template: Resources, readers: readonly Fn[]): void {
  const ssmStatements = Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) => (r.Properties as unknown as { PolicyDocument: PolicyDoc }).PolicyDocument.Statement)
    .filter((s) => [s.Action].flat().some((a) => a.startsWith('ssm:')));
  expect(readers.length).toBeGreaterThan(5);
  for (const fn of readers)
    expect(fn.Properties.Environment?.Variables?.ESYNC_PIPELINE_PARAMETERS, fn.Properties.FunctionName).toBe(
      '/esync/dev/pipelines',
    );
  expect(ssmStatements.length).toBeGreaterThanOrEqual(readers.length);
  for (const statement of ssmStatements) {
    expect(statement.Action).toBe('ssm:GetParametersByPath');
    expect(JSON.stringify(statement.Resource)).toMatch(/:parameter\/esync\/dev\/pipelines"\]\]\}$/);
  }
}

describe('the pipelines the shared functions serve, apart', () => {
  const assembly = fixtureApp({ layout: 'per-pipeline' }).app.synth();
  const core = assembly.getStackByName('esync-dev').template as Resources;

  it('are read from the stage’s SSM path by every shared function, with GetParametersByPath on that path only', () => {
    expectPipelinesReadFromSsm(core, functionsOf(core));
  });

  it('are published by each pipeline’s stack, whose own functions serve that pipeline alone', () => {
    for (const pipeline of FIXTURE_PIPELINES) {
      const template = assembly.getStackByName(`esync-dev-${pipeline.name}`).template as Resources;
      const parameters = parametersOf(template);
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

describe('the pipelines the shared functions serve, in one stack', () => {
  const readOf = (catalog?: CatalogMode) =>
    fixtureApp({ ...(catalog && { catalog }) })
      .app.synth()
      .getStackByName('esync-dev').template as Resources;

  it('are read from SSM with catalog "parameters", with the grants and parameters of the per-pipeline layout', () => {
    const template = readOf('parameters');
    const functions = functionsOf(template);
    const loads = functions.filter((fn) => String(fn.Properties.FunctionName).endsWith('-load-fn'));

    expectPipelinesReadFromSsm(
      template,
      functions.filter((fn) => !loads.includes(fn)),
    );
    expect(loads).toHaveLength(FIXTURE_PIPELINES.length);
    for (const fn of loads)
      expect(fn.Properties.Environment?.Variables?.ESYNC_PIPELINE_PARAMETERS).toBeUndefined();
    expect(
      parametersOf(template)
        .map((p) => (p.Properties as { Name?: string }).Name)
        .sort(),
    ).toEqual(FIXTURE_PIPELINES.map((p) => `/esync/dev/pipelines/${p.name}`).sort());
  });

  it('are baked into the shared functions by default, with no SSM parameter or grant', () => {
    const template = readOf();

    expect(parametersOf(template)).toEqual([]);
    for (const fn of functionsOf(template))
      expect(fn.Properties.Environment?.Variables?.ESYNC_PIPELINE_PARAMETERS).toBeUndefined();
    expect(JSON.stringify(template)).not.toContain('ssm:');
  });

  it('may not be baked when each pipeline has a stack of its own; -c catalog= takes parameters or baked', () => {
    expect(() => fixtureApp({ layout: 'per-pipeline', catalog: 'baked' })).toThrow(
      'catalog "baked" needs layout "single"',
    );
    expect(parseCatalogMode(undefined)).toBeUndefined();
    expect(parseCatalogMode('parameters')).toBe('parameters');
    expect(() => parseCatalogMode('files')).toThrow(
      'unknown catalog "files" (from -c catalog=...); use one of: parameters, baked',
    );
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

type Cfn = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

/** The template of every stack of a per-pipeline stage, by stack name. */
function stackTemplates(pipelines: readonly Pipeline[]): Map<string, Cfn> {
  return new Map(
    fixtureApp({ pipelines, layout: 'per-pipeline' })
      .app.synth()
      .stacks.map((s) => [s.stackName, s.template as Cfn] as const),
  );
}

describe('a pipeline added or removed', () => {
  const base = stackTemplates(FIXTURE_PIPELINES);
  const added = generatedPipelines(3).map((p) => stackTemplates([...FIXTURE_PIPELINES, p]));
  const removed = stackTemplates(FIXTURE_PIPELINES.slice(0, 2));

  it('leaves the core stack byte-identical, whatever its source, target, secrets, history days or chat webhooks', () => {
    const core = JSON.stringify(base.get('esync-dev'));

    for (const after of [...added, removed]) expect(JSON.stringify(after.get('esync-dev'))).toBe(core);
    expect(added[0]?.has('esync-dev-p000-sync')).toBe(true);
  });

  it('leaves every other pipeline’s stack byte-identical', () => {
    for (const after of [...added, removed])
      for (const [name, template] of after)
        if (name !== 'esync-dev' && base.has(name))
          expect(JSON.stringify(template), name).toBe(JSON.stringify(base.get(name)));
  });
});

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Principal?: unknown };

describe('the shared functions’ access to a pipeline’s own source, target and secrets, apart', () => {
  const templates = stackTemplates(FIXTURE_PIPELINES);
  const core = templates.get('esync-dev') as Cfn;
  const ofType = (template: Cfn, type: string) =>
    Object.values(template.Resources).filter((r) => r.Type === type);
  const statements = (template: Cfn, roleRef: string) =>
    ofType(template, 'AWS::IAM::Policy')
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleRef}"`))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  const roleId = (template: Cfn, roleName: string) =>
    Object.entries(template.Resources).find(
      ([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === roleName,
    )?.[0] ?? `no role ${roleName}`;
  const SECRETS = ['accounts-db', 'github-hook', 'issues-api'];

  it('are granted on no pipeline resource in the core stack: each reaching function may assume its own access roles of the stage only', () => {
    const corePolicies = JSON.stringify(ofType(core, 'AWS::IAM::Policy'));
    for (const secret of SECRETS) expect(corePolicies).not.toContain(secret);
    expect(corePolicies).not.toContain('esync-dev-accounts-sync-target');

    for (const fn of ['discover', 'plan', 'extract', 'verify', 'webhook', 'api']) {
      const assume = statements(core, roleId(core, `esync-dev-core-${fn}`)).filter((s) =>
        [s.Action].flat().includes('sts:AssumeRole'),
      );
      expect(assume, fn).toHaveLength(1);
      expect(assume[0]?.Action).toBe('sts:AssumeRole');
      expect(JSON.stringify(assume[0]?.Resource), fn).toMatch(
        new RegExp(`:role/esync-access/esync-dev-\\*-${fn}"\\]\\]\\}$`),
      );
      const variables = ofType(core, 'AWS::Lambda::Function').find(
        (f) => f.Properties.FunctionName === `esync-dev-core-${fn}`,
      )?.Properties.Environment as { Variables: Record<string, unknown> };
      expect(JSON.stringify(variables.Variables.ESYNC_ACCESS_ROLE_ARN)).toContain(
        `:role/esync-access/esync-dev-{pipeline}-${fn}`,
      );
    }
    for (const fn of ['await-load', 'cleanup', 'record-failure', 'run-ended'])
      expect(roleId(core, `esync-dev-core-${fn}`)).toBe(`no role esync-dev-core-${fn}`);
  });

  it('go through roles in the pipeline’s stack, each trusted by its one shared function and granting that pipeline’s resources alone', () => {
    const expected: Record<string, { roles: string[]; secrets: Record<string, string[]> }> = {
      'accounts-sync': {
        roles: ['alerts', 'api', 'discover', 'extract', 'plan', 'verify'],
        secrets: {
          discover: ['accounts-db'],
          plan: ['accounts-db'],
          extract: ['accounts-db'],
          verify: ['accounts-db'],
          api: [],
        },
      },
      'issues-hook': {
        roles: ['api', 'discover', 'extract', 'plan', 'verify', 'webhook'],
        secrets: { webhook: ['github-hook'], api: ['issues-api'], verify: ['issues-api'], extract: [] },
      },
    };
    for (const [pipeline, { roles, secrets }] of Object.entries(expected)) {
      const template = templates.get(`esync-dev-${pipeline}`) as Cfn;
      const accessRoles = ofType(template, 'AWS::IAM::Role').filter(
        (r) => r.Properties.Path === '/esync-access/',
      );

      expect(accessRoles.map((r) => r.Properties.RoleName).sort()).toEqual(
        roles.map((fn) => `esync-dev-${pipeline}-${fn}`),
      );
      for (const [fn, names] of Object.entries(secrets)) {
        const role = `esync-dev-${pipeline}-${fn}`;
        const document = accessRoles.find((r) => r.Properties.RoleName === role)?.Properties
          .AssumeRolePolicyDocument as { Statement: Statement[] } | undefined;
        const trust = document?.Statement ?? [];
        expect(trust, role).toHaveLength(1);
        expect(JSON.stringify(trust[0]?.Principal)).toContain(':root');
        const condition = JSON.stringify(trust[0]?.Condition);
        expect(condition).toMatch(/^\{"ArnEquals":\{"aws:PrincipalArn":/);
        expect(condition).toContain(`:role/esync-dev-core-${fn}"]]}`);
        const granted = JSON.stringify(statements(template, roleId(template, role)));
        for (const secret of SECRETS)
          expect(granted.includes(`esync/test/${secret}`), `${role} ${secret}`).toBe(names.includes(secret));
        expect(granted).not.toContain('sts:');
      }
    }
    const accountsApi = JSON.stringify(
      statements(
        templates.get('esync-dev-accounts-sync') as Cfn,
        roleId(templates.get('esync-dev-accounts-sync') as Cfn, 'esync-dev-accounts-sync-api'),
      ),
    );
    expect(accountsApi).toContain('dynamodb:PutItem');
    expect(accountsApi).toMatch(/"Fn::GetAtt":\["PipelineAccountsSyncTargetTable[0-9A-F]{8}","Arn"\]/);
  });

  it('let the webhook send only to the load queues of pipelines that take webhooks, by each queue’s policy', () => {
    const sendsOf = (template: Cfn) =>
      ofType(template, 'AWS::SQS::QueuePolicy')
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .filter((s) => [s.Action].flat().includes('sqs:SendMessage'));
    const webhookRole = roleId(core, 'esync-dev-core-webhook');
    const [admitted, ...others] = sendsOf(templates.get('esync-dev-issues-hook') as Cfn);

    expect(
      statements(core, webhookRole).filter((s) => JSON.stringify(s.Action).includes('sqs:SendMessage')),
    ).toEqual([]);
    expect(others).toEqual([]);
    expect(admitted).toMatchObject({ Action: 'sqs:SendMessage', Effect: 'Allow' });
    expect(JSON.stringify(admitted?.Principal)).toMatch(
      /^\{"AWS":\{"Fn::Join":.*:role\/esync-dev-core-webhook"\]\]\}\}$/,
    );
    expect(admitted?.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^PipelineIssuesHookQueuesLoadQueue/), 'Arn'],
    });
    for (const other of ['accounts-sync', 'stock-cdc'])
      expect(JSON.stringify(sendsOf(templates.get(`esync-dev-${other}`) as Cfn)), other).not.toContain(
        'core-webhook',
      );
  });
});

describe('what the core stack holds of every pipeline’s history and alerts, apart', () => {
  const templates = stackTemplates(FIXTURE_PIPELINES);
  const core = templates.get('esync-dev') as Cfn;
  const ofType = (template: Cfn, type: string) =>
    Object.values(template.Resources).filter((r) => r.Type === type);
  const statementsOf = (template: Cfn) =>
    ofType(template, 'AWS::IAM::Policy').flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );

  it('expires archived changes by one rule per history tier matched by the object’s tag, and untagged ones after the longest', () => {
    const [bucket] = ofType(core, 'AWS::S3::Bucket').filter((b) =>
      JSON.stringify(b.Properties.LifecycleConfiguration ?? {}).includes('archive/'),
    );
    type Rule = { Id: string; Prefix?: string; TagFilters?: unknown; ExpirationInDays?: number };
    const rules = (
      (bucket?.Properties.LifecycleConfiguration as { Rules: Rule[] } | undefined)?.Rules ?? []
    ).filter((r) => r.Id.startsWith('archive-'));

    expect(rules).toEqual([
      ...[1, 7, 30, 90, 365, 3650].map((days) =>
        expect.objectContaining({
          Id: `archive-${days}d`,
          Prefix: 'archive/',
          TagFilters: [{ Key: 'esync-history-days', Value: String(days) }],
          ExpirationInDays: days,
        }),
      ),
      expect.objectContaining({ Id: 'archive-untagged', Prefix: 'archive/', ExpirationInDays: 3650 }),
    ]);
    expect(rules.at(-1)?.TagFilters).toBeUndefined();
  });

  it('lets each archive writer tag its objects under its pipeline’s archive prefix only', () => {
    const stack = templates.get('esync-dev-accounts-sync') as Cfn;
    const tagging = statementsOf(stack).filter((s) => [s.Action].flat().includes('s3:PutObjectTagging'));

    expect(tagging.length).toBeGreaterThan(0);
    for (const statement of tagging)
      expect(JSON.stringify(statement.Resource)).toContain('/archive/accounts-sync/*');
    expect(JSON.stringify(statementsOf(core))).not.toContain('s3:PutObjectTagging');
  });

  it('runs one alert formatter that reads a pipeline’s chat webhook URLs through that pipeline’s alerts role alone', () => {
    const formatterRole = Object.entries(core.Resources).find(
      ([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === 'esync-dev-core-alert-webhook',
    )?.[0];
    const formatter = ofType(core, 'AWS::IAM::Policy')
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${formatterRole}"`))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    const subscriptions = ofType(core, 'AWS::SNS::Subscription');
    const stack = templates.get('esync-dev-accounts-sync') as Cfn;
    const role = ofType(stack, 'AWS::IAM::Role').find(
      (r) => r.Properties.RoleName === 'esync-dev-accounts-sync-alerts',
    );
    const roleId = Object.entries(stack.Resources).find(([, r]) => r === role)?.[0];
    const granted = ofType(stack, 'AWS::IAM::Policy')
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);

    expect(JSON.stringify(statementsOf(core))).not.toContain('slack-oncall');
    expect(JSON.stringify(formatter.filter((s) => s.Action === 'sts:AssumeRole'))).toMatch(
      /:role\/esync-access\/esync-dev-\*-alerts"\]\]\}/,
    );
    expect(subscriptions.map((s) => s.Properties.FilterPolicy ?? s.Properties.FilterPolicyScope)).toEqual([
      undefined,
    ]);
    expect(role?.Properties.Path).toBe('/esync-access/');
    expect(JSON.stringify(role?.Properties.AssumeRolePolicyDocument)).toContain(
      ':role/esync-dev-core-alert-webhook"]]}',
    );
    expect(granted.map((s) => s.Action)).toEqual([
      ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
    ]);
    expect(JSON.stringify(granted)).toContain('esync/test/slack-oncall');
    for (const other of ['stock-cdc', 'issues-hook'])
      expect(JSON.stringify(templates.get(`esync-dev-${other}`))).not.toContain(`esync-dev-${other}-alerts`);
  });
});

describe('the layout of a stage', () => {
  const stacksOf = (layout?: StackLayout) => {
    const app = new App({
      context: cdkJsonContext(),
      outdir: tempOutdir(),
      builtinCloudFormationValidation: false,
    });
    new EsyncStack(app, 'esync-dev', {
      stage: 'dev',
      pipelines: FIXTURE_PIPELINES,
      bundle: false,
      ...(layout && { layout }),
    });
    return app
      .synth()
      .stacks.map((s) => s.stackName)
      .sort();
  };

  it('gives each pipeline a stack of its own unless it is single', () => {
    expect(stacksOf()).toEqual(['esync-dev', ...FIXTURE_PIPELINES.map((p) => `esync-dev-${p.name}`).sort()]);
    expect(stacksOf('single')).toEqual(['esync-dev']);
  });

  it('is read from -c layout=, per-pipeline when unset, and another value is refused with the ones allowed', () => {
    expect(parseLayout(undefined)).toBe('per-pipeline');
    expect(parseLayout('single')).toBe('single');
    expect(() => parseLayout('nested')).toThrow(
      'unknown layout "nested" (from -c layout=...); use one of: per-pipeline, single',
    );
  });
});

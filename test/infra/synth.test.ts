import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { AnyResourcePolicy } from '../../infra/constructs/any-resource-policy.ts';
import { EncryptionKey } from '../../infra/constructs/encryption-key.ts';
import { EsyncFunction, PROJECT_ROOT } from '../../infra/constructs/esync-function.ts';
import { CORE, resourceName } from '../../shared/naming.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import { loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { cdkJsonContext, FIXTURE_PIPELINES, fixtureApp, tempOutdir } from './fixtures.ts';

const run = promisify(execFile);

/** cdk-nag findings of an app, one line each: rule and construct path. */
function nagFindings(app: App): string[] {
  return new AwsSolutionsChecks()
    .validateScope(app)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
}

describe('cdk-nag (AwsSolutions)', () => {
  it('finds nothing unacknowledged in the stack of the fixture pipelines, through synthesis', () => {
    const { app } = fixtureApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(nagFindings(app)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  it('finds nothing unacknowledged in the stack of the repository’s pipelines/', async () => {
    const { pipelines, problems } = await loadPipelineFiles([path.join(PROJECT_ROOT, 'pipelines')], {
      cwd: PROJECT_ROOT,
    });
    expect(problems).toEqual([]);

    const { app } = fixtureApp({ pipelines, stage: 'prod' });

    expect(nagFindings(app)).toEqual([]);
  });

  it('reports a resource "*" statement added beside a function’s X-Ray grant: the acknowledgement covers the X-Ray policy only', () => {
    const { app, stack } = fixtureApp();
    const webhook = stack.node.findChild('Functions').node.findChild('Webhook') as EsyncFunction;
    webhook.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
    new AnyResourcePolicy(stack, 'ExtraTracing', { role: webhook.executionRole, grant: 'functionTracing' });

    const findings = nagFindings(app).filter((f) => f.includes('/Functions/Webhook'));

    expect(findings).toEqual([
      'AwsSolutions-IAM5[Resource::*] at esync-dev/Functions/WebhookRole/DefaultPolicy/Resource',
    ]);
  });

  it('fails synthesis on an unacknowledged finding', () => {
    const { app, stack } = fixtureApp();
    new sqs.Queue(stack, 'Unencrypted', {
      queueName: 'esync-dev-core-scratch',
      encryption: sqs.QueueEncryption.UNENCRYPTED,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(nagFindings(app).filter((f) => f.includes('Unencrypted'))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^AwsSolutions-SQS4 at /)]),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });
});

describe('bundling', () => {
  it('bundles a handler with the local esbuild into an ESM module that carries the pipeline catalog', async () => {
    const app = new App({
      context: cdkJsonContext(),
      outdir: tempOutdir(),
      builtinCloudFormationValidation: false,
    });
    const stack = new Stack(app, 'BundlingTest');
    const { key } = new EncryptionKey(stack, 'Key', {
      aliasName: 'esync-dev-core-key',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const fn = new EsyncFunction(stack, 'RecordFailure', {
      handlerName: 'record-failure',
      functionName: resourceName('dev', CORE, 'record-failure'),
      description: 'bundling test',
      timeout: Duration.seconds(30),
      environment: {},
      pipelineCatalog: serializeCatalog(FIXTURE_PIPELINES),
      logRetention: RetentionDays.ONE_DAY,
      logKey: key,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const assembly = app.synth();

    const assets = readdirSync(assembly.directory).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    expect(fn.runtime.name).toBe('nodejs24.x');
    const bundle = path.join(assembly.directory, assets[0] as string, 'index.mjs');
    expect(readFileSync(bundle, 'utf8').slice(0, 60)).toContain(
      'import { createRequire as __esyncCreateRequire }',
    );
    const probe = `const m = await import(${JSON.stringify(bundle)});
      console.log(JSON.stringify({ handler: typeof m.handler, pipelines: JSON.parse(process.env.ESYNC_PIPELINES).map((p) => p.name) }));`;
    const env = { ...process.env };
    delete env.ESYNC_PIPELINES;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { env });
    expect(JSON.parse(stdout)).toEqual({
      handler: 'function',
      pipelines: ['accounts-sync', 'stock-cdc', 'issues-hook'],
    });
  });
});

describe('infra/app.ts', () => {
  const runApp = async (context: Record<string, unknown>) => {
    const env = {
      ...process.env,
      CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJsonContext(), ...context }),
      CDK_OUTDIR: tempOutdir(),
    };
    try {
      await run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], { cwd: PROJECT_ROOT, env });
      return { code: 0, stderr: '' };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
  };

  it('refuses an unknown stage, naming it', async () => {
    const result = await runApp({ stage: 'qa' });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown stage "qa"');
  });

  it('refuses an unknown layout, naming the ones allowed', async () => {
    const result = await runApp({ layout: 'nested' });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'unknown layout "nested" (from -c layout=...); use one of: per-pipeline, single',
    );
  });

  it('refuses invalid pipelines, printing every problem with its place', async () => {
    const dir = mkdtempSync(path.join(tempOutdir(), 'pipelines-'));
    writeFileSync(
      path.join(dir, 'bad.yaml'),
      'name: Bad_Name\nsource:\n  type: postgress\ntarget: {type: dynamodb}\n',
    );

    const result = await runApp({ pipelines: dir });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the pipelines are not valid');
    expect(result.stderr).toMatch(/bad\.yaml:1:7 name /);
    expect(result.stderr).toMatch(/bad\.yaml:3:9 source\.type unknown source type `postgress`/);
  });

  it('refuses a validator no extension module registers, listing the registered ones', async () => {
    const dir = mkdtempSync(path.join(tempOutdir(), 'pipelines-'));
    writeFileSync(
      path.join(dir, 'feed.yaml'),
      'name: feed-sync\nsource: {type: cdc, key: [id]}\ntriggers: {cdc: {pattern: {source: [x]}}}\n' +
        'target: {type: dynamodb}\nvalidation:\n  - {field: id, custom: order-di}\n',
    );

    const result = await runApp({
      pipelines: dir,
      extensions: path.join(PROJECT_ROOT, 'examples', 'extensions'),
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /feed\.yaml:6:25 validation\[0\]\.custom unknown validator "order-di"; known: email, iso-country, order-id, uuid; did you mean `order-id`\?/,
    );
  });

  it('refuses a database connection without TLS on a deployed stage, naming the pipeline', async () => {
    const dir = mkdtempSync(path.join(tempOutdir(), 'pipelines-'));
    writeFileSync(
      path.join(dir, 'plain.yaml'),
      'name: plain-sync\nsource:\n  type: postgres\n  connection: {secret: db, ssl: disable}\n' +
        '  table: items\n  key: [id]\ntarget: {type: dynamodb}\n',
    );

    const result = await runApp({ pipelines: dir, stage: 'staging' });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ssl: disable is for the local stack only; stage staging');
    expect(result.stderr).toContain('Connections without TLS: plain-sync source');
  });
});

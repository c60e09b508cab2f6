import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaRuntime } from '../../../local/lambda-runtime.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../../../local/servers.ts';
import { startStepFunctionsServer } from '../../../local/stepfunctions-server.ts';
import { extractLocalResources, type LoadedTemplate, loadStackTemplate } from '../../../local/template.ts';
import { loadDlqName, loadQueueName, stateMachineName } from '../../../shared/naming.ts';
import { loadPipelineFiles } from '../../../shared/pipeline/load.ts';
import type { Pipeline } from '../../../shared/pipeline/schema.ts';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

describe('the CDK app synthesized in process for the local stack', () => {
  const workDir = mkdtempSync(path.join(tmpdir(), 'esync-synth-'));
  const pipelinesDir = path.join(workDir, 'pipelines');
  let pipelines: Pipeline[];
  let first: LoadedTemplate;

  beforeAll(async () => {
    cpSync(path.join(root, 'pipelines'), pipelinesDir, { recursive: true });
    const loaded = await loadPipelineFiles([pipelinesDir]);
    expect(loaded.problems).toEqual([]);
    pipelines = loaded.pipelines;
    first = await loadStackTemplate({ rootDir: root, stage: 'dev', pipelines, pipelinesDir, cdkOut: false });
  });

  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it('gives every pipeline a load queue redriving to its DLQ, a state machine and a Load consumer', () => {
    // Act
    const resources = extractLocalResources(first.template, {
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: first.stackName,
      queueUrlPrefix: 'http://127.0.0.1:1/000000000000/',
    });

    // Assess
    expect(first.source).toBe('synth');
    for (const { name } of pipelines) {
      const queue = resources.queues.find((q) => q.name === loadQueueName('dev', name));
      expect(queue?.redrive?.deadLetterQueueName, name).toBe(loadDlqName('dev', name));
      expect(
        resources.stateMachines.map((m) => m.name),
        name,
      ).toContain(stateMachineName('dev', name));
      const mapping = resources.eventSourceMappings.find((m) => m.queueName === loadQueueName('dev', name));
      expect(mapping, name).toMatchObject({ functionFolder: 'load', reportBatchItemFailures: true });
    }
    expect(resources.httpRoutes).toContainEqual(
      expect.objectContaining({
        method: 'POST',
        path: '/webhooks/{pipeline}',
        functionFolder: 'webhook',
        iam: false,
      }),
    );
    for (const fn of resources.functions)
      expect(existsSync(path.join(root, 'functions', fn.folder, 'handler.ts'))).toBe(true);
  });

  it('produces definitions the Step Functions emulator accepts and binds to local functions', async () => {
    // Prepare
    const resources = extractLocalResources(first.template, {
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: first.stackName,
      queueUrlPrefix: 'http://127.0.0.1:1/000000000000/',
    });
    const lambda = new LambdaRuntime({
      functionsDir: path.join(root, 'functions'),
      functions: resources.functions.map((f) => ({ name: f.folder, functionName: f.functionName })),
    });

    // Act
    const server = await startStepFunctionsServer({
      stateMachines: resources.stateMachines.map((m) => ({ name: m.name, definition: m.definition })),
      lambda,
    });
    await server.stop();

    // Assess
    for (const machine of resources.stateMachines) {
      const definition = JSON.parse(machine.definition) as {
        States: Record<string, { Parameters?: { FunctionName?: string } }>;
      };
      for (const state of Object.values(definition.States)) {
        const target = state.Parameters?.FunctionName;
        if (target) expect(() => lambda.resolve(target)).not.toThrow();
      }
    }
  });

  it('serves the same template from its cache while the app and the pipelines are unchanged', async () => {
    // Act
    const again = await loadStackTemplate({
      rootDir: root,
      stage: 'dev',
      pipelines,
      pipelinesDir,
      cdkOut: false,
    });

    // Assess
    expect(again.source).toBe('cache');
    expect(again.template).toEqual(first.template);
    expect(readdirSync(path.join(workDir, '.esync', 'cache'))).toHaveLength(1);
  });
});

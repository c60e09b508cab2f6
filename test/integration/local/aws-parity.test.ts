import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../../local/servers.ts';
import { type LocalStack, startLocalStack } from '../../../local/stack.ts';
import { type CfnTemplate, loadStackTemplate } from '../../../local/template.ts';
import { loadPipelineFiles } from '../../../shared/pipeline/load.ts';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

type Props = Record<string, unknown>;
type AslScope = { States: Record<string, Props & { Type: string }> } & Props;

/** AWS's values for what a template leaves out. */
const AWS_DEFAULTS = {
  queueVisibilityTimeout: 30,
  lambdaTimeout: 3,
  batchSize: 10,
  batchingWindow: 0,
  mappingConcurrency: 1000,
};

function resourcesOf(template: CfnTemplate, type: string): Array<[string, Props]> {
  return Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, (r.Properties ?? {}) as Props]);
}

/** The definition as deployed, with each CloudFormation reference replaced by a placeholder. */
function deployedDefinition(props: Props): AslScope {
  const body = props.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  return JSON.parse(text) as AslScope;
}

/** Every state of a definition by its path, Map processors and Parallel branches included. */
function statesByPath(scope: AslScope, prefix = ''): Map<string, Props & { Type: string }> {
  const out = new Map<string, Props & { Type: string }>();
  for (const [name, state] of Object.entries(scope.States)) {
    const at = `${prefix}${name}`;
    out.set(at, state);
    const processor = (state.ItemProcessor ?? state.Iterator) as AslScope | undefined;
    if (processor) for (const [p, s] of statesByPath(processor, `${at}/`)) out.set(p, s);
    const branches = (state.Branches ?? []) as AslScope[];
    branches.forEach((branch, i) => {
      for (const [p, s] of statesByPath(branch, `${at}[${i}]/`)) out.set(p, s);
    });
  }
  return out;
}

describe('the local stack, run from the synthesized template, applies its values', () => {
  const workDir = mkdtempSync(path.join(tmpdir(), 'esync-parity-'));
  let template: CfnTemplate;
  let stack: LocalStack;
  let sqs: SQSClient;

  beforeAll(async () => {
    const pipelinesDir = path.join(workDir, 'pipelines');
    cpSync(path.join(root, 'pipelines'), pipelinesDir, { recursive: true });
    const { pipelines } = await loadPipelineFiles([pipelinesDir]);
    ({ template } = await loadStackTemplate({ rootDir: root, stage: 'dev', pipelines, pipelinesDir }));
    stack = await startLocalStack({
      template,
      pipelines,
      pipelinesDir,
      secrets: {},
      schedules: false,
      writeDevFile: false,
      log: () => {},
    });
    sqs = new SQSClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: stack.endpoints.sqs,
    });
  }, 120_000);

  afterAll(async () => {
    sqs?.destroy();
    await stack?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('gives every Task the TimeoutSeconds its definition says and every Map its MaxConcurrency', () => {
    const machines = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThan(0);
    for (const [, props] of machines) {
      const name = String(props.StateMachineName);
      const deployed = deployedDefinition(props);
      const interpreted = stack.stepFunctions.interpretedDefinition(name) as AslScope;
      const local = statesByPath(interpreted);
      expect(interpreted.TimeoutSeconds, name).toBe(deployed.TimeoutSeconds);
      for (const [at, state] of statesByPath(deployed)) {
        if (state.Type === 'Task') {
          expect(state.TimeoutSeconds, `${name} ${at} has no TimeoutSeconds`).toBeTypeOf('number');
          expect(local.get(at)?.TimeoutSeconds, `${name} ${at}`).toBe(state.TimeoutSeconds);
          expect(local.get(at)?.HeartbeatSeconds, `${name} ${at}`).toBe(state.HeartbeatSeconds);
        }
        if (state.Type === 'Map')
          expect(local.get(at)?.MaxConcurrency, `${name} ${at}`).toBe(state.MaxConcurrency);
      }
    }
  });

  it('gives every queue its visibility timeout, delay and redrive maxReceiveCount', async () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    expect(queues.length).toBeGreaterThan(0);
    for (const [, props] of queues) {
      const name = String(props.QueueName);
      const attributes =
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: `${stack.endpoints.sqs}/000000000000/${name}`,
              AttributeNames: ['All'],
            }),
          )
        ).Attributes ?? {};
      expect(Number(attributes.VisibilityTimeout), name).toBe(
        props.VisibilityTimeout ?? AWS_DEFAULTS.queueVisibilityTimeout,
      );
      expect(Number(attributes.DelaySeconds ?? 0), name).toBe(props.DelaySeconds ?? 0);
      const redrive = props.RedrivePolicy as { maxReceiveCount: number } | undefined;
      expect(attributes.RedrivePolicy && JSON.parse(attributes.RedrivePolicy).maxReceiveCount, name).toBe(
        redrive?.maxReceiveCount,
      );
    }
  });

  it('polls every queue with its mapping’s batch size, batching window and maximum concurrency', () => {
    const mappings = resourcesOf(template, 'AWS::Lambda::EventSourceMapping').filter(
      ([, p]) => (p.EventSourceArn as { 'Fn::GetAtt'?: unknown }) !== undefined,
    );
    const queueNames = new Map(
      resourcesOf(template, 'AWS::SQS::Queue').map(([id, p]) => [id, String(p.QueueName)]),
    );
    let compared = 0;
    for (const [id, props] of mappings) {
      const queueId = (props.EventSourceArn as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
      const queueName = queueId && queueNames.get(queueId);
      if (!queueName) continue;
      const scaling = props.ScalingConfig as { MaximumConcurrency?: number } | undefined;
      expect(stack.eventSources.get(queueName)?.settings, id).toEqual({
        batchSize: props.BatchSize ?? AWS_DEFAULTS.batchSize,
        maximumBatchingWindowSeconds: props.MaximumBatchingWindowInSeconds ?? AWS_DEFAULTS.batchingWindow,
        maxConcurrency: scaling?.MaximumConcurrency ?? AWS_DEFAULTS.mappingConcurrency,
      });
      compared += 1;
    }
    expect(compared).toBeGreaterThan(0);
  });

  it('runs every function with its timeout and memory', () => {
    const functions = resourcesOf(template, 'AWS::Lambda::Function').filter(([, p]) =>
      String(p.FunctionName ?? '').startsWith('esync-'),
    );
    expect(functions.length).toBeGreaterThan(0);
    for (const [, props] of functions) {
      const local = stack.lambda.functions.find((f) => f.functionName === props.FunctionName);
      expect(local, String(props.FunctionName)).toMatchObject({
        timeoutSeconds: props.Timeout ?? AWS_DEFAULTS.lambdaTimeout,
        memoryMb: props.MemorySize ?? 128,
      });
    }
  });
});

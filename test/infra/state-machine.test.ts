import type { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_SERVICE_ERRORS, TASK_TIMEOUT_MARGIN } from '../../infra/constructs/sync-state-machine.ts';
import { TASK_STATES } from '../../shared/usecases/contracts.ts';
import {
  type AslDefinition,
  type AslState,
  FIXTURE_PIPELINES,
  fixtureTemplate,
  resourceNamed,
  stateMachineDefinition,
} from './fixtures.ts';

let template: Template;
let definition: AslDefinition;
beforeAll(() => {
  template = fixtureTemplate();
  definition = stateMachineDefinition(template, 'esync-dev-accounts-sync-sm');
});

/** Every state of a definition, nested Map processors included, with its name. */
function allStates(def: AslDefinition): Array<[string, AslState]> {
  return Object.entries(def.States).flatMap(([name, state]) => [
    [name, state] as [string, AslState],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor) : []),
  ]);
}

/** The states a run passes through when every Choice takes the given branch (or its Default). */
function mainPath(def: AslDefinition, choose: Record<string, string>): string[] {
  const path: string[] = [];
  let name: string | undefined = def.StartAt;
  while (name !== undefined && !path.includes(name)) {
    path.push(name);
    const state: AslState | undefined = def.States[name];
    name = state?.Type === 'Choice' ? (choose[name] ?? state.Default) : state?.Next;
  }
  return path;
}

describe('the run state machine', () => {
  it('passes through the phases in order: Discover, Plan, Execute, AwaitLoad, Verify, Cleanup', () => {
    const path = mainPath(definition, { 'LoadDone?': 'VerifyPlan' });

    expect(path).toEqual([
      'Start',
      'Discover',
      'Plan',
      'UseManifest?',
      'Execute',
      'AwaitLoad',
      'LoadDone?',
      'VerifyPlan',
      'VerifyTargetRead',
      'VerifyUseManifest?',
      'VerifyPartitions',
      'VerifySummary',
      'Cleanup',
      'Succeeded',
    ]);
    expect(mainPath(definition, { 'UseManifest?': 'ExecuteLarge' })).toContain('ExecuteLarge');
    expect(
      mainPath(definition, { 'LoadDone?': 'VerifyPlan', 'VerifyUseManifest?': 'VerifyPartitionsLarge' }),
    ).toContain('VerifyPartitionsLarge');
  });

  it('retries every Lambda task with backoff on Lambda service errors and throttling', () => {
    const tasks = allStates(definition).filter(([, s]) => s.Type === 'Task');

    expect(tasks.map(([n]) => n).sort()).toEqual(
      [
        'AwaitLoad',
        'Cleanup',
        'Discover',
        'Extract',
        'ExtractFromManifest',
        'Plan',
        'RecordFailure',
        'VerifyPlan',
        'VerifyPartition',
        'VerifyPartitionFromManifest',
        'VerifySummary',
        'VerifyTargetSegment',
      ].sort(),
    );
    for (const [name, task] of tasks) {
      const retry = task.Retry?.find((r) =>
        (r.ErrorEquals as string[]).includes('Lambda.TooManyRequestsException'),
      );
      expect(retry, name).toMatchObject({
        ErrorEquals: LAMBDA_SERVICE_ERRORS,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      });
      expect(retry?.MaxAttempts as number, name).toBeGreaterThan(1);
    }
  });

  it('times every task out after its function’s timeout plus the invoke margin, without heartbeat', () => {
    const tasks = allStates(definition).filter(([, s]) => s.Type === 'Task');
    const functionOf = (task: string) =>
      TASK_STATES[task.replace(/FromManifest$/, '') as keyof typeof TASK_STATES];

    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, task] of tasks) {
      const fn = resourceNamed(
        template,
        'AWS::Lambda::Function',
        'FunctionName',
        `esync-dev-core-${functionOf(name)}`,
      );
      expect(task.TimeoutSeconds, name).toBe(
        (fn.Properties.Timeout as number) + TASK_TIMEOUT_MARGIN.toSeconds(),
      );
      expect(task.HeartbeatSeconds, name).toBeUndefined();
    }
  });

  it('sends any error of a phase to RecordFailure with the error at $.error, then fails', () => {
    const phases = [
      'Discover',
      'Plan',
      'Execute',
      'ExecuteLarge',
      'AwaitLoad',
      'VerifyPlan',
      'VerifyTargetRead',
      'VerifyPartitions',
      'VerifyPartitionsLarge',
      'VerifySummary',
      'Cleanup',
    ];

    for (const phase of phases)
      expect(definition.States[phase]?.Catch, phase).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' },
      ]);
    expect(definition.States.RecordFailure?.Next).toBe('Failed');
    expect(definition.States.Failed?.Type).toBe('Fail');
  });

  it('maps Execute over the plan’s partitions and ExecuteLarge over the S3 manifest', () => {
    const execute = definition.States.Execute;
    const large = definition.States.ExecuteLarge;

    expect(execute).toMatchObject({ Type: 'Map', ItemsPath: '$.plan.Payload.partitions', ResultPath: null });
    expect(large?.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(large?.ItemReader).toMatchObject({ ReaderConfig: { InputType: 'JSON' } });
    expect(JSON.stringify(large?.ItemReader)).toContain('"Key.$":"$.plan.Payload.manifest.key"');
    expect(large?.ItemSelector).toMatchObject({ 'partition.$': '$$.Map.Item.Value.partition' });
  });

  it('verifies partition by partition, in a Map like Execute, and sums the results in VerifySummary', () => {
    const inline = definition.States.VerifyPartitions;
    const large = definition.States.VerifyPartitionsLarge;
    const loop = inline?.ItemProcessor;

    expect(inline).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.verifyPlan.Payload.items',
      ResultPath: null,
      ItemSelector: { step: 'partition', 'item.$': '$$.Map.Item.Value', 'runId.$': '$.run.runId' },
    });
    expect(loop?.StartAt).toBe('VerifyPartition');
    expect(loop?.States['VerifyPartitionDone?']).toMatchObject({
      Type: 'Choice',
      Choices: [expect.objectContaining({ Variable: '$.verify.Payload.done', BooleanEquals: true })],
      Default: 'VerifyPartitionNext',
    });
    expect(loop?.States.VerifyPartitionNext?.Parameters).toMatchObject({
      step: 'partition',
      'item.$': '$.item',
      'continuation.$': '$.verify.Payload.continuation',
    });
    expect(large?.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(JSON.stringify(large?.ItemReader)).toContain('"Key.$":"$.verifyPlan.Payload.manifest.key"');
    for (const [name, step] of [
      ['VerifyPlan', 'plan'],
      ['VerifySummary', 'summary'],
    ])
      expect(definition.States[name as string]?.Parameters, name).toMatchObject({
        Payload: { step, 'runId.$': '$.run.runId' },
      });
    expect(definition.States.VerifySummary?.ResultPath).toBe('$.verify');
    expect(definition.States.VerifySummary?.Next).toBe('Cleanup');
  });

  it('reads the target segment by segment, each in its continuation loop, before any partition is verified', () => {
    const read = definition.States.VerifyTargetRead;
    const loop = read?.ItemProcessor;

    expect(definition.States.VerifyPlan?.Next).toBe('VerifyTargetRead');
    expect(read).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.verifyPlan.Payload.targetSegments',
      ResultPath: null,
      ItemSelector: { step: 'target-segment', 'segment.$': '$$.Map.Item.Value', 'runId.$': '$.run.runId' },
      Next: 'VerifyUseManifest?',
    });
    expect(loop?.StartAt).toBe('VerifyTargetSegment');
    expect(loop?.States['VerifyTargetSegmentDone?']).toMatchObject({
      Type: 'Choice',
      Choices: [expect.objectContaining({ Variable: '$.segmentRead.Payload.done', BooleanEquals: true })],
      Default: 'VerifyTargetSegmentNext',
    });
    expect(loop?.States.VerifyTargetSegmentNext?.Parameters).toMatchObject({
      step: 'target-segment',
      'segment.$': '$.segment',
      'continuation.$': '$.segmentRead.Payload.continuation',
    });
  });

  it('uses JSONPath only: no JSONata, no Assign, no doubled .$ keys', () => {
    const text = JSON.stringify(definition);

    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    for (const [name, state] of allStates(definition)) {
      expect(state.QueryLanguage ?? 'JSONPath', name).toBe('JSONPath');
      expect(state.Assign, name).toBeUndefined();
    }
    expect(text).not.toContain('.$.$');
    expect(text).not.toContain('{%');
  });

  it('names its task states as the local stack binds them', () => {
    const names = new Set(allStates(definition).map(([n]) => n));

    for (const state of Object.keys(TASK_STATES)) expect(names.has(state), state).toBe(true);
  });

  it('logs ALL with execution data, traces with X-Ray and is a Standard workflow', () => {
    const sm = resourceNamed(
      template,
      'AWS::StepFunctions::StateMachine',
      'StateMachineName',
      'esync-dev-stock-cdc-sm',
    );

    expect(sm.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
    });
  });

  it('waits before the next AwaitLoad poll the seconds AwaitLoad’s result names', () => {
    const wait = definition.States.WaitForLoad;

    expect(wait).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.load.Payload.waitSeconds',
      Next: 'AwaitLoad',
    });
    expect(wait).not.toHaveProperty('Seconds');
    expect(definition.States['LoadDone?']?.Default).toBe('WaitForLoad');
  });

  it('exists once per pipeline', () => {
    for (const p of FIXTURE_PIPELINES)
      expect(() => stateMachineDefinition(template, `esync-dev-${p.name}-sm`), p.name).not.toThrow();
  });
});

describe('the run state machine, executed by the local interpreter', () => {
  type Handler = (input: {
    FunctionName: string;
    Payload: Record<string, unknown>;
  }) => Promise<{ Payload: unknown }>;

  function runWith(
    handlers: Record<string, Handler>,
    input: Record<string, unknown>,
    waits: 'skipped' | 'as deployed' = 'skipped',
  ) {
    const calls: Array<{ state: string; payload: Record<string, unknown> }> = [];
    const recording = Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        async (input: { FunctionName: string; Payload: Record<string, unknown> }) => {
          calls.push({ state, payload: input.Payload });
          return handler(input);
        },
      ]),
    );
    const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } });
    const execution = machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: recording as never,
        ...(waits === 'skipped' && { waitTimeOverrides: { WaitForLoad: 0 } }),
      },
      context: {
        Execution: {
          Name: 'run-42',
          Id: 'arn:aws:states:us-east-1:1:execution:esync-dev-accounts-sync-sm:run-42',
        },
      } as never,
    });
    return { result: execution.result, calls };
  }

  const ok =
    (payload: unknown): Handler =>
    async () => ({ Payload: payload });

  it('runs every phase, loops Extract on its continuation and AwaitLoad until the load is done', async () => {
    let extractCalls = 0;
    let awaitCalls = 0;
    let verifyCalls = 0;
    const { result, calls } = runWith(
      {
        Discover: ok({ fields: 3, primaryKey: ['id'], incremental: true }),
        Plan: ok({
          partitionCount: 1,
          partitions: [{ id: 'p0', spec: {} }],
          window: { from: null, to: 'now' },
        }),
        Extract: async () => {
          extractCalls += 1;
          return extractCalls === 1
            ? {
                Payload: {
                  done: false,
                  continuation: { cursor: { values: [1], key: 'a' }, seq: 1 },
                  extracted: 5,
                  messages: 1,
                },
              }
            : { Payload: { done: true, continuation: null, extracted: 2, messages: 1 } };
        },
        AwaitLoad: async () => {
          awaitCalls += 1;
          return {
            Payload: {
              done: awaitCalls > 1,
              extracted: 7,
              accounted: awaitCalls > 1 ? 7 : 3,
              pendingMessages: 0,
            },
          };
        },
        VerifyPlan: ok({
          partitionCount: 2,
          items: [
            { partition: { id: 'p0', spec: {} }, findDeletes: 'none' },
            { partition: { id: 'p1', spec: {} }, findDeletes: 'none' },
          ],
          targetSegments: [],
        }),
        VerifyPartition: async (input) => {
          verifyCalls += 1;
          const first = (input.Payload.item as { partition: { id: string } }).partition.id === 'p0';
          return first && !input.Payload.continuation
            ? {
                Payload: {
                  done: false,
                  continuation: { stage: 'compare', cursor: { values: [4], key: 'd' }, seq: 1 },
                  compared: 4,
                  mismatches: 0,
                },
              }
            : { Payload: { done: true, continuation: null, compared: 3, mismatches: 0 } };
        },
        VerifySummary: ok({ status: 'passed', compared: 7, mismatches: 0 }),
        Cleanup: ok({ checkpointAdvanced: true, reportKey: 'reports/x.json' }),
      },
      { trigger: 'manual', requestedBy: 'arn:aws:iam::1:user/ops' },
    );

    await result;

    const run = {
      pipeline: 'accounts-sync',
      runId: 'run-42',
      executionArn: expect.stringContaining(':run-42'),
    };
    expect(calls.map((c) => c.state)).toEqual([
      'Discover',
      'Plan',
      'Extract',
      'Extract',
      'AwaitLoad',
      'AwaitLoad',
      'VerifyPlan',
      'VerifyPartition',
      'VerifyPartition',
      'VerifyPartition',
      'VerifySummary',
      'Cleanup',
    ]);
    expect(verifyCalls).toBe(3);
    expect(calls[0]?.payload).toEqual({ ...run, trigger: 'manual', requestedBy: 'arn:aws:iam::1:user/ops' });
    expect(calls[1]?.payload).toEqual(run);
    expect(calls[2]?.payload).toEqual({ ...run, partition: { id: 'p0', spec: {} } });
    expect(calls[3]?.payload).toEqual({
      ...run,
      partition: { id: 'p0', spec: {} },
      continuation: { cursor: { values: [1], key: 'a' }, seq: 1 },
    });
    expect(calls[6]?.payload).toEqual({ ...run, step: 'plan' });
    const partitionCalls = calls.filter((c) => c.state === 'VerifyPartition').map((c) => c.payload);
    expect(partitionCalls).toContainEqual({
      ...run,
      step: 'partition',
      item: { partition: { id: 'p0', spec: {} }, findDeletes: 'none' },
      continuation: { stage: 'compare', cursor: { values: [4], key: 'd' }, seq: 1 },
    });
    expect(partitionCalls).toContainEqual({
      ...run,
      step: 'partition',
      item: { partition: { id: 'p1', spec: {} }, findDeletes: 'none' },
    });
    expect(calls[10]?.payload).toEqual({ ...run, step: 'summary' });
  });

  it('waits between AwaitLoad polls the seconds the last poll asked for', async () => {
    const polledAt: number[] = [];
    const { result } = runWith(
      {
        Discover: ok({ fields: 3, primaryKey: ['id'], incremental: true }),
        Plan: ok({ partitionCount: 0, partitions: [], window: { from: null, to: 'now' } }),
        AwaitLoad: async () => {
          polledAt.push(Date.now());
          const done = polledAt.length > 1;
          return {
            Payload: {
              done,
              extracted: 7,
              accounted: done ? 7 : 3,
              pendingMessages: 0,
              waitSeconds: done ? 0 : 1,
            },
          };
        },
        VerifyPlan: ok({ partitionCount: 0, items: [], targetSegments: [] }),
        VerifySummary: ok({ status: 'passed', compared: 0, mismatches: 0 }),
        Cleanup: ok({ checkpointAdvanced: true, reportKey: 'reports/x.json' }),
      },
      {},
      'as deployed',
    );

    await result;

    expect(polledAt).toHaveLength(2);
    expect((polledAt[1] ?? 0) - (polledAt[0] ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('reads every target segment the Verify plan lists, looping each on its continuation, before the partitions', async () => {
    const { result, calls } = runWith(
      {
        Discover: ok({ fields: 3, primaryKey: ['id'], incremental: false }),
        Plan: ok({
          partitionCount: 1,
          partitions: [{ id: 'p0', spec: {} }],
          window: { from: null, to: 'now' },
        }),
        Extract: ok({ done: true, continuation: null, extracted: 2, messages: 1 }),
        AwaitLoad: ok({ done: true, extracted: 2, accounted: 2, pendingMessages: 0 }),
        VerifyPlan: ok({
          partitionCount: 1,
          items: [{ partition: { id: 'p0', spec: {} }, findDeletes: 'range' }],
          targetSegments: [
            { index: 0, total: 2 },
            { index: 1, total: 2 },
          ],
        }),
        VerifyTargetSegment: async (input) => {
          const first = (input.Payload.segment as { index: number }).index === 0;
          return first && !input.Payload.continuation
            ? { Payload: { done: false, continuation: { from: '{"pk":{"S":"9"}}', seq: 1 }, read: 5 } }
            : { Payload: { done: true, continuation: null, read: 3 } };
        },
        VerifyPartition: ok({ done: true, continuation: null, compared: 2, mismatches: 0 }),
        VerifySummary: ok({ status: 'passed', compared: 2, mismatches: 0 }),
        Cleanup: ok({ checkpointAdvanced: true, reportKey: 'reports/x.json' }),
      },
      { trigger: 'manual' },
    );

    await result;

    const states = calls.map((c) => c.state);
    expect(states.slice(states.indexOf('VerifyPlan'))).toEqual([
      'VerifyPlan',
      'VerifyTargetSegment',
      'VerifyTargetSegment',
      'VerifyTargetSegment',
      'VerifyPartition',
      'VerifySummary',
      'Cleanup',
    ]);
    const segmentCalls = calls.filter((c) => c.state === 'VerifyTargetSegment').map((c) => c.payload);
    const run = {
      pipeline: 'accounts-sync',
      runId: 'run-42',
      executionArn: expect.stringContaining(':run-42'),
    };
    expect(segmentCalls).toContainEqual({ ...run, step: 'target-segment', segment: { index: 0, total: 2 } });
    expect(segmentCalls).toContainEqual({ ...run, step: 'target-segment', segment: { index: 1, total: 2 } });
    expect(segmentCalls).toContainEqual({
      ...run,
      step: 'target-segment',
      segment: { index: 0, total: 2 },
      continuation: { from: '{"pk":{"S":"9"}}', seq: 1 },
    });
  });

  it('does not let the execution input override the run reference', async () => {
    const { result, calls } = runWith(
      {
        Discover: async () => Promise.reject(Object.assign(new Error('stop'), { name: 'ConfigError' })),
        RecordFailure: ok({}),
      },
      { trigger: 'api', pipeline: 'other', runId: 'spoofed' },
    );

    await expect(result).rejects.toThrow();

    expect(calls[0]?.payload).toMatchObject({ pipeline: 'accounts-sync', runId: 'run-42', trigger: 'api' });
  });

  it('records a phase’s failure with its error, then fails the execution', async () => {
    const { result, calls } = runWith(
      {
        Discover: ok({ fields: 1, primaryKey: ['id'], incremental: false }),
        Plan: async () =>
          Promise.reject(
            Object.assign(new Error('relation "accounts" does not exist'), { name: 'ConnectorError' }),
          ),
        RecordFailure: ok({ recorded: true }),
      },
      { trigger: 'schedule' },
    );

    await expect(result).rejects.toThrow(/A phase failed/);

    expect(calls.map((c) => c.state)).toEqual(['Discover', 'Plan', 'RecordFailure']);
    expect(calls[2]?.payload).toMatchObject({
      pipeline: 'accounts-sync',
      runId: 'run-42',
      error: { Error: 'ConnectorError', Cause: expect.stringContaining('does not exist') },
    });
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaRuntime } from '../../../local/lambda-runtime.ts';
import { LOCAL_CREDENTIALS, type LocalServers, startLocalServers } from '../../../local/servers.ts';
import {
  type ExecutionStatusChange,
  NO_TASK_TIMEOUT_SECONDS,
  type StepFunctionsServer,
  startStepFunctionsServer,
} from '../../../local/stepfunctions-server.ts';
import { createAwsClients } from '../../../shared/aws/clients.ts';
import { recordingTimerDelays } from '../../support/timer-delays.ts';
import {
  manifestDefinition,
  mergeDefinition,
  negatedTestsDefinition,
  pipelineLikeDefinition,
  taskTimeoutDefinition,
  timeoutDefinition,
} from './fixtures/definitions.ts';

const functionsDir = path.join(import.meta.dirname, 'fixtures', 'functions');

describe('Step Functions emulator', () => {
  let servers: LocalServers;
  let sfnServer: StepFunctionsServer;
  let sfn: SFNClient;
  let s3: S3Client;

  beforeAll(async () => {
    servers = await startLocalServers();
    s3 = new S3Client({
      endpoint: servers.endpoints.s3,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      forcePathStyle: true,
    });
    const lambda = new LambdaRuntime({
      functionsDir,
      functions: [
        { name: 'double', functionName: 't-double', timeoutSeconds: 30 },
        { name: 'flaky', functionName: 't-flaky' },
        { name: 'fail', functionName: 't-fail' },
        { name: 'fail', functionName: 't-slow', timeoutSeconds: 1 },
        { name: 'fail', functionName: 't-slow-long', timeoutSeconds: 30 },
      ],
    });
    const clients = { ...createAwsClients({ region: 'us-east-1' }), s3 };
    sfnServer = await startStepFunctionsServer({
      stateMachines: [
        { name: 'pipeline-like', definition: JSON.stringify(pipelineLikeDefinition) },
        { name: 'manifest', definition: manifestDefinition },
        { name: 'timeout', definition: timeoutDefinition },
        { name: 'task-timeout', definition: taskTimeoutDefinition },
        { name: 'merge', definition: mergeDefinition },
        { name: 'negated-tests', definition: negatedTestsDefinition },
      ],
      lambda,
      clients,
      waitOverrideMs: 50,
      retryIntervalOverrideMs: 10,
    });
    sfn = new SFNClient({
      endpoint: sfnServer.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
  });

  afterAll(async () => {
    sfn?.destroy();
    s3?.destroy();
    await sfnServer?.stop();
    await servers?.stop();
  });

  async function runToEnd(machine: string, input: unknown, name?: string) {
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: sfnServer.stateMachineArn(machine),
        input: JSON.stringify(input),
        ...(name && { name }),
      }),
    );
    const executionArn = started.executionArn ?? '';
    await sfnServer.whenDone(executionArn);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 25, nextToken }),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return { executionArn, described, events };
  }

  it('runs a definition to success with tasks bound in process, retries, a Map and a shortened Wait', async () => {
    // Prepare
    const input = { value: 21, items: [1, 2, 3], explode: false };

    // Act
    const { result, delays: pauses } = await recordingTimerDelays(() =>
      runToEnd('pipeline-like', input, 'run-ok'),
    );
    const { described, events } = result;

    // Assess
    expect(described.status).toBe('SUCCEEDED');
    // The pauses asked for: the overrides (Wait 50 ms, each retry 10 ms), never the definition's
    // hour of Wait or its 5 and 10 s of retry backoff.
    expect(pauses).toContain(50);
    expect(pauses.filter((ms) => ms === 10).length).toBeGreaterThanOrEqual(2);
    expect(pauses).not.toContain(3_600_000);
    expect(pauses).not.toContain(5000);
    expect(pauses).not.toContain(10_000);
    const output = JSON.parse(described.output ?? '{}');
    expect(output.double).toEqual({ value: 42, functionName: 't-double' });
    expect(output.flaky).toEqual({ attempts: 3 });
    expect(output.doubled).toEqual([{ value: 2 }, { value: 4 }, { value: 6 }]);
    expect(output.runId).toBe('run-ok');
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    expect(types.filter((t) => t === 'TaskFailed')).toHaveLength(2);
    expect(types.filter((t) => t === 'MapIterationSucceeded')).toHaveLength(3);
    expect(types).toContain('WaitStateExited');
    const doubleEntered = events.findIndex((e) => e.stateEnteredEventDetails?.name === 'Double');
    expect(types.slice(doubleEntered, doubleEntered + 5)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
    const scheduled = events[doubleEntered + 1]?.taskScheduledEventDetails;
    expect(JSON.parse(scheduled?.parameters ?? '{}').Payload).toEqual({ value: 21 });
    const exited = events[doubleEntered + 4]?.stateExitedEventDetails;
    expect(JSON.parse(exited?.output ?? '{}').double.value).toBe(42);
    expect(events.every((e, i) => e.id === i + 1 && e.timestamp instanceof Date)).toBe(true);
  });

  it('routes a task failure through Catch to a Fail state carrying the Lambda error as cause', async () => {
    // Act
    const { described, events } = await runToEnd(
      'pipeline-like',
      { value: 1, items: [], explode: true },
      'run-bad',
    );

    // Assess
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('RunFailed');
    const cause = JSON.parse(described.cause ?? '{}');
    expect(cause).toMatchObject({
      errorType: 'SourceUnreachableError',
      errorMessage: 'connection refused by db.example:5432',
    });
    const failed = events.find(
      (e) => e.type === 'TaskFailed' && e.taskFailedEventDetails?.error === 'SourceUnreachableError',
    );
    expect(failed).toBeDefined();
    const types = events.map((e) => e.type);
    expect(types).toContain('FailStateEntered');
    expect(types.at(-1)).toBe('ExecutionFailed');
    expect(events.at(-1)?.executionFailedEventDetails?.error).toBe('RunFailed');
  });

  it('feeds a Distributed Map the items of its S3 manifest', async () => {
    // Prepare
    await s3.send(new CreateBucketCommand({ Bucket: 'manifests' }));
    const items = Array.from({ length: 12 }, (_, n) => ({ n }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'manifests', Key: 'run-1.json', Body: JSON.stringify(items) }),
    );

    // Act
    const { described, events } = await runToEnd('manifest', {
      manifest: { bucket: 'manifests', key: 'run-1.json' },
    });

    // Assess
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output ?? '{}').results).toEqual(items.map(({ n }) => n * 2));
    expect(events.filter((e) => e.type === 'MapIterationStarted')).toHaveLength(12);
    expect(events.some((e) => e.stateEnteredEventDetails?.name?.includes('ItemReader'))).toBe(false);
  });

  it('matches a Choice rule whose type test is false as AWS does (IsNull: false, IsString: false)', async () => {
    // Act
    const outputs = [];
    for (const input of [{ manifest: { key: 'm.json' } }, { manifest: null, note: 3 }, { note: 'x' }])
      outputs.push(JSON.parse((await runToEnd('negated-tests', input)).described.output ?? 'null'));

    // Assess
    expect(outputs).toEqual(['large', 'no note', 'small']);
  });

  it('fails a Distributed Map whose manifest is missing with States.ItemReaderFailed', async () => {
    // Act
    const { described } = await runToEnd('manifest', { manifest: { bucket: 'manifests', key: 'nope.json' } });

    // Assess
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('States.ItemReaderFailed');
    expect(described.cause).toContain('s3://manifests/nope.json');
  });

  it('reports a function that outlives its timeout as Sandbox.Timedout', async () => {
    // Act
    const { described } = await runToEnd('timeout', {});

    // Assess
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('Sandbox.Timedout');
    expect(JSON.parse(described.cause ?? '{}').errorMessage).toContain('Task timed out after 1.00 seconds');
  });

  it('times a task out after the TimeoutSeconds of its definition with States.Timeout', async () => {
    // Act
    const { result, delays: pauses } = await recordingTimerDelays(() => runToEnd('task-timeout', {}));
    const { described, events } = result;

    // Assess: timed out by the state's 1 s, before the function's 2.5 s sleep returned
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('States.Timeout');
    expect(pauses).toContain(1000);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['TaskTimedOut', 'ExecutionFailed']);
  });

  it('gives a task without TimeoutSeconds no limit of the emulator’s own (AWS has none)', () => {
    // Act
    const interpreted = sfnServer.interpretedDefinition('timeout') as {
      States: Record<string, { TimeoutSeconds?: number }>;
    };

    // Assess: the longest timer Node.js keeps, where aws-local-stepfunctions alone would give 60 s
    expect(interpreted.States.Sleep?.TimeoutSeconds).toBe(NO_TASK_TIMEOUT_SECONDS);
    expect(NO_TASK_TIMEOUT_SECONDS * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(NO_TASK_TIMEOUT_SECONDS).toBeGreaterThan(24 * 3600);
  });

  it('merges with States.JsonMerge into a new object, leaving the execution input as it was', async () => {
    // Act
    const { described, events } = await runToEnd('merge', { value: 2 }, 'merge-1');

    // Assess
    expect(JSON.parse(described.output ?? '{}')).toEqual({
      run: { runId: 'merge-1' },
      request: { value: 2 },
      discover: { value: 4 },
    });
    expect(events[0]?.executionStartedEventDetails?.input).toBe('{"value":2}');
    const entered = events
      .filter((e) => e.stateEnteredEventDetails)
      .map((e) => e.stateEnteredEventDetails?.input);
    expect(entered).toEqual(['{"value":2}', '{"run":{"runId":"merge-1"},"request":{"value":2}}']);
    const scheduled = events.find((e) => e.type === 'TaskScheduled')?.taskScheduledEventDetails;
    expect(JSON.parse(scheduled?.parameters ?? '{}').Payload).toEqual({ value: 2, runId: 'merge-1' });
  });

  it('lists executions newest first, filters by status and refuses a reused name with other input', async () => {
    // Act
    const all = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: sfnServer.stateMachineArn('pipeline-like') }),
    );
    const failed = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: sfnServer.stateMachineArn('pipeline-like'),
        statusFilter: 'FAILED',
      }),
    );
    const reuse = sfn.send(
      new StartExecutionCommand({
        stateMachineArn: sfnServer.stateMachineArn('pipeline-like'),
        name: 'run-ok',
        input: '{"value":2}',
      }),
    );

    // Assess
    expect(all.executions?.map((e) => e.name)).toEqual(['run-bad', 'run-ok']);
    expect(failed.executions?.map((e) => e.name)).toEqual(['run-bad']);
    await expect(reuse).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
  });

  it('stops a running execution and names a missing one in the error', async () => {
    // Prepare
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: sfnServer.stateMachineArn('timeout'), input: '{}' }),
    );

    // Act
    await sfn.send(
      new StopExecutionCommand({ executionArn: started.executionArn, error: 'Manual', cause: 'ops' }),
    );
    const record = await sfnServer.whenDone(started.executionArn ?? '');
    const missing = sfn.send(
      new DescribeExecutionCommand({
        executionArn: `${sfnServer.stateMachineArnPrefix.replace('stateMachine', 'execution')}timeout:nope`,
      }),
    );

    // Assess
    expect(record.status).toBe('ABORTED');
    expect(record.error).toBe('Manual');
    expect(record.events.at(-1)?.type).toBe('ExecutionAborted');
    await expect(missing).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  });
});

describe('Step Functions emulator with a data dir', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'esync-sfn-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const start = (onStatusChange?: (change: ExecutionStatusChange) => Promise<void>) =>
    startStepFunctionsServer({
      ...(onStatusChange && { onStatusChange }),
      stateMachines: [
        { name: 'pipeline-like', definition: pipelineLikeDefinition },
        { name: 'timeout', definition: timeoutDefinition },
        { name: 'task-timeout', definition: taskTimeoutDefinition },
      ],
      lambda: new LambdaRuntime({
        functionsDir,
        functions: [
          { name: 'double', functionName: 't-double' },
          { name: 'flaky', functionName: 't-flaky' },
          { name: 'fail', functionName: 't-fail' },
          { name: 'fail', functionName: 't-slow', timeoutSeconds: 1 },
          { name: 'fail', functionName: 't-slow-long', timeoutSeconds: 30 },
        ],
      }),
      waitOverrideMs: 1,
      retryIntervalOverrideMs: 1,
      dataDir,
    });

  it('keeps executions and their histories across a restart, reporting a cut one as aborted', async () => {
    // Prepare
    const first = await start();
    const client = new SFNClient({
      endpoint: first.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const done = await client.send(
      new StartExecutionCommand({
        stateMachineArn: first.stateMachineArn('pipeline-like'),
        name: 'kept',
        input: JSON.stringify({ value: 1, items: [1], explode: false }),
      }),
    );
    await first.whenDone(done.executionArn ?? '');
    const cut = await client.send(
      new StartExecutionCommand({
        stateMachineArn: first.stateMachineArn('timeout'),
        name: 'cut',
        input: '{}',
      }),
    );
    client.destroy();
    await first.stop();

    // Act
    const second = await start();
    const again = new SFNClient({
      endpoint: second.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const kept = await again.send(new DescribeExecutionCommand({ executionArn: done.executionArn }));
      const history = await again.send(
        new GetExecutionHistoryCommand({ executionArn: done.executionArn, maxResults: 1000 }),
      );
      const aborted = await again.send(new DescribeExecutionCommand({ executionArn: cut.executionArn }));

      // Assess
      expect(kept.status).toBe('SUCCEEDED');
      expect(history.events?.at(-1)?.type).toBe('ExecutionSucceeded');
      expect(aborted.status).toBe('ABORTED');
    } finally {
      again.destroy();
      await second.stop();
    }
  });

  it('announces once, as aborted, an execution that was running when its process died', async () => {
    // Prepare: the first server keeps running, as a killed process would never get to stop it
    const first = await start();
    const client = new SFNClient({
      endpoint: first.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const cut = await client.send(
      new StartExecutionCommand({
        stateMachineArn: first.stateMachineArn('timeout'),
        name: 'died',
        input: '{}',
      }),
    );
    client.destroy();
    const changes: ExecutionStatusChange[] = [];
    const record = async (change: ExecutionStatusChange) => {
      changes.push(change);
    };

    // Act
    const second = await start(record);
    await second.announceInterrupted();
    await second.stop();
    await first.stop();
    const third = await start(record);
    await third.announceInterrupted();
    await third.stop();

    // Assess
    expect(changes.filter((c) => c.executionArn === cut.executionArn)).toEqual([
      expect.objectContaining({
        status: 'ABORTED',
        name: 'died',
        error: 'States.Aborted',
        cause: 'the local stack stopped while the execution was running',
      }),
    ]);
  });
});

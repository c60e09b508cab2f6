import './node-version.ts';
import { createServer } from 'node:http';
import { type AwsClients, createAwsClients } from '../shared/aws/clients.ts';
import { ConfigError } from '../shared/errors.ts';
import { closeServer, listenLocal } from './aws-json-server.ts';
import type { LambdaRuntime } from './lambda-runtime.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './servers.ts';
import { handleRequest, sfnOperations } from './stepfunctions/api.ts';
import { type CompiledMachine, compile } from './stepfunctions/compile.ts';
import { startExecution } from './stepfunctions/execution.ts';
import { ExecutionStore } from './stepfunctions/execution-store.ts';
import type {
  ExecutionRecord,
  ExecutionStatusChange,
  JsonObject,
  LiveExecution,
  LocalStateMachineDefinition,
} from './stepfunctions/model.ts';

export { NO_TASK_TIMEOUT_SECONDS } from './stepfunctions/asl-rewrites.ts';
export type {
  ExecutionRecord,
  ExecutionStatus,
  ExecutionStatusChange,
  HistoryEventRecord,
  LocalStateMachineDefinition,
} from './stepfunctions/model.ts';

export interface StepFunctionsServerOptions {
  readonly stateMachines: readonly LocalStateMachineDefinition[];
  /** Runs the Lambda functions that `lambda:invoke` tasks name. */
  readonly lambda: LambdaRuntime;
  /**
   * Runs each task of an execution as the state machine's role (IAM checks).
   * @default - tasks run as they are
   */
  readonly runTask?: <T>(stateMachineName: string, task: () => Promise<T>) => Promise<T>;
  /**
   * Clients for the service integrations (S3 item readers, `events:putEvents`, `sqs:sendMessage`,
   * `dynamodb:*`, `aws-sdk:*`).
   * @default - createAwsClients(), pointed by the environment
   */
  readonly clients?: AwsClients;
  /**
   * Every Wait state pauses this many milliseconds instead of its configured time.
   * @default - the configured time
   */
  readonly waitOverrideMs?: number;
  /**
   * Every Retry waits this many milliseconds between attempts instead of its backoff.
   * @default - the configured backoff
   */
  readonly retryIntervalOverrideMs?: number;
  /**
   * Directory where executions and their histories are kept between runs.
   * @default - in memory
   */
  readonly dataDir?: string;
  /** @default LOCAL_REGION */
  readonly region?: string;
  /** @default - no logging */
  readonly log?: (line: string) => void;
  /**
   * Told of every status change of an execution, as Step Functions sends it to EventBridge
   * (`Step Functions Execution Status Change`); awaited before stop() resolves.
   * @default - nobody
   */
  readonly onStatusChange?: (event: ExecutionStatusChange) => Promise<void>;
}

export interface StepFunctionsServer {
  /** `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_SFN`. */
  readonly endpoint: string;
  /** `arn:aws:states:<region>:<account>:stateMachine:`, for `ESYNC_STATE_MACHINE_ARN_PREFIX`. */
  readonly stateMachineArnPrefix: string;
  /** ARN of a state machine by name. */
  stateMachineArn(name: string): string;
  /**
   * The definition the interpreter runs for a state machine (by name): the deployed one with the
   * local rewrites (ItemReader tasks, JsonMerge copies, timeouts within Node's timer range).
   */
  interpretedDefinition(name: string): JsonObject | undefined;
  /** An execution by ARN (live object), for tests and the dev console. */
  execution(executionArn: string): ExecutionRecord | undefined;
  /** Resolves with the execution once it has stopped running. */
  whenDone(executionArn: string): Promise<ExecutionRecord>;
  /**
   * Tells `onStatusChange` of the executions that a previous process left running (it died
   * with them): they are aborted now, as Step Functions would report a stopped execution.
   */
  announceInterrupted(): Promise<void>;
  /** Aborts running executions, saves the histories and closes the server. */
  stop(): Promise<void>;
}

/**
 * Starts an HTTP server speaking the Step Functions JSON 1.0 protocol (StartExecution,
 * DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution, DescribeStateMachine,
 * ListStateMachines), which runs the synthesized definitions with aws-local-stepfunctions and
 * binds every Lambda task to the handler module in this process. The history it records uses the
 * event types and details of the real service, so the same SDK code reads it.
 *
 * Not emulated: JSONata, `Assign` variables, `.waitForTaskToken` and `.sync` integrations, a
 * Distributed Map's ResultWriter (results stay inline). A Distributed Map's ItemReader (S3 JSON or
 * CSV object, or an S3 listing) is read by a hidden task before the Map runs.
 */
export async function startStepFunctionsServer(
  options: StepFunctionsServerOptions,
): Promise<StepFunctionsServer> {
  const region = options.region ?? LOCAL_REGION;
  const log = options.log ?? (() => {});
  const stateMachineArnPrefix = `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:`;
  const machines = new Map<string, CompiledMachine>();
  for (const sm of options.stateMachines) {
    const compiled = compile(sm, stateMachineArnPrefix + sm.name);
    machines.set(compiled.arn, compiled);
  }
  let clients = options.clients;
  const store = new ExecutionStore({
    ...(options.dataDir && { dataDir: options.dataDir }),
    ...(options.onStatusChange && { onStatusChange: options.onStatusChange }),
    log,
  });
  const executions = new Map<string, LiveExecution>();
  const interrupted: ExecutionRecord[] = [];
  for (const { record, wasRunning } of store.load()) {
    executions.set(record.executionArn, { record, done: Promise.resolve(), abort: () => {} });
    if (wasRunning) interrupted.push(record);
  }
  const env = {
    ...options,
    region,
    getClients: () => (clients ??= createAwsClients({ region })),
    store,
    log,
  };
  const api = sfnOperations({
    region,
    machines,
    executions,
    startExecution: (machine, name, input) => startExecution(machine, name, input, env),
    log,
  });
  const server = createServer((req, res) => void handleRequest(req, res, api));
  const port = await listenLocal(server);
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stateMachineArnPrefix,
    stateMachineArn: (name) => stateMachineArnPrefix + name,
    interpretedDefinition: (name) => {
      const machine = machines.get(stateMachineArnPrefix + name);
      return machine && structuredClone(machine.interpreted);
    },
    execution: (arn) => executions.get(arn)?.record,
    async whenDone(arn) {
      const live = executions.get(arn);
      if (!live) throw new ConfigError(`no execution ${arn}`);
      await live.done;
      return live.record;
    },
    async announceInterrupted() {
      for (const record of interrupted.splice(0)) {
        await store.notify(record);
        store.save(record);
      }
    },
    stop() {
      stopped ??= (async () => {
        const running = [...executions.values()].filter((e) => e.record.status === 'RUNNING');
        for (const live of running) live.abort('States.Aborted', 'the local stack stopped');
        await Promise.all(running.map((e) => e.done));
        await store.delivered();
        await closeServer(server);
      })();
      return stopped;
    },
  };
}

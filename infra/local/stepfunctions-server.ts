import './node-version.ts';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ExecutionAbortedError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { ConfigError } from '../../shared/errors.ts';
import { LambdaInvocationError, type LambdaRuntime } from './lambda-runtime.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './servers.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type StateDefinition = StateMachineConstructorArgs[0];
type StateMachineConstructorArgs = ConstructorParameters<typeof StateMachine>;
type RunHandle = ReturnType<StateMachine['run']>;
type LibEvent = RunHandle['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** A state machine the emulator runs: its name and the ASL definition `cdk synth` produced. */
export interface LocalStateMachineDefinition {
  readonly name: string;
  /** The definition as JSON text or as an object. */
  readonly definition: string | object;
  /** @default 'STANDARD' */
  readonly type?: 'STANDARD' | 'EXPRESS';
}

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

/** The detail of a `Step Functions Execution Status Change` event. */
export interface ExecutionStatusChange {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  /** Epoch milliseconds. */
  readonly startDate: number;
  readonly stopDate: number | null;
  readonly input: string;
  readonly output: string | null;
  readonly error: string | null;
  readonly cause: string | null;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** One event of an execution's history, shaped like the `HistoryEvent` of GetExecutionHistory. */
export interface HistoryEventRecord {
  readonly id: number;
  readonly previousEventId: number;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  status: ExecutionStatus;
  /** Epoch milliseconds. */
  readonly startDate: number;
  stopDate?: number;
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  readonly events: HistoryEventRecord[];
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

/** A request the caller got wrong, answered as the Step Functions API does: 400 with `__type`. */
class SfnApiError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

const ITEM_READER_PREFIX = 'ItemReader of ';
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

interface CompiledMachine {
  readonly name: string;
  readonly arn: string;
  readonly type: 'STANDARD' | 'EXPRESS';
  readonly definitionText: string;
  /** What the interpreter was given. */
  readonly interpreted: JsonObject;
  readonly machine: StateMachine;
  /** Task states by name, with their definitions, for binding each to a local handler. */
  readonly tasks: ReadonlyMap<string, JsonObject>;
  /** Task states inside a Map's item processor. */
  readonly mapTasks: ReadonlySet<string>;
  readonly waitStates: readonly string[];
  readonly retryStates: readonly string[];
  /** Synthetic item-reader task name → key under `$$.EsyncItems` and its ItemReader config. */
  readonly itemReaders: ReadonlyMap<string, { key: string; reader: JsonObject; batcher?: JsonObject }>;
  readonly createdAt: number;
}

interface LiveExecution {
  readonly record: ExecutionRecord;
  readonly done: Promise<void>;
  readonly abort: (error?: string, cause?: string) => void;
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
  const getClients = () => {
    clients ??= createAwsClients({ region });
    return clients;
  };

  const executions = new Map<string, LiveExecution>();
  const historyDir = options.dataDir && path.join(options.dataDir, 'executions');
  const interrupted: ExecutionRecord[] = [];
  if (historyDir) {
    mkdirSync(historyDir, { recursive: true });
    for (const { record, wasRunning } of loadExecutions(historyDir)) {
      executions.set(record.executionArn, { record, done: Promise.resolve(), abort: () => {} });
      if (wasRunning) interrupted.push(record);
    }
  }
  const save = (record: ExecutionRecord) => {
    if (!historyDir) return;
    const file = path.join(historyDir, `${encodeURIComponent(record.executionArn)}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  };
  const notifications = new Set<Promise<void>>();
  const notify = (record: ExecutionRecord): Promise<void> => {
    if (!options.onStatusChange) return Promise.resolve();
    const sent = options
      .onStatusChange(statusChange(record))
      .catch((error: unknown) =>
        log(
          `error: the status change of ${record.executionArn} was not delivered: ${(error as Error).message}`,
        ),
      )
      .finally(() => notifications.delete(sent));
    notifications.add(sent);
    return sent;
  };

  function startExecution(machine: CompiledMachine, name: string, input: string): LiveExecution {
    const executionArn = `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:execution:${machine.name}:${name}`;
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: machine.arn,
      name,
      status: 'RUNNING',
      startDate: Date.now(),
      input,
      events: [],
    };
    const history = new HistoryRecorder(record);
    // Kept from the start, so an execution that dies with the process is known at restart.
    save(record);
    void notify(record);
    const itemStore: Record<string, Json> = {};
    const context = {
      Execution: {
        Id: executionArn,
        Name: name,
        RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${machine.name}-role`,
        RedriveCount: 0,
      },
      StateMachine: { Id: machine.arn, Name: machine.name },
      EsyncItems: itemStore,
    };
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    // On AWS a stopped execution starts no further Map iteration; the interpreter still starts the
    // iterations it had queued, so their tasks are refused here once the execution is stopped.
    let executionStopped = false;
    for (const [stateName, state] of machine.tasks) {
      const reader = machine.itemReaders.get(stateName);
      const task = reader
        ? async (params: Json) => {
            itemStore[reader.key] = await readItems(getClients(), reader.reader, reader.batcher, params);
            return null;
          }
        : bindTask(stateName, state, history, options.lambda, getClients, region);
      handlers[stateName] = (params) => {
        if (executionStopped && machine.mapTasks.has(stateName))
          return Promise.reject(new Error(`execution ${name} was stopped; ${stateName} does not start`));
        return options.runTask ? options.runTask(machine.name, () => task(params)) : task(params);
      };
    }
    const run = machine.machine.run(JSON.parse(input) as Json, {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        ...(options.waitOverrideMs !== undefined && {
          waitTimeOverrides: Object.fromEntries(
            machine.waitStates.map((s) => [s, options.waitOverrideMs ?? 0]),
          ),
        }),
        ...(options.retryIntervalOverrideMs !== undefined && {
          retryIntervalOverrides: Object.fromEntries(
            machine.retryStates.map((s) => [s, options.retryIntervalOverrideMs ?? 0]),
          ),
        }),
      },
      context,
    });
    const consumeEvents = (async () => {
      let saved = 0;
      for await (const event of run.eventLogs) {
        history.fromInterpreter(event, machine);
        // A long run is saved as it goes, so a crash of the stack loses little of its history.
        if (record.events.length - saved >= 200) {
          saved = record.events.length;
          save(record);
        }
      }
    })();
    const done = (async () => {
      try {
        const output = await run.result;
        record.status = 'SUCCEEDED';
        record.output = JSON.stringify(output);
      } catch (error) {
        if (error instanceof ExecutionAbortedError) {
          record.status = 'ABORTED';
        } else if (error instanceof ExecutionTimeoutError) {
          record.status = 'TIMED_OUT';
          record.error = 'States.Timeout';
        } else {
          record.status = 'FAILED';
          const failure = (error as { cause?: unknown }).cause ?? error;
          record.error = (failure as Error).name;
          record.cause = (failure as Error).message;
        }
      }
      record.stopDate = Date.now();
      await consumeEvents.catch(() => {});
      history.finish();
      save(record);
      log(`sfn: ${machine.name}/${name} ${record.status}${record.error ? ` (${record.error})` : ''}`);
      await notify(record);
    })();
    return {
      record,
      done,
      abort: (error, cause) => {
        // Set before the interpreter reports the abort, so its history event carries them.
        if (error !== undefined) record.error = error;
        if (cause !== undefined) record.cause = cause;
        executionStopped = true;
        run.abort();
      },
    };
  }

  const api: Record<string, (body: JsonObject) => JsonObject | Promise<JsonObject>> = {
    StartExecution(body) {
      const machine = requireMachine(machines, body.stateMachineArn);
      const name = body.name === undefined ? randomUUID() : validName(body.name);
      const input = validInput(body.input);
      const executionArn = `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:execution:${machine.name}:${name}`;
      const existing = executions.get(executionArn);
      if (existing) {
        // Standard workflows: a repeat with the same input while running returns the same execution.
        if (existing.record.status === 'RUNNING' && existing.record.input === input)
          return { executionArn, startDate: existing.record.startDate / 1000 };
        throw new SfnApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      const live = startExecution(machine, name, input);
      executions.set(executionArn, live);
      log(`sfn: started ${machine.name}/${name}`);
      return { executionArn, startDate: live.record.startDate / 1000 };
    },
    DescribeExecution(body) {
      return describe(requireExecution(executions, body.executionArn).record);
    },
    ListExecutions(body) {
      const machine = requireMachine(machines, body.stateMachineArn);
      const status = body.statusFilter;
      const all = [...executions.values()]
        .map((e) => e.record)
        .filter((r) => r.stateMachineArn === machine.arn && (status === undefined || r.status === status))
        .sort((a, b) => b.startDate - a.startDate);
      const { page, nextToken } = paginate(all, body.maxResults, body.nextToken);
      return {
        executions: page.map((r) => ({
          executionArn: r.executionArn,
          stateMachineArn: r.stateMachineArn,
          name: r.name,
          status: r.status,
          startDate: r.startDate / 1000,
          ...(r.stopDate !== undefined && { stopDate: r.stopDate / 1000 }),
        })),
        ...(nextToken && { nextToken }),
      };
    },
    GetExecutionHistory(body) {
      const record = requireExecution(executions, body.executionArn).record;
      const includeData = body.includeExecutionData !== false;
      const ordered = body.reverseOrder === true ? [...record.events].reverse() : record.events;
      const { page, nextToken } = paginate(ordered, body.maxResults, body.nextToken);
      return {
        events: page.map((event) => toWireEvent(event, includeData)),
        ...(nextToken && { nextToken }),
      };
    },
    StopExecution(body) {
      const live = requireExecution(executions, body.executionArn);
      if (live.record.status === 'RUNNING')
        live.abort(optionalString(body.error, 'error'), optionalString(body.cause, 'cause'));
      return { stopDate: (live.record.stopDate ?? Date.now()) / 1000 };
    },
    DescribeStateMachine(body) {
      const machine = requireMachine(machines, body.stateMachineArn);
      return {
        stateMachineArn: machine.arn,
        name: machine.name,
        status: 'ACTIVE',
        definition: machine.definitionText,
        roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${machine.name}-role`,
        type: machine.type,
        creationDate: machine.createdAt / 1000,
      };
    },
    ListStateMachines(body) {
      const all = [...machines.values()].sort((a, b) => a.name.localeCompare(b.name));
      const { page, nextToken } = paginate(all, body.maxResults, body.nextToken);
      return {
        stateMachines: page.map((m) => ({
          stateMachineArn: m.arn,
          name: m.name,
          type: m.type,
          creationDate: m.createdAt / 1000,
        })),
        ...(nextToken && { nextToken }),
      };
    },
  };

  const server = createServer((req, res) => void handleRequest(req, res, api));
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
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
        await notify(record);
        save(record);
      }
    },
    stop() {
      stopped ??= (async () => {
        const running = [...executions.values()].filter((e) => e.record.status === 'RUNNING');
        for (const live of running) live.abort('States.Aborted', 'the local stack stopped');
        await Promise.all(running.map((e) => e.done));
        await Promise.all(notifications);
        await closeServer(server);
      })();
      return stopped;
    },
  };
}

// ------------------------------------------------------------------------- definition compile

/**
 * Parses a definition, rewrites each Map's ItemReader into a hidden task that loads the items
 * before the Map runs (the interpreter ignores ItemReader), and lists the states to bind.
 */
function compile(sm: LocalStateMachineDefinition, arn: string): CompiledMachine {
  let definition: JsonObject;
  try {
    definition = (
      typeof sm.definition === 'string' ? JSON.parse(sm.definition) : structuredClone(sm.definition)
    ) as JsonObject;
  } catch (error) {
    throw new ConfigError(
      `state machine ${sm.name}: the definition is not JSON: ${(error as Error).message}`,
    );
  }
  if (definition.QueryLanguage === 'JSONata')
    throw new ConfigError(`state machine ${sm.name}: JSONata definitions cannot run locally; use JSONPath`);
  const tasks = new Map<string, JsonObject>();
  const waitStates: string[] = [];
  const retryStates: string[] = [];
  const itemReaders = new Map<string, { key: string; reader: JsonObject; batcher?: JsonObject }>();
  const mapTasks = new Set<string>();
  const visit = (scope: JsonObject, inMap = false) => {
    const states = scope.States as Record<string, JsonObject> | undefined;
    if (!states) return;
    for (const [stateName, state] of Object.entries(states)) {
      if (state.QueryLanguage === 'JSONata')
        throw new ConfigError(
          `state machine ${sm.name}: state "${stateName}" uses JSONata, which cannot run locally`,
        );
      if ('Assign' in state)
        throw new ConfigError(
          `state machine ${sm.name}: state "${stateName}" uses Assign, which cannot run locally`,
        );
      if (state.Type === 'Task') {
        applyTaskTimeout(state);
        tasks.set(stateName, state);
        if (inMap) mapTasks.add(stateName);
      }
      if (state.Type === 'Wait') waitStates.push(stateName);
      if (Array.isArray(state.Retry)) retryStates.push(stateName);
      if (state.Type === 'Map') {
        const processor = (state.ItemProcessor ?? state.Iterator) as JsonObject | undefined;
        if (processor) visit(processor, true);
        if (state.ItemReader) {
          const readerName = ITEM_READER_PREFIX + stateName;
          const key = `m${itemReaders.size}`;
          const reader = state.ItemReader as JsonObject;
          itemReaders.set(readerName, {
            key,
            reader,
            ...(state.ItemBatcher !== undefined && { batcher: state.ItemBatcher as JsonObject }),
          });
          const readerTask: JsonObject = {
            Type: 'Task',
            TimeoutSeconds: NO_TASK_TIMEOUT_SECONDS,
            Resource: String(reader.Resource ?? 'arn:aws:states:::s3:getObject'),
            ...(reader.Parameters !== undefined && { Parameters: reader.Parameters }),
            ResultPath: null,
            Next: stateName,
          };
          redirect(scope, stateName, readerName);
          delete state.ItemReader;
          delete state.ItemBatcher;
          delete state.ResultWriter;
          state.ItemsPath = `$$.EsyncItems.${key}`;
          states[readerName] = readerTask;
          tasks.set(readerName, readerTask);
        }
      }
      if (state.Type === 'Parallel' && Array.isArray(state.Branches))
        for (const branch of state.Branches) visit(branch as JsonObject, inMap);
    }
  };
  visit(definition);
  if (typeof definition.TimeoutSeconds === 'number')
    definition.TimeoutSeconds = Math.min(definition.TimeoutSeconds, NO_TASK_TIMEOUT_SECONDS);
  copyJsonMergeTargets(definition);
  negateFalseTypeTests(definition);
  let machine: StateMachine;
  try {
    machine = new StateMachine(definition as unknown as StateDefinition, {
      validationOptions: { checkArn: false, checkPaths: false },
    });
  } catch (error) {
    throw new ConfigError(`state machine ${sm.name}: ${(error as Error).message}`);
  }
  return {
    name: sm.name,
    arn,
    type: sm.type ?? 'STANDARD',
    definitionText: typeof sm.definition === 'string' ? sm.definition : JSON.stringify(sm.definition),
    interpreted: definition,
    machine,
    tasks,
    mapTasks,
    waitStates,
    retryStates,
    itemReaders,
    createdAt: Date.now(),
  };
}

/**
 * The longest timer Node.js keeps (2^31 - 1 ms; a longer one fires at once), in seconds: ~24.8
 * days, which stands for "no limit" locally.
 */
export const NO_TASK_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * A Task runs as long as its definition says, as on AWS. aws-local-stepfunctions gives a Task
 * without `TimeoutSeconds` a 60 s limit of its own, which AWS does not have (a Standard workflow's
 * task waits until the execution's own timeout): such a task gets no limit here either.
 */
function applyTaskTimeout(state: JsonObject): void {
  if (typeof state.TimeoutSeconds === 'number')
    state.TimeoutSeconds = Math.min(state.TimeoutSeconds, NO_TASK_TIMEOUT_SECONDS);
  else if (state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = NO_TASK_TIMEOUT_SECONDS;
}

const JSON_MERGE = 'States.JsonMerge(';

/**
 * aws-local-stepfunctions' `States.JsonMerge` merges into its first argument in place, which is
 * a reference into the state data: the request object of the execution input would come out
 * changed (and so would the history). The first argument of every call is copied first, through
 * JSON, which gives AWS's behaviour: a new object.
 */
function copyJsonMergeTargets(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) copyJsonMergeTargets(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key.endsWith('.$') && typeof value === 'string' && value.includes(JSON_MERGE))
      node[key] = rewriteJsonMerge(value);
    else copyJsonMergeTargets(value);
  }
}

/** The Choice rule operators that test a variable's type or presence. */
const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'];

/**
 * aws-local-stepfunctions matches a type test only when its operand is `true`: `IsNull: false`
 * (which CDK's `Condition.isNotNull` emits) never matches, even for a value that is not null.
 * Every such rule is rewritten as `Not` of the test with `true`, which is what AWS evaluates.
 */
function negateFalseTypeTests(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) negateFalseTypeTests(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const test = TYPE_TESTS.find((name) => node[name] === false);
  if (test && typeof node.Variable === 'string') {
    const { Next: next, Variable: variable } = node;
    for (const key of Object.keys(node)) delete node[key];
    node.Not = { Variable: variable, [test]: true };
    if (next !== undefined) node.Next = next;
    return;
  }
  for (const value of Object.values(node)) negateFalseTypeTests(value);
}

function rewriteJsonMerge(expression: string): string {
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const at = expression.indexOf(JSON_MERGE, i);
    if (at < 0) return out + expression.slice(i);
    out += expression.slice(i, at) + JSON_MERGE;
    const start = at + JSON_MERGE.length;
    let depth = 0;
    let quoted = false;
    let j = start;
    for (; j < expression.length; j++) {
      const c = expression[j];
      if (quoted) {
        if (c === '\\') j++;
        else if (c === "'") quoted = false;
      } else if (c === "'") quoted = true;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === ',' && depth === 0) break;
    }
    const first = expression.slice(start, j).trim();
    out += `States.StringToJson(States.JsonToString(${rewriteJsonMerge(first)}))`;
    i = j;
  }
  return out;
}

/** Points every transition to `from` within one scope (StartAt, Next, Default, Choices, Catch) at `to`. */
function redirect(scope: JsonObject, from: string, to: string): void {
  if (scope.StartAt === from) scope.StartAt = to;
  for (const state of Object.values(scope.States as Record<string, JsonObject>)) {
    if (state.Next === from) state.Next = to;
    if (state.Default === from) state.Default = to;
    for (const list of [state.Choices, state.Catch])
      if (Array.isArray(list))
        for (const rule of list as JsonObject[]) if (rule.Next === from) rule.Next = to;
  }
}

// ----------------------------------------------------------------------------------- tasks

/** An error as the interpreter matches it in Retry/Catch: `name` is Error, `message` is Cause. */
function taskError(error: string, cause: string): Error {
  const e = new Error(cause);
  e.name = error;
  return e;
}

function bindTask(
  stateName: string,
  state: JsonObject,
  history: HistoryRecorder,
  lambda: LambdaRuntime,
  getClients: () => AwsClients,
  region: string,
): (input: Json) => Promise<Json> {
  const resource = String(state.Resource);
  const integration = describeResource(resource);
  return async (input) => {
    // Lets the interpreter's own event for entering this state reach the history first.
    await new Promise((resolve) => setImmediate(resolve));
    history.task('Scheduled', {
      resourceType: integration.resourceType,
      resource: integration.resource,
      region,
      parameters: JSON.stringify(input),
      ...(typeof state.TimeoutSeconds === 'number' && { timeoutInSeconds: state.TimeoutSeconds }),
    });
    history.task('Started', { resourceType: integration.resourceType, resource: integration.resource });
    try {
      const output = await integration.call(input, { lambda, getClients, stateName });
      history.task('Succeeded', {
        resourceType: integration.resourceType,
        resource: integration.resource,
        output: JSON.stringify(output),
      });
      return output;
    } catch (error) {
      const failure = toTaskFailure(error, integration.errorPrefix);
      history.task('Failed', {
        resourceType: integration.resourceType,
        resource: integration.resource,
        error: failure.name,
        cause: failure.message,
      });
      throw failure;
    }
  };
}

interface TaskEnvironment {
  readonly lambda: LambdaRuntime;
  readonly getClients: () => AwsClients;
  readonly stateName: string;
}

interface Integration {
  readonly resourceType: string;
  readonly resource: string;
  /** Prefix of service error names, as Step Functions reports them (e.g. `DynamoDB.`). */
  readonly errorPrefix: string;
  call(input: Json, env: TaskEnvironment): Promise<Json>;
}

const SDK_PACKAGES: Record<string, { module: string; client: keyof AwsClients; prefix: string }> = {
  dynamodb: { module: '@aws-sdk/client-dynamodb', client: 'dynamodb', prefix: 'DynamoDb' },
  sqs: { module: '@aws-sdk/client-sqs', client: 'sqs', prefix: 'Sqs' },
  s3: { module: '@aws-sdk/client-s3', client: 's3', prefix: 'S3' },
  eventbridge: { module: '@aws-sdk/client-eventbridge', client: 'eventBridge', prefix: 'EventBridge' },
  sfn: { module: '@aws-sdk/client-sfn', client: 'sfn', prefix: 'Sfn' },
  secretsmanager: {
    module: '@aws-sdk/client-secrets-manager',
    client: 'secretsManager',
    prefix: 'SecretsManager',
  },
};

/** Optimized integrations ESync may use, mapped to the SDK call they make. */
const OPTIMIZED: Record<string, { service: string; action: string; prefix: string }> = {
  'events:putEvents': { service: 'eventbridge', action: 'putEvents', prefix: 'EventBridge' },
  'sqs:sendMessage': { service: 'sqs', action: 'sendMessage', prefix: 'SQS' },
  'dynamodb:getItem': { service: 'dynamodb', action: 'getItem', prefix: 'DynamoDB' },
  'dynamodb:putItem': { service: 'dynamodb', action: 'putItem', prefix: 'DynamoDB' },
  'dynamodb:updateItem': { service: 'dynamodb', action: 'updateItem', prefix: 'DynamoDB' },
  'dynamodb:deleteItem': { service: 'dynamodb', action: 'deleteItem', prefix: 'DynamoDB' },
};

function describeResource(resource: string): Integration {
  if (resource === LAMBDA_INVOKE)
    return {
      resourceType: 'lambda',
      resource: 'invoke',
      errorPrefix: '',
      async call(input, { lambda }) {
        const params = (input ?? {}) as JsonObject;
        if (typeof params.FunctionName !== 'string')
          throw taskError('States.Runtime', 'lambda:invoke needs a FunctionName parameter');
        const payload = (await lambda.invoke(params.FunctionName, params.Payload ?? {})) as Json;
        return {
          ExecutedVersion: '$LATEST',
          Payload: payload,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: randomUUID() },
          StatusCode: 200,
        };
      },
    };
  if (/^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:/.test(resource))
    return {
      resourceType: 'lambda',
      resource,
      errorPrefix: '',
      async call(input, { lambda }) {
        return (await lambda.invoke(resource, input)) as Json;
      },
    };
  const sdk = /^arn:aws[\w-]*:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
  const optimized = /^arn:aws[\w-]*:states:::([a-z0-9]+:[A-Za-z0-9]+)$/.exec(resource);
  const target = sdk
    ? { service: sdk[1] ?? '', action: sdk[2] ?? '', prefix: SDK_PACKAGES[sdk[1] ?? '']?.prefix ?? '' }
    : optimized
      ? OPTIMIZED[optimized[1] ?? '']
      : undefined;
  const pkg = target && SDK_PACKAGES[target.service];
  if (!target || !pkg)
    return {
      resourceType: 'unsupported',
      resource,
      errorPrefix: '',
      async call() {
        throw taskError('States.Runtime', `the local stack cannot run Task resource ${resource}`);
      },
    };
  const [resourceType, resourceName] = sdk ? [sdk[1] ?? '', sdk[2] ?? ''] : (optimized?.[1] ?? '').split(':');
  return {
    resourceType: resourceType ?? '',
    resource: resourceName ?? '',
    errorPrefix: `${target.prefix}.`,
    async call(input, { getClients }) {
      const module = (await import(pkg.module)) as Record<string, unknown>;
      const commandName = `${target.action.charAt(0).toUpperCase()}${target.action.slice(1)}Command`;
      const Command = module[commandName] as (new (input: unknown) => unknown) | undefined;
      if (!Command) throw taskError('States.Runtime', `${pkg.module} has no ${commandName}`);
      let params = input as JsonObject;
      if (resource.endsWith(':sqs:sendMessage') && typeof params.MessageBody !== 'string')
        params = { ...params, MessageBody: JSON.stringify(params.MessageBody) };
      const client = getClients()[pkg.client] as unknown as {
        send(command: unknown): Promise<Record<string, unknown>>;
      };
      const { $metadata: _metadata, ...output } = await client.send(new Command(params));
      if (resource.endsWith(':events:putEvents') && Number(output.FailedEntryCount ?? 0) > 0)
        throw taskError('EventBridge.FailedEntry', JSON.stringify(output));
      return JSON.parse(JSON.stringify(output)) as Json;
    },
  };
}

function toTaskFailure(error: unknown, prefix: string): Error {
  if (error instanceof LambdaInvocationError) return taskError(error.name, JSON.stringify(error.payload));
  if (error instanceof Error && error.name.startsWith('States.')) return error;
  if (error instanceof Error) return taskError(prefix + error.name, error.message);
  return taskError('States.TaskFailed', String(error));
}

/** Reads a Distributed Map's items as its ItemReader would: a JSON array, CSV rows or a listing. */
async function readItems(
  clients: AwsClients,
  reader: JsonObject,
  batcher: JsonObject | undefined,
  params: Json,
): Promise<Json> {
  const p = (params ?? {}) as JsonObject;
  const config = (reader.ReaderConfig ?? {}) as JsonObject;
  const resource = String(reader.Resource ?? '');
  let items: Json[];
  if (resource.endsWith(':s3:listObjectsV2')) {
    items = [];
    let token: string | undefined;
    do {
      const page = await clients.s3.send(
        new ListObjectsV2Command({
          Bucket: String(p.Bucket),
          ...(p.Prefix !== undefined && { Prefix: String(p.Prefix) }),
          ...(token && { ContinuationToken: token }),
        }),
      );
      for (const o of page.Contents ?? [])
        items.push({
          Key: o.Key ?? '',
          Size: o.Size ?? 0,
          Etag: o.ETag ?? '',
          LastModified: o.LastModified?.toISOString() ?? '',
        });
      token = page.NextContinuationToken;
    } while (token);
  } else if (resource.endsWith(':s3:getObject')) {
    let text: string;
    try {
      const object = await clients.s3.send(
        new GetObjectCommand({ Bucket: String(p.Bucket), Key: String(p.Key) }),
      );
      text = (await object.Body?.transformToString()) ?? '';
    } catch (error) {
      throw taskError(
        'States.ItemReaderFailed',
        `reading s3://${p.Bucket}/${p.Key} failed: ${(error as Error).name}`,
      );
    }
    const inputType = String(config.InputType ?? 'JSON');
    if (inputType === 'JSON') {
      const parsed = JSON.parse(text) as Json;
      if (!Array.isArray(parsed))
        throw taskError('States.ItemReaderFailed', `s3://${p.Bucket}/${p.Key} does not hold a JSON array`);
      items = parsed;
    } else if (inputType === 'CSV') {
      const rows = text.split(/\r?\n/).filter((line) => line !== '');
      const header =
        config.CSVHeaderLocation === 'GIVEN' ? (config.CSVHeaders as string[]) : rows.shift()?.split(',');
      items = rows.map((row) => {
        const cells = row.split(',');
        return Object.fromEntries((header ?? []).map((h, i) => [h, cells[i] ?? '']));
      });
    } else {
      throw taskError(
        'States.ItemReaderFailed',
        `ItemReader InputType ${inputType} is not supported locally`,
      );
    }
  } else {
    throw taskError('States.ItemReaderFailed', `ItemReader resource ${resource} is not supported locally`);
  }
  if (typeof config.MaxItems === 'number') items = items.slice(0, config.MaxItems);
  const perBatch = batcher?.MaxItemsPerBatch;
  if (typeof perBatch === 'number' && perBatch > 0) {
    const batches: Json[] = [];
    for (let i = 0; i < items.length; i += perBatch)
      batches.push({
        Items: items.slice(i, i + perBatch),
        ...(batcher?.BatchInput !== undefined && { BatchInput: batcher.BatchInput }),
      });
    return batches;
  }
  return items;
}

// --------------------------------------------------------------------------------- history

const TYPE_PREFIX: Record<string, string> = {
  Task: 'TaskState',
  Pass: 'PassState',
  Choice: 'ChoiceState',
  Wait: 'WaitState',
  Succeed: 'SucceedState',
  Fail: 'FailState',
  Map: 'MapState',
  Parallel: 'ParallelState',
};

/** Turns the interpreter's events and the task bindings' events into the service's history events. */
const TERMINAL_EVENT = /^Execution(Succeeded|Failed|Aborted|TimedOut)$/;

class HistoryRecorder {
  readonly #record: ExecutionRecord;
  constructor(record: ExecutionRecord) {
    this.#record = record;
  }

  #push(type: string, details: Record<string, unknown>, timestamp = Date.now()): void {
    const events = this.#record.events;
    // A task still running when its execution was stopped ends after it: its end is not recorded.
    if (TERMINAL_EVENT.test(events.at(-1)?.type ?? '')) return;
    const id = events.length + 1;
    events.push({ id, previousEventId: id - 1, timestamp, type, ...details });
  }

  task(phase: 'Scheduled' | 'Started' | 'Succeeded' | 'Failed', details: Record<string, unknown>): void {
    const key = `task${phase}EventDetails`;
    this.#push(`Task${phase}`, { [key]: details });
  }

  fromInterpreter(event: LibEvent, machine: CompiledMachine): void {
    const at = event.timestamp;
    switch (event.type) {
      case 'ExecutionStarted':
        this.#push(
          'ExecutionStarted',
          {
            executionStartedEventDetails: {
              input: JSON.stringify(event.input),
              inputDetails: { truncated: false },
              roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${machine.name}-role`,
            },
          },
          at,
        );
        return;
      case 'ExecutionSucceeded':
        this.#push(
          'ExecutionSucceeded',
          {
            executionSucceededEventDetails: {
              output: JSON.stringify(event.output),
              outputDetails: { truncated: false },
            },
          },
          at,
        );
        return;
      case 'ExecutionFailed':
        this.#push(
          'ExecutionFailed',
          { executionFailedEventDetails: { error: event.Error, cause: stringifyCause(event.Cause) } },
          at,
        );
        return;
      case 'ExecutionAborted':
        this.#push('ExecutionAborted', { executionAbortedEventDetails: this.#abortDetails() }, at);
        return;
      case 'ExecutionTimeout':
        this.#push('ExecutionTimedOut', { executionTimedOutEventDetails: { error: 'States.Timeout' } }, at);
        return;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const detailsKey = `${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`;
        this.#push(event.type, { [detailsKey]: { name: event.parentState.name, index: event.index } }, at);
        return;
      }
      default:
        break;
    }
    if (!('state' in event)) return;
    const { name, type } = event.state;
    if (name.startsWith(ITEM_READER_PREFIX)) return;
    const prefix = TYPE_PREFIX[type] ?? `${type}State`;
    switch (event.type) {
      case 'StateEntered':
        this.#push(
          `${prefix}Entered`,
          {
            stateEnteredEventDetails: {
              name,
              input: JSON.stringify(event.state.input),
              inputDetails: { truncated: false },
            },
          },
          at,
        );
        if (type === 'Map') this.#push('MapStateStarted', { mapStateStartedEventDetails: {} }, at);
        if (type === 'Parallel') this.#push('ParallelStateStarted', {}, at);
        return;
      case 'StateExited':
        if (type === 'Map') this.#push('MapStateSucceeded', {}, at);
        if (type === 'Parallel') this.#push('ParallelStateSucceeded', {}, at);
        this.#push(
          `${prefix}Exited`,
          {
            stateExitedEventDetails: {
              name,
              output: JSON.stringify(event.state.output ?? null),
              outputDetails: { truncated: false },
            },
          },
          at,
        );
        return;
      case 'StateFailed':
        if (type === 'Map') this.#push('MapStateFailed', {}, at);
        if (type === 'Parallel') this.#push('ParallelStateFailed', {}, at);
        if (type === 'Task' && event.Error === 'States.Timeout')
          this.#push(
            'TaskTimedOut',
            { taskTimedOutEventDetails: { error: event.Error, cause: stringifyCause(event.Cause) } },
            at,
          );
        return;
      default:
        return;
    }
  }

  #abortDetails(): Record<string, string> {
    const { error, cause } = this.#record;
    return { ...(error !== undefined && { error }), ...(cause !== undefined && { cause }) };
  }

  /** Closes the history of a stopped execution that the interpreter left unterminated. */
  finish(): void {
    const record = this.#record;
    const last = record.events.at(-1)?.type;
    if (last && TERMINAL_EVENT.test(last)) return;
    if (record.status === 'ABORTED')
      this.#push('ExecutionAborted', { executionAbortedEventDetails: this.#abortDetails() });
  }
}

function stringifyCause(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  return JSON.stringify(cause ?? '');
}

function toWireEvent(event: HistoryEventRecord, includeData: boolean): JsonObject {
  const wire = { ...event, timestamp: event.timestamp / 1000 } as Record<string, unknown>;
  if (!includeData)
    for (const [key, value] of Object.entries(wire))
      if (key.endsWith('EventDetails') && value && typeof value === 'object') {
        const {
          input: _input,
          output: _output,
          parameters: _parameters,
          ...rest
        } = value as Record<string, unknown>;
        wire[key] = rest;
      }
  return wire as JsonObject;
}

// ------------------------------------------------------------------------------ API helpers

function describe(r: ExecutionRecord): JsonObject {
  return {
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: r.startDate / 1000,
    ...(r.stopDate !== undefined && { stopDate: r.stopDate / 1000 }),
    input: r.input,
    inputDetails: { included: true },
    ...(r.output !== undefined && { output: r.output, outputDetails: { included: true } }),
    ...(r.error !== undefined && { error: r.error }),
    ...(r.cause !== undefined && { cause: r.cause }),
    redriveCount: 0,
    redriveStatus: 'NOT_REDRIVABLE',
  };
}

function requireMachine(machines: Map<string, CompiledMachine>, arn: Json | undefined): CompiledMachine {
  if (typeof arn !== 'string' || !arn.startsWith('arn:'))
    throw new SfnApiError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
  const machine = machines.get(arn);
  if (!machine) throw new SfnApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  return machine;
}

function requireExecution(executions: Map<string, LiveExecution>, arn: Json | undefined): LiveExecution {
  if (typeof arn !== 'string' || !arn.startsWith('arn:'))
    throw new SfnApiError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
  const live = executions.get(arn);
  if (!live) throw new SfnApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
  return live;
}

function validName(name: Json): string {
  if (typeof name !== 'string' || !/^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,80}$/.test(name))
    throw new SfnApiError('InvalidName', `Invalid Name: '${String(name)}'`);
  return name;
}

function validInput(input: Json | undefined): string {
  if (input === undefined) return '{}';
  if (typeof input !== 'string')
    throw new SfnApiError('InvalidExecutionInput', 'input must be a JSON string');
  try {
    JSON.parse(input);
  } catch {
    throw new SfnApiError(
      'InvalidExecutionInput',
      `Invalid State Machine Execution Input: '${input.slice(0, 100)}'`,
    );
  }
  return input;
}

function optionalString(value: Json | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new SfnApiError('ValidationException', `${field} must be a string`);
  return value;
}

function paginate<T>(items: readonly T[], maxResults: Json | undefined, token: Json | undefined) {
  const size = typeof maxResults === 'number' && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  let start = 0;
  if (token !== undefined) {
    start = Number(typeof token === 'string' ? Buffer.from(token, 'base64url').toString() : Number.NaN);
    if (!Number.isInteger(start) || start < 0)
      throw new SfnApiError('InvalidToken', `Invalid Token: '${String(token)}'`);
  }
  const page = items.slice(start, start + size);
  const next =
    start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
  return { page, nextToken: next };
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  api: Record<string, (body: JsonObject) => JsonObject | Promise<JsonObject>>,
): Promise<void> {
  const send = (status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : '';
    const handler = api[operation];
    if (req.method !== 'POST' || !handler)
      throw new SfnApiError(
        'UnknownOperationException',
        `operation ${target || '(none)'} is not supported locally`,
      );
    const text = Buffer.concat(chunks).toString('utf8');
    let body: JsonObject;
    try {
      body = (text === '' ? {} : JSON.parse(text)) as JsonObject;
    } catch {
      throw new SfnApiError('SerializationException', 'the request body is not JSON');
    }
    send(200, await handler(body));
  } catch (error) {
    if (error instanceof SfnApiError) send(400, { __type: error.type, message: error.message });
    else send(500, { __type: 'InternalFailure', message: (error as Error).message });
  }
}

/** The detail of the status change event of an execution as it stands. */
function statusChange(r: ExecutionRecord): ExecutionStatusChange {
  return {
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: r.startDate,
    stopDate: r.stopDate ?? null,
    input: r.input,
    output: r.output ?? null,
    error: r.error ?? null,
    cause: r.cause ?? null,
  };
}

/**
 * The kept executions. One still RUNNING was cut by a stop or a crash of the process and cannot
 * resume in process: it is reported as aborted, and flagged so its end can be announced.
 */
function loadExecutions(dir: string): Array<{ record: ExecutionRecord; wasRunning: boolean }> {
  const records: Array<{ record: ExecutionRecord; wasRunning: boolean }> = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.json')) continue;
    const record = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as ExecutionRecord;
    const wasRunning = record.status === 'RUNNING';
    if (wasRunning) {
      record.status = 'ABORTED';
      record.error = 'States.Aborted';
      record.cause = 'the local stack stopped while the execution was running';
      record.stopDate = record.stopDate ?? Date.now();
    }
    records.push({ record, wasRunning });
  }
  return records;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

import { ExecutionAbortedError, ExecutionTimeoutError } from 'aws-local-stepfunctions';
import type { AwsClients } from '../../shared/aws/clients.ts';
import type { LambdaRuntime } from '../lambda-runtime.ts';
import { LOCAL_ACCOUNT_ID } from '../servers.ts';
import type { CompiledMachine } from './compile.ts';
import type { ExecutionStore } from './execution-store.ts';
import { HistoryRecorder } from './history.ts';
import { bindTask } from './integrations.ts';
import { readItems } from './item-reader.ts';
import type { ExecutionRecord, Json, LiveExecution } from './model.ts';

type RunHandle = ReturnType<CompiledMachine['machine']['run']>;
type TaskHandler = (input: Json) => Promise<Json>;

/** What running an execution needs of the server. */
export interface ExecutionEnvironment {
  readonly region: string;
  readonly lambda: LambdaRuntime;
  readonly getClients: () => AwsClients;
  readonly runTask?: <T>(stateMachineName: string, task: () => Promise<T>) => Promise<T>;
  readonly waitOverrideMs?: number;
  readonly retryIntervalOverrideMs?: number;
  readonly store: ExecutionStore;
  readonly log: (line: string) => void;
}

/**
 * Starts an execution of a machine in the interpreter, with every Task bound to its local
 * handler, and records its history, status and output as it runs and when it ends.
 */
export function startExecution(
  machine: CompiledMachine,
  name: string,
  input: string,
  env: ExecutionEnvironment,
): LiveExecution {
  const executionArn = `arn:aws:states:${env.region}:${LOCAL_ACCOUNT_ID}:execution:${machine.name}:${name}`;
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
  env.store.save(record);
  void env.store.notify(record);
  const itemStore: Record<string, Json> = {};
  // On AWS a stopped execution starts no further Map iteration; the interpreter still starts the
  // iterations it had queued, so their tasks are refused here once the execution is stopped.
  let executionStopped = false;
  const handlers = bindHandlers(machine, history, itemStore, env, (stateName) =>
    executionStopped && machine.mapTasks.has(stateName)
      ? new Error(`execution ${name} was stopped; ${stateName} does not start`)
      : undefined,
  );
  const run = machine.machine.run(JSON.parse(input) as Json, {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      ...(env.waitOverrideMs !== undefined && {
        waitTimeOverrides: Object.fromEntries(machine.waitStates.map((s) => [s, env.waitOverrideMs ?? 0])),
      }),
      ...(env.retryIntervalOverrideMs !== undefined && {
        retryIntervalOverrides: Object.fromEntries(
          machine.retryStates.map((s) => [s, env.retryIntervalOverrideMs ?? 0]),
        ),
      }),
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: name,
        RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${machine.name}-role`,
        RedriveCount: 0,
      },
      StateMachine: { Id: machine.arn, Name: machine.name },
      EsyncItems: itemStore,
    },
  });
  const done = finish(
    run,
    record,
    recordEvents(run, record, history, machine, env.store),
    history,
    machine,
    env,
  );
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

/** The local handler of each Task state (a hidden item reader fills `itemStore`), run as the machine's role. */
function bindHandlers(
  machine: CompiledMachine,
  history: HistoryRecorder,
  itemStore: Record<string, Json>,
  env: ExecutionEnvironment,
  refusal: (stateName: string) => Error | undefined,
): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = {};
  for (const [stateName, state] of machine.tasks) {
    const reader = machine.itemReaders.get(stateName);
    const task: TaskHandler = reader
      ? async (params) => {
          itemStore[reader.key] = await readItems(env.getClients(), reader.reader, reader.batcher, params);
          return null;
        }
      : bindTask(stateName, state, history, env.lambda, env.getClients, env.region);
    handlers[stateName] = (params) => {
      const refused = refusal(stateName);
      if (refused) return Promise.reject(refused);
      return env.runTask ? env.runTask(machine.name, () => task(params)) : task(params);
    };
  }
  return handlers;
}

/** Records the interpreter's events as history; a long run is saved as it goes, so a crash loses little. */
async function recordEvents(
  run: RunHandle,
  record: ExecutionRecord,
  history: HistoryRecorder,
  machine: CompiledMachine,
  store: ExecutionStore,
): Promise<void> {
  let saved = 0;
  for await (const event of run.eventLogs) {
    history.fromInterpreter(event, machine);
    if (record.events.length - saved >= 200) {
      saved = record.events.length;
      store.save(record);
    }
  }
}

/** Waits for the execution's end, records its outcome, saves it and tells its status change. */
async function finish(
  run: RunHandle,
  record: ExecutionRecord,
  events: Promise<void>,
  history: HistoryRecorder,
  machine: CompiledMachine,
  env: ExecutionEnvironment,
): Promise<void> {
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
  await events.catch(() => {});
  history.finish();
  env.store.save(record);
  env.log(`sfn: ${machine.name}/${record.name} ${record.status}${record.error ? ` (${record.error})` : ''}`);
  await env.store.notify(record);
}

import { StateMachine } from 'aws-local-stepfunctions';
import { ConfigError } from '../../shared/errors.ts';
import {
  applyTaskTimeout,
  copyJsonMergeTargets,
  NO_TASK_TIMEOUT_SECONDS,
  negateFalseTypeTests,
  redirect,
} from './asl-rewrites.ts';
import type { JsonObject, LocalStateMachineDefinition } from './model.ts';

type StateDefinition = ConstructorParameters<typeof StateMachine>[0];

/** Names the hidden task that reads a Distributed Map's items before the Map runs. */
export const ITEM_READER_PREFIX = 'ItemReader of ';

/** A Distributed Map's ItemReader, run by a hidden task: the items go under `$$.EsyncItems.<key>`. */
export interface ItemReaderTask {
  readonly key: string;
  readonly reader: JsonObject;
  readonly batcher?: JsonObject;
}

export interface CompiledMachine {
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
  readonly itemReaders: ReadonlyMap<string, ItemReaderTask>;
  readonly createdAt: number;
}

/** The states of a definition the emulator binds or overrides, gathered while it is rewritten. */
interface StateIndex {
  readonly machineName: string;
  readonly tasks: Map<string, JsonObject>;
  readonly mapTasks: Set<string>;
  readonly waitStates: string[];
  readonly retryStates: string[];
  readonly itemReaders: Map<string, ItemReaderTask>;
}

/**
 * Parses a definition, rewrites each Map's ItemReader into a hidden task that loads the items
 * before the Map runs (the interpreter ignores ItemReader), and lists the states to bind.
 */
export function compile(sm: LocalStateMachineDefinition, arn: string): CompiledMachine {
  const definition = parseDefinition(sm);
  const index: StateIndex = {
    machineName: sm.name,
    tasks: new Map(),
    mapTasks: new Set(),
    waitStates: [],
    retryStates: [],
    itemReaders: new Map(),
  };
  indexStates(definition, false, index);
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
  const { machineName: _name, ...states } = index;
  return {
    name: sm.name,
    arn,
    type: sm.type ?? 'STANDARD',
    definitionText: typeof sm.definition === 'string' ? sm.definition : JSON.stringify(sm.definition),
    interpreted: definition,
    machine,
    ...states,
    createdAt: Date.now(),
  };
}

function parseDefinition(sm: LocalStateMachineDefinition): JsonObject {
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
  return definition;
}

/** Walks the states of a scope and of the Maps and Parallels in it, filling the index. */
function indexStates(scope: JsonObject, inMap: boolean, index: StateIndex): void {
  const states = scope.States as Record<string, JsonObject> | undefined;
  if (!states) return;
  for (const [stateName, state] of Object.entries(states)) {
    if (state.QueryLanguage === 'JSONata')
      throw new ConfigError(
        `state machine ${index.machineName}: state "${stateName}" uses JSONata, which cannot run locally`,
      );
    if ('Assign' in state)
      throw new ConfigError(
        `state machine ${index.machineName}: state "${stateName}" uses Assign, which cannot run locally`,
      );
    if (state.Type === 'Task') {
      applyTaskTimeout(state);
      index.tasks.set(stateName, state);
      if (inMap) index.mapTasks.add(stateName);
    }
    if (state.Type === 'Wait') index.waitStates.push(stateName);
    if (Array.isArray(state.Retry)) index.retryStates.push(stateName);
    if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as JsonObject | undefined;
      if (processor) indexStates(processor, true, index);
      if (state.ItemReader) readItemsBeforeMap(scope, stateName, state, index);
    }
    if (state.Type === 'Parallel' && Array.isArray(state.Branches))
      for (const branch of state.Branches) indexStates(branch as JsonObject, inMap, index);
  }
}

/** Puts a hidden task before a Map that reads its ItemReader's items into `$$.EsyncItems`. */
function readItemsBeforeMap(
  scope: JsonObject,
  stateName: string,
  state: JsonObject,
  index: StateIndex,
): void {
  const states = scope.States as Record<string, JsonObject>;
  const readerName = ITEM_READER_PREFIX + stateName;
  const key = `m${index.itemReaders.size}`;
  const reader = state.ItemReader as JsonObject;
  index.itemReaders.set(readerName, {
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
  index.tasks.set(readerName, readerTask);
}

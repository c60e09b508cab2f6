import { LOCAL_ACCOUNT_ID } from '../servers.ts';
import { type CompiledMachine, ITEM_READER_PREFIX } from './compile.ts';
import type { ExecutionRecord, HistoryEventRecord, InterpreterEvent, JsonObject } from './model.ts';

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

const TERMINAL_EVENT = /^Execution(Succeeded|Failed|Aborted|TimedOut)$/;

/** Turns the interpreter's events and the task bindings' events into the service's history events. */
export class HistoryRecorder {
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

  fromInterpreter(event: InterpreterEvent, machine: CompiledMachine): void {
    if (!this.#executionEvent(event, machine)) this.#stateEvent(event);
  }

  /** Records an event of the execution as a whole or of a Map iteration; false for another event. */
  #executionEvent(event: InterpreterEvent, machine: CompiledMachine): boolean {
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
        return true;
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
        return true;
      case 'ExecutionFailed':
        this.#push(
          'ExecutionFailed',
          { executionFailedEventDetails: { error: event.Error, cause: stringifyCause(event.Cause) } },
          at,
        );
        return true;
      case 'ExecutionAborted':
        this.#push('ExecutionAborted', { executionAbortedEventDetails: this.#abortDetails() }, at);
        return true;
      case 'ExecutionTimeout':
        this.#push('ExecutionTimedOut', { executionTimedOutEventDetails: { error: 'States.Timeout' } }, at);
        return true;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const detailsKey = `${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`;
        this.#push(event.type, { [detailsKey]: { name: event.parentState.name, index: event.index } }, at);
        return true;
      }
      default:
        return false;
    }
  }

  /** Records the entry into, exit from or failure of a state. */
  #stateEvent(event: InterpreterEvent): void {
    if (!('state' in event)) return;
    const at = event.timestamp;
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

/** A history event as GetExecutionHistory returns it, without the data unless it is asked for. */
export function toWireEvent(event: HistoryEventRecord, includeData: boolean): JsonObject {
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

import type { StateMachine } from 'aws-local-stepfunctions';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
type RunHandle = ReturnType<StateMachine['run']>;
/** An event of aws-local-stepfunctions' event log. */
export type InterpreterEvent = RunHandle['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** A state machine the emulator runs: its name and the ASL definition `cdk synth` produced. */
export interface LocalStateMachineDefinition {
  readonly name: string;
  /** The definition as JSON text or as an object. */
  readonly definition: string | object;
  /** @default 'STANDARD' */
  readonly type?: 'STANDARD' | 'EXPRESS';
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

/** An execution the server knows: its record, and how to wait for or stop it while it runs. */
export interface LiveExecution {
  readonly record: ExecutionRecord;
  readonly done: Promise<void>;
  readonly abort: (error?: string, cause?: string) => void;
}

/** The detail of the status change event of an execution as it stands. */
export function statusChange(r: ExecutionRecord): ExecutionStatusChange {
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

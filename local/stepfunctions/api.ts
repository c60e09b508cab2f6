import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOCAL_ACCOUNT_ID } from '../servers.ts';
import type { CompiledMachine } from './compile.ts';
import { toWireEvent } from './history.ts';
import type { ExecutionRecord, Json, JsonObject, LiveExecution } from './model.ts';

/** One operation of the Step Functions API: the request body in, the response body out. */
export type SfnOperation = (body: JsonObject) => JsonObject | Promise<JsonObject>;

/** What the API operations read and start. */
export interface SfnApiState {
  readonly region: string;
  readonly machines: ReadonlyMap<string, CompiledMachine>;
  readonly executions: Map<string, LiveExecution>;
  startExecution(machine: CompiledMachine, name: string, input: string): LiveExecution;
  readonly log: (line: string) => void;
}

/** The operations the local server answers, by name (the `X-Amz-Target` after `AWSStepFunctions.`). */
export function sfnOperations(state: SfnApiState): Record<string, SfnOperation> {
  return { ...executionOperations(state), ...stateMachineOperations(state) };
}

function executionOperations(state: SfnApiState): Record<string, SfnOperation> {
  const { region, machines, executions } = state;
  return {
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
      const live = state.startExecution(machine, name, input);
      executions.set(executionArn, live);
      state.log(`sfn: started ${machine.name}/${name}`);
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
      return listPage('executions', all, body, listedExecution);
    },
    GetExecutionHistory(body) {
      const record = requireExecution(executions, body.executionArn).record;
      const includeData = body.includeExecutionData !== false;
      const ordered = body.reverseOrder === true ? [...record.events].reverse() : record.events;
      return listPage('events', ordered, body, (event) => toWireEvent(event, includeData));
    },
    StopExecution(body) {
      const live = requireExecution(executions, body.executionArn);
      if (live.record.status === 'RUNNING')
        live.abort(optionalString(body.error, 'error'), optionalString(body.cause, 'cause'));
      return { stopDate: (live.record.stopDate ?? Date.now()) / 1000 };
    },
  };
}

function stateMachineOperations({ machines }: SfnApiState): Record<string, SfnOperation> {
  return {
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
      return listPage('stateMachines', all, body, (m) => ({
        stateMachineArn: m.arn,
        name: m.name,
        type: m.type,
        creationDate: m.createdAt / 1000,
      }));
    },
  };
}

/** A request the caller got wrong, answered as the Step Functions API does: 400 with `__type`. */
class SfnApiError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

/** An execution as ListExecutions lists it. */
function listedExecution(r: ExecutionRecord): JsonObject {
  return {
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: r.startDate / 1000,
    ...(r.stopDate !== undefined && { stopDate: r.stopDate / 1000 }),
  };
}

/** An execution as DescribeExecution answers: as listed, with its input, output and error. */
function describe(r: ExecutionRecord): JsonObject {
  return {
    ...listedExecution(r),
    input: r.input,
    inputDetails: { included: true },
    ...(r.output !== undefined && { output: r.output, outputDetails: { included: true } }),
    ...(r.error !== undefined && { error: r.error }),
    ...(r.cause !== undefined && { cause: r.cause }),
    redriveCount: 0,
    redriveStatus: 'NOT_REDRIVABLE',
  };
}

function requireMachine(
  machines: ReadonlyMap<string, CompiledMachine>,
  arn: Json | undefined,
): CompiledMachine {
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

/**
 * A list operation's answer: `member` holding the page of `items` that starts at the request's
 * `nextToken` (at most its `maxResults`), each as `toWire` gives it, and the next page's token.
 */
function listPage<T>(
  member: string,
  items: readonly T[],
  { maxResults, nextToken: token }: Readonly<Record<string, Json>>,
  toWire: (item: T) => unknown,
) {
  const size = typeof maxResults === 'number' && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  let start = 0;
  if (token !== undefined) {
    start = Number(typeof token === 'string' ? Buffer.from(token, 'base64url').toString() : Number.NaN);
    if (!Number.isInteger(start) || start < 0)
      throw new SfnApiError('InvalidToken', `Invalid Token: '${String(token)}'`);
  }
  const page = items.slice(start, start + size).map(toWire);
  const next = start + size < items.length && Buffer.from(String(start + size)).toString('base64url');
  return { [member]: page, ...(next && { nextToken: next }) };
}

/** Answers one request in the Step Functions JSON 1.0 protocol; a caller's mistake gets 400 with `__type`. */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  api: Readonly<Record<string, SfnOperation>>,
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

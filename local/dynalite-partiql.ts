import { EventEmitter } from 'node:events';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  BATCH_STATEMENT_LIMIT,
  type PartiqlInsert,
  parseInsert,
} from '../shared/connectors/targets/dynamodb/batch-insert.ts';

/**
 * The PartiQL that dynalite (which has none) answers in the local stack: `BatchExecuteStatement`
 * of at most 25 parameterised inserts, exactly the form the DynamoDB target emits,
 *
 *     INSERT INTO "<table>" VALUE {'<attribute>': ?, ...}
 *
 * with one `?` per attribute (a name's `'` doubled, as PartiQL quotes it). Each insert becomes a
 * PutItem conditioned on the key being absent, sent to dynalite itself, and each statement is
 * answered as DynamoDB answers it: `{ TableName }` when inserted, else an `Error` whose `Code` is
 * `DuplicateItem` (the key exists), `ResourceNotFound`, `ValidationError` (a bad item, or a
 * statement outside this subset) or `InternalServerError` (dynalite failed that call). Requests
 * DynamoDB refuses whole are refused whole, before any insert: more than 25 statements, or two
 * inserts of one key. Once one insert may have been applied, the answer is per statement, as
 * DynamoDB's: a whole-request refusal would tell the client that nothing was written. Every other
 * request goes to dynalite unchanged.
 */

/** A request DynamoDB refuses whole (a ValidationException), found before any insert is made. */
class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

interface StatementRequest {
  readonly Statement?: string;
  readonly Parameters?: AttributeValue[];
}

interface StatementResponse {
  readonly TableName?: string;
  readonly Error?: { readonly Code: string; readonly Message: string };
}

/** A call to dynalite itself: the operation, its JSON input, and the answer's status and body. */
type Call = (operation: string, input: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

/**
 * Sends one operation to dynalite, with the caller's authorization headers (dynalite checks their
 * form, not their signature).
 */
export type DynaliteCaller = (
  operation: string,
  input: unknown,
  headers: IncomingMessage['headers'],
) => Promise<{ status: number; body: Record<string, unknown> }>;

/**
 * Wraps dynalite's request listener: BatchExecuteStatement is answered here (through `caller`,
 * which reaches dynalite itself), the rest goes to `dynalite`.
 */
export function withBatchInserts(dynalite: RequestListener, caller: DynaliteCaller): RequestListener {
  return (req, res) => {
    if (!String(req.headers['x-amz-target']).endsWith('.BatchExecuteStatement')) return dynalite(req, res);
    void answer(req, res, (operation, input) => caller(operation, input, req.headers));
  };
}

/**
 * A {@link DynaliteCaller} that hands each call to dynalite's request listener on this thread, with
 * no socket in between: an insert costs dynalite one PutItem and no HTTP round trip, so one
 * BatchExecuteStatement stays one request to the server, as on DynamoDB, and no connection can fail
 * between an insert being applied and its answer.
 */
export function inProcessCaller(dynalite: RequestListener): DynaliteCaller {
  return (operation, input, headers) =>
    new Promise((resolve, reject) => {
      const request = Object.assign(new EventEmitter(), {
        method: 'POST',
        url: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `DynamoDB_20120810.${operation}`,
          ...(headers.authorization && { authorization: headers.authorization }),
          ...(typeof headers['x-amz-date'] === 'string' && { 'x-amz-date': headers['x-amz-date'] }),
        },
      });
      const response = {
        statusCode: 200,
        contentType: '',
        setHeader() {},
        end(text?: string) {
          try {
            resolve({ status: this.statusCode, body: JSON.parse(text ?? '{}') as Record<string, unknown> });
          } catch (error) {
            reject(error);
          }
        },
      };
      dynalite(request as unknown as IncomingMessage, response as unknown as ServerResponse);
      request.emit('data', Buffer.from(JSON.stringify(input)));
      request.emit('end');
    });
}

/** A dynalite error an action or validation raises: the status and body it answers with. */
interface DynaliteError {
  readonly statusCode?: number;
  readonly body?: Record<string, unknown>;
}

type Validation = { readonly types: unknown; readonly custom?: unknown };

/**
 * The parts of dynalite a PutItem runs through once its HTTP request is read and its
 * authorization checked (dynalite's `httpHandler`): type checks, validations, the action, on the
 * server's store.
 * @internal
 */
export interface DynalitePutItem {
  readonly store: unknown;
  readonly checkTypes: (data: unknown, types: unknown) => unknown;
  readonly checkValidations: (data: unknown, types: unknown, custom: unknown, store: unknown) => unknown;
  readonly validation: Validation;
  readonly action: (
    store: unknown,
    data: unknown,
    done: (error: DynaliteError | null, out?: Record<string, unknown>) => void,
  ) => void;
}

/**
 * A {@link DynaliteCaller} that runs each insert's PutItem through dynalite's own validations and
 * action, as its request handler does after reading a request, without a request: no JSON of the
 * item written and read back, no request id, URL parse, authorization parse or checksum per insert
 * (with them an INSERT cost dynalite's thread about twice an item of a BatchWriteItem, without them
 * about as much: `npm run bench-dynalite`, README Benchmarks). The answers are dynalite's own. Authorization is checked once per BatchExecuteStatement, by the DescribeTable
 * that every request starts with through `dynalite`, with the same headers; the other operations
 * go through `dynalite` too.
 */
export function directPutCaller(dynalite: RequestListener, putItem: DynalitePutItem): DynaliteCaller {
  const viaListener = inProcessCaller(dynalite);
  return (operation, input, headers) =>
    operation === 'PutItem' ? runPutItem(putItem, input) : viaListener(operation, input, headers);
}

function runPutItem(putItem: DynalitePutItem, input: unknown): Promise<Awaited<ReturnType<Call>>> {
  const { store, validation } = putItem;
  return new Promise((resolve, reject) => {
    const answered = (error: DynaliteError) => {
      if (error.statusCode === undefined) return false;
      resolve({ status: error.statusCode, body: error.body ?? {} });
      return true;
    };
    let data: unknown;
    try {
      data = putItem.checkTypes(input, validation.types);
      putItem.checkValidations(data, validation.types, validation.custom, store);
    } catch (error) {
      if (!answered(error as DynaliteError)) reject(error);
      return;
    }
    putItem.action(store, data, (error, out) => {
      if (!error) resolve({ status: 200, body: out ?? {} });
      else if (!answered(error)) reject(error);
    });
  });
}

async function answer(req: IncomingMessage, res: ServerResponse, call: Call): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Statements?: StatementRequest[] };
    const result = await batchInsert(input.Statements ?? [], call);
    send(res, 200, result);
  } catch (error) {
    if (error instanceof RequestRefused || error instanceof SyntaxError)
      send(res, 400, {
        __type: 'com.amazon.coral.validate#ValidationException',
        message: error.message,
      });
    else
      send(res, 500, {
        __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: `the local BatchExecuteStatement front failed before any insert: ${(error as Error).message}`,
      });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Runs the statements; throws {@link RequestRefused} where DynamoDB refuses the whole request, and
 * only before the first insert.
 */
async function batchInsert(
  statements: readonly StatementRequest[],
  call: Call,
): Promise<{ Responses: StatementResponse[] }> {
  if (statements.length < 1 || statements.length > BATCH_STATEMENT_LIMIT)
    throw new RequestRefused(
      `1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length between 1 and ${BATCH_STATEMENT_LIMIT}`,
    );
  const parsed = statements.map((s) => {
    try {
      return parseInsert(String(s.Statement ?? ''), s.Parameters ?? []);
    } catch (error) {
      return error as Error;
    }
  });
  const keySchemas = new Map<string, string | undefined>();
  for (const p of parsed)
    if (!(p instanceof Error) && !keySchemas.has(p.table))
      keySchemas.set(p.table, await hashKeyOf(p.table, call));
  const seen = new Set<string>();
  for (const p of parsed) {
    if (p instanceof Error) continue;
    const keyName = keySchemas.get(p.table);
    const id = `${p.table}\u0000${JSON.stringify(keyName === undefined ? null : p.item[keyName])}`;
    if (keyName !== undefined && seen.has(id))
      throw new RequestRefused('Provided list of item keys contains duplicates');
    seen.add(id);
  }
  const Responses = await Promise.all(
    parsed.map((p) =>
      p instanceof Error
        ? { Error: { Code: 'ValidationError', Message: p.message } }
        : insertOne(p, keySchemas.get(p.table), call),
    ),
  );
  return { Responses };
}

async function hashKeyOf(table: string, call: Call): Promise<string | undefined> {
  const { status, body } = await call('DescribeTable', { TableName: table });
  if (status !== 200) return undefined;
  const keys = (body.Table as { KeySchema?: { AttributeName: string; KeyType: string }[] }).KeySchema ?? [];
  return keys.find((k) => k.KeyType === 'HASH')?.AttributeName;
}

async function insertOne(
  insert: PartiqlInsert,
  hashKey: string | undefined,
  call: Call,
): Promise<StatementResponse> {
  if (hashKey === undefined)
    return { Error: { Code: 'ResourceNotFound', Message: 'Cannot do operations on a non-existent table' } };
  let answer: Awaited<ReturnType<Call>>;
  try {
    // The legacy `Expected` form of attribute_not_exists: dynalite parses a ConditionExpression
    // with a generated parser on every call, which doubled its CPU per insert (0.26-0.32 against
    // 0.13 ms, the cost of a plain put or of an item of BatchWriteItem). DynamoDB has no such cost
    // for an INSERT statement, so the emulator should not either.
    answer = await call('PutItem', {
      TableName: insert.table,
      Item: insert.item,
      Expected: { [hashKey]: { Exists: false } },
    });
  } catch (error) {
    return {
      TableName: insert.table,
      Error: {
        Code: 'InternalServerError',
        Message: `dynalite failed the insert: ${(error as Error).message}`,
      },
    };
  }
  const { status, body } = answer;
  if (status === 200) return { TableName: insert.table };
  const type = String(body.__type ?? '').replace(/^.*#/, '');
  const message = String(body.message ?? body.Message ?? type);
  if (type === 'ConditionalCheckFailedException')
    return {
      TableName: insert.table,
      Error: { Code: 'DuplicateItem', Message: 'Duplicate primary key exists in table' },
    };
  if (type === 'ResourceNotFoundException')
    return { Error: { Code: 'ResourceNotFound', Message: 'Cannot do operations on a non-existent table' } };
  if (type === 'ValidationException')
    return { TableName: insert.table, Error: { Code: 'ValidationError', Message: message } };
  return { TableName: insert.table, Error: { Code: 'InternalServerError', Message: message } };
}

import type { BatchStatementRequest } from '@aws-sdk/client-dynamodb';
import { type PartiqlInsert, parseInsert } from '../connectors/targets/dynamodb/batch-insert.ts';

/**
 * Billing units of one AWS request, from what the SDK sent and received: DynamoDB capacity units
 * by item size, SQS and EventBridge 64 KB chunks. The benchmark counts real requests with these;
 * the run report's estimate (estimate.ts) models the same requests from a run's counts.
 */

const KB = 1024;
const READ_UNIT_BYTES = 4 * KB;
/** SQS bills each 64 KB chunk of a request's payload as one request; EventBridge each 64 KB of an entry as one event. */
export const CHUNK_BYTES = 64 * KB;

type Json = Record<string, unknown>;

const ATTRIBUTE_TYPES = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS']);

function utf8(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** DynamoDB's size of a number: about one byte per two significant digits, plus one. */
function numberBytes(text: string): number {
  const digits = text
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** A value in the wire form `{S: "x"}`, `{N: "1"}`, ... (as the low-level client sends it). */
function isAttributeValue(value: unknown): value is Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && ATTRIBUTE_TYPES.has(keys[0] as string);
}

function wireValueBytes(value: Json): number {
  const [type, inner] = Object.entries(value)[0] as [string, unknown];
  switch (type) {
    case 'S':
      return utf8(String(inner));
    case 'N':
      return numberBytes(String(inner));
    case 'B':
      return inner instanceof Uint8Array ? inner.byteLength : utf8(String(inner));
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'SS':
      return (inner as string[]).reduce((sum, s) => sum + utf8(s), 0);
    case 'NS':
      return (inner as string[]).reduce((sum, s) => sum + numberBytes(s), 0);
    case 'BS':
      return (inner as Uint8Array[]).reduce((sum, b) => sum + b.byteLength, 0);
    case 'L':
      return 3 + (inner as Json[]).reduce((sum, v) => sum + 1 + valueBytes(v), 0);
    default:
      return 3 + itemBytes(inner as Json) + Object.keys(inner as Json).length;
  }
}

/** Size of one value, in the wire form or as a plain JavaScript value (the document client's form). */
function valueBytes(value: unknown): number {
  if (isAttributeValue(value)) return wireValueBytes(value);
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(String(value));
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce((sum: number, v) => sum + valueBytes(v), 0);
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + valueBytes(v), 0);
  if (typeof value === 'object') return 3 + itemBytes(value as Json) + Object.keys(value).length;
  return 0;
}

/**
 * Size of a DynamoDB item as DynamoDB bills it: attribute name bytes plus value bytes (strings
 * in UTF-8, numbers by significant digits, 3 bytes of overhead per map or list and one per
 * element). Accepts the wire form or plain values.
 */
export function itemBytes(item: Readonly<Json> | undefined): number {
  if (item === undefined) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(item))
    if (value !== undefined) size += utf8(name) + valueBytes(value);
  return size;
}

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));
const readUnits = (bytes: number, consistent: boolean) =>
  Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);

function batchWriteUnits(input: Json): number {
  let units = 0;
  for (const requests of Object.values((input.RequestItems ?? {}) as Record<string, Json[]>))
    for (const request of requests) {
      const put = request.PutRequest as { Item?: Json } | undefined;
      units += put ? writeUnits(itemBytes(put.Item)) : 1;
    }
  return units;
}

/** The insert a PartiQL statement makes, when it is of the form the DynamoDB target sends. */
function insertOf(statement: BatchStatementRequest): PartiqlInsert | undefined {
  try {
    return parseInsert(statement.Statement ?? '', statement.Parameters);
  } catch {
    return undefined;
  }
}

/** A batch of PartiQL INSERTs: each statement is billed as a PutItem of its item (another, one unit). */
function batchInsertUnits(input: Json): number {
  let units = 0;
  for (const statement of (input.Statements ?? []) as BatchStatementRequest[])
    units += writeUnits(itemBytes(insertOf(statement)?.item as Json | undefined));
  return units;
}

function batchGetUnits(input: Json, output: Json | undefined): number {
  let units = 0;
  const requested = (input.RequestItems ?? {}) as Record<
    string,
    { Keys?: unknown[]; ConsistentRead?: boolean }
  >;
  const responses = (output?.Responses ?? {}) as Record<string, Json[]>;
  for (const [table, request] of Object.entries(requested)) {
    const consistent = request.ConsistentRead === true;
    const found = responses[table] ?? [];
    for (const item of found) units += readUnits(itemBytes(item), consistent);
    // A key that holds no item still costs the minimum read.
    units += Math.max(0, (request.Keys?.length ?? 0) - found.length) * readUnits(0, consistent);
  }
  return units;
}

/** The table a DynamoDB request works on (the first one, for batch requests). */
export function dynamoTableOf(input: Json): string | undefined {
  if (typeof input.TableName === 'string') return input.TableName;
  const [statement] = (input.Statements ?? []) as BatchStatementRequest[];
  if (statement) return insertOf(statement)?.table;
  const batch = input.RequestItems as Json | undefined;
  return batch ? Object.keys(batch)[0] : undefined;
}

/**
 * Capacity units of one DynamoDB request: write request units for writes (a failed
 * conditional write is billed too), read request units for reads (eventually consistent
 * reads cost half). `undefined` for control-plane calls, which are not billed per request.
 * UpdateItem and DeleteItem are billed by the size of the item they change, which the request
 * does not carry: estimated from the values sent, at least one unit.
 */
export function dynamoUnits(operation: string, input: Json, output: Json | undefined): number | undefined {
  const consistent = input.ConsistentRead === true;
  switch (operation) {
    case 'PutItem':
      return writeUnits(itemBytes(input.Item as Json));
    case 'UpdateItem':
      return writeUnits(itemBytes(input.Key as Json) + itemBytes(input.ExpressionAttributeValues as Json));
    case 'DeleteItem':
      return writeUnits(itemBytes(input.Key as Json));
    case 'BatchWriteItem':
      return batchWriteUnits(input);
    case 'BatchExecuteStatement':
      return batchInsertUnits(input);
    case 'GetItem':
      return readUnits(itemBytes(output?.Item as Json | undefined), consistent);
    case 'BatchGetItem':
      return batchGetUnits(input, output);
    case 'Query':
    case 'Scan': {
      const items = (output?.Items ?? []) as Json[];
      return readUnits(
        items.reduce((sum, item) => sum + itemBytes(item), 0),
        consistent,
      );
    }
    default:
      return undefined;
  }
}

/** SQS requests billed for one call: one per 64 KB chunk of the payload sent or received. */
export function sqsUnits(operation: string, input: Json, output: Json | undefined): number {
  let payload = 0;
  if (operation === 'SendMessage') payload = utf8(String(input.MessageBody ?? ''));
  else if (operation === 'SendMessageBatch')
    for (const entry of (input.Entries ?? []) as Json[]) payload += utf8(String(entry.MessageBody ?? ''));
  else if (operation === 'ReceiveMessage')
    for (const message of (output?.Messages ?? []) as Json[]) payload += utf8(String(message.Body ?? ''));
  return Math.max(1, Math.ceil(payload / CHUNK_BYTES));
}

/** EventBridge events billed for one PutEvents call: each entry per 64 KB chunk. */
export function eventBridgeUnits(input: Json): number {
  let units = 0;
  for (const entry of (input.Entries ?? []) as Json[]) {
    const bytes =
      utf8(String(entry.Detail ?? '')) +
      utf8(String(entry.DetailType ?? '')) +
      utf8(String(entry.Source ?? ''));
    units += Math.max(1, Math.ceil(bytes / CHUNK_BYTES));
  }
  return units;
}

import type { BatchStatementRequest } from '@aws-sdk/client-dynamodb';
import { type PartiqlInsert, parseInsert } from '../connectors/targets/dynamodb/batch-insert.ts';
import type { TargetSize } from '../connectors/types.ts';

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

/**
 * Whether reading the whole table (a Scan, billed per 4 KB of all it reads) costs fewer read
 * units than reading `keys` items one by one (BatchGetItem, billed per item, each rounded up to
 * 4 KB), items being of the table's mean size. Both reads are eventually consistent alike. An
 * empty or unknown table is never read whole on this count.
 */
export function wholeReadCostsLess(keys: number, table: TargetSize | undefined): boolean {
  if (!table || table.records <= 0 || table.bytes <= 0) return false;
  const perKey = keys * readUnits(table.bytes / table.records, false);
  return readUnits(table.bytes, false) < perKey;
}

/**
 * Read units a sample of a table's size may spend: what reading `keys` items one by one costs
 * at the least (half a unit each, eventually consistent). A sample that costs more is not worth
 * taking: the per-key read is cheaper than the sample alone, let alone the whole read (a
 * thousand samples) it would weigh against.
 */
export function sizeSampleBudget(keys: number): number {
  return keys * readUnits(0, false);
}

/**
 * Whether a size sample of `bytes` (read, or expected from the table's description) stays within
 * `budget` read units; a sample that reads nothing still costs its request's half unit.
 */
export function sampleWithinBudget(bytes: number, budget: number): boolean {
  return readUnits(bytes, false) <= budget;
}

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

/**
 * A global secondary index as DynamoDB bills its writes: a table write also writes each index
 * the item enters (its keys set), leaves (its keys removed, or the item deleted) or changes in
 * (a projected attribute rewritten; new keys are a delete and a put, two writes), by whole KB of
 * the item's projected attributes.
 */
export interface IndexModel {
  readonly name: string;
  /** The index's partition and sort key attributes. */
  readonly keys: readonly string[];
  /** The table's key attributes, which every index projects. */
  readonly tableKeys: readonly string[];
  /** `ALL`, `KEYS_ONLY`, or the non-key attributes it includes besides the keys. */
  readonly projection: 'ALL' | 'KEYS_ONLY' | readonly string[];
  /**
   * Whether the item of this primary key sits in the index whatever the write: an update that
   * names none of the index keys rewrites it there only then. Items it does not claim are in the
   * index only while a write sets its keys.
   */
  readonly holds: (key: Readonly<Json>) => boolean;
}

/** The attributes an update expression writes (SET, ADD) and removes (REMOVE, DELETE), names resolved. */
function updatedAttributes(input: Json): { set: Set<string>; removed: Set<string> } {
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const set = new Set<string>();
  const removed = new Set<string>();
  const clauses = String(input.UpdateExpression ?? '').split(/\b(SET|REMOVE|ADD|DELETE)\b/i);
  for (let i = 1; i < clauses.length; i += 2) {
    const action = (clauses[i] as string).toUpperCase();
    for (const part of topLevelParts(clauses[i + 1] ?? '')) {
      const path = (part.split(/[=\s]/).find((t) => t !== '') ?? '').split(/[.[]/)[0] as string;
      const name = names[path] ?? path;
      if (name === '') continue;
      (action === 'SET' || action === 'ADD' ? set : removed).add(name);
    }
  }
  return { set, removed };
}

/** The comma-separated parts of a clause, commas inside a function's parentheses kept. */
function topLevelParts(clause: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < clause.length; i++) {
    const c = clause[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(clause.slice(from, i).trim());
      from = i + 1;
    }
  }
  parts.push(clause.slice(from).trim());
  return parts.filter((p) => p !== '');
}

/** Bytes of an item's attributes an index projects (its own keys and the table's always). */
function projectedBytes(index: IndexModel, item: Readonly<Json>): number {
  if (index.projection === 'ALL') return itemBytes(item);
  const kept = new Set([...index.keys, ...index.tableKeys]);
  if (index.projection !== 'KEYS_ONLY') for (const name of index.projection) kept.add(name);
  return itemBytes(Object.fromEntries(Object.entries(item).filter(([name]) => kept.has(name))));
}

/** Whether an index projects an attribute, so that writing it rewrites the item's index entry. */
function projects(index: IndexModel, name: string): boolean {
  if (index.projection === 'ALL' || index.keys.includes(name)) return true;
  return index.projection !== 'KEYS_ONLY' && index.projection.includes(name);
}

/** Index writes of putting `item`: it enters where it holds the keys, leaves where it no longer does. */
function putIndexUnits(indexes: readonly IndexModel[], item: Readonly<Json>): number {
  let units = 0;
  for (const index of indexes) {
    const inIndex = index.keys.every((k) => item[k] !== undefined);
    if (inIndex) units += writeUnits(projectedBytes(index, item));
    else if (index.holds(item)) units += 1;
  }
  return units;
}

/**
 * Index writes of an UpdateItem, from its expression: setting an index key enters the item
 * (or, on an item the index {@link IndexModel.holds} under other keys, moves it: two writes);
 * removing one takes it out, counted as one write even where the item was not in it (an upper
 * bound: ESync removes them only from items that were); writing a projected attribute of an item
 * the index holds rewrites its entry. The item's size is taken from the values sent, as for the
 * table write.
 */
function updateIndexUnits(indexes: readonly IndexModel[], input: Json): number {
  const { set, removed } = updatedAttributes(input);
  const key = (input.Key ?? {}) as Json;
  const bytes = itemBytes(key) + itemBytes(input.ExpressionAttributeValues as Json | undefined);
  let units = 0;
  for (const index of indexes) {
    // A narrower projection than ALL is taken as under 1 KB: keys and a few attributes.
    const entry = index.projection === 'ALL' ? writeUnits(bytes) : 1;
    const keysSet = index.keys.some((k) => set.has(k));
    if (index.keys.some((k) => removed.has(k))) units += 1;
    else if (keysSet) units += entry * (index.holds(key) ? 2 : 1);
    else if (index.holds(key) && [...set, ...removed].some((name) => projects(index, name))) units += entry;
  }
  return units;
}

function batchWriteIndexUnits(input: Json, indexesOf: (table: string) => readonly IndexModel[]): number {
  let units = 0;
  for (const [table, requests] of Object.entries((input.RequestItems ?? {}) as Record<string, Json[]>)) {
    const indexes = indexesOf(table);
    if (indexes.length === 0) continue;
    for (const request of requests) {
      const put = request.PutRequest as { Item?: Json } | undefined;
      const removed = request.DeleteRequest as { Key?: Json } | undefined;
      if (put?.Item) units += putIndexUnits(indexes, put.Item);
      else if (removed?.Key) units += indexes.filter((i) => i.holds(removed.Key as Json)).length;
    }
  }
  return units;
}

/**
 * Write units one DynamoDB request spends on the global secondary indexes of the tables it
 * writes (`indexesOf` gives a table's indexes; none for a table it does not know), on top of
 * {@link dynamoUnits}. A put of an item holding an index's keys is counted as entering it.
 */
export function dynamoIndexUnits(
  operation: string,
  input: Json,
  indexesOf: (table: string) => readonly IndexModel[],
): number {
  if (operation === 'BatchWriteItem') return batchWriteIndexUnits(input, indexesOf);
  const indexes = indexesOf(String(input.TableName ?? ''));
  if (indexes.length === 0) return 0;
  switch (operation) {
    case 'PutItem':
      return putIndexUnits(indexes, input.Item as Json);
    case 'UpdateItem':
      return updateIndexUnits(indexes, input);
    case 'DeleteItem':
      return indexes.filter((i) => i.holds(input.Key as Json)).length;
    default:
      return 0;
  }
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

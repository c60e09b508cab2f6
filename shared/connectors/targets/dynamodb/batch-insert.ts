import type { AttributeValue, BatchStatementRequest, BatchStatementResponse } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';

/** BatchExecuteStatement runs at most 25 statements per request. */
export const BATCH_STATEMENT_LIMIT = 25;

/**
 * `INSERT INTO "<table>" VALUE {'<name>': ?, ...}` with the item's attributes as parameters.
 * A PartiQL INSERT writes only when no item has the key (else the statement fails with
 * `DuplicateItem`), so it is the version-gated put for a key the target does not hold: the gate's
 * first clause, `attribute_not_exists(key)`. Names are quoted as PartiQL quotes them (`'` doubled)
 * and values travel as parameters, never in the statement text.
 */
export function insertStatement(table: string, item: Record<string, unknown>): BatchStatementRequest {
  const attributes = marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true });
  const names = Object.keys(attributes);
  const fields = names.map((name) => `'${name.replaceAll("'", "''")}': ?`).join(', ');
  return {
    Statement: `INSERT INTO "${table.replaceAll('"', '""')}" VALUE {${fields}}`,
    Parameters: names.map((name) => attributes[name] as NonNullable<(typeof attributes)[string]>),
  };
}

/** One INSERT statement, parsed. */
export interface PartiqlInsert {
  readonly table: string;
  readonly item: Record<string, AttributeValue>;
}

const INSERT = /^\s*INSERT\s+INTO\s+"((?:[^"]|"")+)"\s+VALUE\s+\{(.*)\}\s*$/is;
const FIELD = /\s*'((?:[^']|'')*)'\s*:\s*\?\s*(,|$)/y;

/**
 * Parses one statement of the form {@link insertStatement} writes, with its parameters: the local
 * stack's dynalite runs it, the cost estimate sizes its item.
 * @throws Error naming what is outside that form.
 */
export function parseInsert(statement: string, parameters: readonly AttributeValue[] = []): PartiqlInsert {
  const match = INSERT.exec(statement);
  if (!match)
    throw new Error(
      `the local stack's dynalite runs only INSERT INTO "<table>" VALUE {'<name>': ?, ...}; got: ${statement.slice(0, 80)}`,
    );
  const names: string[] = [];
  const body = match[2] as string;
  FIELD.lastIndex = 0;
  while (FIELD.lastIndex < body.length) {
    const at = FIELD.lastIndex;
    const field = FIELD.exec(body);
    if (!field) throw new Error(`unsupported item expression in INSERT at "${body.slice(at, at + 40)}"`);
    names.push((field[1] as string).replaceAll("''", "'"));
    if (field[2] === '') break;
  }
  if (names.length !== parameters.length)
    throw new Error(`INSERT has ${names.length} '?' but ${parameters.length} parameters`);
  const item: Record<string, AttributeValue> = {};
  for (const [i, name] of names.entries()) item[name] = parameters[i] as AttributeValue;
  return { table: (match[1] as string).replaceAll('""', '"'), item };
}

/**
 * What one statement's answer means for its write:
 * - `applied`: inserted;
 * - `retry`: DynamoDB shed it (throttling, request limit, a 500, a transaction conflict), to be sent
 *   again after a backoff;
 * - `unavailable`: the table is missing or not ours to write (`ResourceNotFound`, `AccessDenied`),
 *   which concerns the whole batch;
 * - `put`: anything else, above all `DuplicateItem` (the key exists): the write is decided by the
 *   conditional PutItem, which compares versions and names a bad item's field.
 */
export type InsertVerdict = 'applied' | 'retry' | 'unavailable' | 'put';

const RETRY_CODES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceeded',
  'ThrottlingError',
  'RequestLimitExceeded',
  'InternalServerError',
  'TransactionConflict',
]);

const UNAVAILABLE_CODES: ReadonlySet<string> = new Set(['ResourceNotFound', 'AccessDenied']);

export function insertVerdict(response: BatchStatementResponse | undefined): InsertVerdict {
  if (response === undefined) return 'retry';
  const code = response.Error?.Code;
  if (code === undefined) return 'applied';
  if (RETRY_CODES.has(code)) return 'retry';
  if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  return 'put';
}

import type { BatchStatementRequest, BatchStatementResponse } from '@aws-sdk/client-dynamodb';
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

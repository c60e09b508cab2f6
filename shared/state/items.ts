import {
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandOutput,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';

/**
 * How the state repositories read one item, create one, tell a refused conditional write, and
 * hand a page's position to the caller.
 */

/** The item at `key`, read consistently (as the last write left it); undefined when there is none. */
export async function readItem(
  ddb: DynamoDBDocumentClient,
  table: string,
  key: Readonly<Record<string, string>>,
): Promise<GetCommandOutput['Item']> {
  const out = await ddb.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return out.Item;
}

/** True when DynamoDB refused a write because its condition did not hold. */
export const conditionFailed = (error: unknown): boolean =>
  (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';

/**
 * Waits for a conditional write: true when it was written, false when its condition did not
 * hold (an answer, not an error).
 * @throws whatever else the write failed with.
 */
export async function conditionHeld(writing: Promise<unknown>): Promise<boolean> {
  try {
    await writing;
    return true;
  } catch (error) {
    if (conditionFailed(error)) return false;
    throw error;
  }
}

/**
 * Writes `item` unless the table holds an item at its key: true when written, false when one was
 * there (left as it was).
 */
export function putIfAbsent(
  ddb: DynamoDBDocumentClient,
  table: string,
  item: Readonly<Record<string, unknown>>,
): Promise<boolean> {
  return conditionHeld(
    ddb.send(
      new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    ),
  );
}

/** An opaque page cursor: base64url JSON of what the next page resumes from. */
export const encodePageCursor = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * What {@link encodePageCursor} wrote, not yet checked.
 * @throws SyntaxError when the cursor is not base64url JSON.
 */
export const decodePageCursor = (cursor: string): unknown =>
  JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));

/** The cursor of a page's `LastEvaluatedKey`: undefined on the last page. */
export const cursorOfLastKey = (key: Record<string, unknown> | undefined): string | undefined =>
  key ? encodePageCursor(key) : undefined;

/** The `ExclusiveStartKey` an `after` cursor names (from {@link cursorOfLastKey}); undefined for the first page. */
export const startKeyOf = (after: string | undefined): Record<string, unknown> | undefined =>
  after === undefined ? undefined : (decodePageCursor(after) as Record<string, unknown>);

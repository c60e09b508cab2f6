import { type DynamoDBDocumentClient, GetCommand, type GetCommandOutput } from '@aws-sdk/lib-dynamodb';

/** How the state repositories read one item and tell a refused conditional write. */

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

import { CreateTableCommand, type DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';

/**
 * Waits for a new table to be ACTIVE. Like DynamoDB, the local servers keep a new table CREATING
 * for a moment and refuse writes to it; dynalite makes it ACTIVE within milliseconds, so the
 * waiter polls every 20 ms at first (SDK default: 20 s, ours before: 1 s, which cost a second a
 * test whenever the first look found it CREATING).
 */
export async function waitForTable(client: DynamoDBClient, TableName: string): Promise<void> {
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.02, maxDelay: 0.25 }, { TableName });
}

/** Creates an on-demand table keyed by one string partition key and waits until it is ACTIVE. */
export async function createKeyedTable(
  client: DynamoDBClient,
  TableName: string,
  keyAttribute = 'pk',
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: keyAttribute, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: keyAttribute, AttributeType: 'S' }],
    }),
  );
  await waitForTable(client, TableName);
}

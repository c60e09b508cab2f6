import { type DynamoDBDocumentClient, paginateQuery, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/** Every item a Query finds, page after page (the SDK's paginator), read consistently. */
export async function* queryAll(
  ddb: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'ConsistentRead'>,
): AsyncIterable<Record<string, unknown>> {
  for await (const page of paginateQuery({ client: ddb }, { ...input, ConsistentRead: true }))
    yield* page.Items ?? [];
}

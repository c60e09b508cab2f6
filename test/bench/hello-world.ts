// The benchmark's baseline function: one SDK client, bundled and loaded as every ESync function is.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const client = new DynamoDBClient({});

export const handler = async () => ({ ok: true, region: await client.config.region() });

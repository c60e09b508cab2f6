import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ownedTargetTableName } from '../../../shared/naming.ts';
import type { ApiHarness } from '../api/harness.ts';

/** The SQS message the bus rule delivers for a Debezium change: the EventBridge event around it. */
export function busMessage(id: string, detail: unknown, time: number) {
  const event = {
    version: '0',
    id,
    'detail-type': 'users.change',
    source: 'esync.cdc',
    account: '123456789012',
    time: new Date(time).toISOString(),
    region: 'us-east-1',
    resources: [],
    detail,
  };
  return { messageId: id, body: JSON.stringify(event), receiveCount: 1 };
}

/** The `name` a pipeline's owned DynamoDB target holds for a key: `null` for a tombstone, `undefined` when absent. */
export async function storedName(
  harness: Pick<ApiHarness, 'clients'>,
  pipeline: string,
  id: number,
): Promise<string | null | undefined> {
  const { Item } = await harness.clients.ddb.send(
    new GetCommand({ TableName: ownedTargetTableName('dev', pipeline), Key: { pk: String(id) } }),
  );
  if (Item === undefined) return undefined;
  return Item._d === true ? null : (Item.name as string);
}

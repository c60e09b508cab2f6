import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AttributeValue, DynamoDBClient, KeySchemaElement } from '@aws-sdk/client-dynamodb';
import { isAlive } from './orphan-servers.ts';

/**
 * dynalite writes an item's secondary-index entries and then the item, as separate LevelDB
 * writes. A process killed between the two leaves an index entry of a write that was never
 * acknowledged (its item absent or still as before), which DynamoDB never shows: a GSI follows
 * its table. The ledger's pending index then counts, for good, a registration that never
 * happened, and AwaitLoad waits for it. So dynalite's data dir carries a marker while it is in
 * use; found at the next start (the process died instead of stopping), every index is brought
 * back in line with its table before anything reads it.
 */

type Item = Record<string, AttributeValue>;
type Dynamo = typeof import('@aws-sdk/client-dynamodb');

/** The marker of a dynalite data dir in use (the pid of its process); left behind by a process that died. */
const markerOf = (dataPath: string) => `${dataPath}.open`;

/**
 * Marks `dataPath` in use. `diedBefore`: the process of the marker found there is gone without
 * stopping; a process still running (this one, say) holds the directory and is not repaired under.
 */
export function openDynaliteDir(dataPath: string): { diedBefore: boolean; closed: () => void } {
  const marker = markerOf(dataPath);
  const pid = existsSync(marker) ? Number(readFileSync(marker, 'utf8').trim()) : undefined;
  const diedBefore = pid !== undefined && !(Number.isInteger(pid) && pid > 0 && isAlive(pid));
  writeFileSync(marker, `${process.pid}\n`);
  return { diedBefore, closed: () => rmSync(marker, { force: true }) };
}

/**
 * Makes every secondary index of every table hold exactly its items' entries: an entry whose
 * item is absent, or derives another index key, is removed; an item whose entry is missing or
 * stale is written again. Returns how many items and entries it rewrote.
 */
export async function repairSecondaryIndexes(client: DynamoDBClient): Promise<number> {
  const dynamo = await import('@aws-sdk/client-dynamodb');
  let repaired = 0;
  for (const name of await tableNames(client, dynamo)) {
    const { Table } = await client.send(new dynamo.DescribeTableCommand({ TableName: name }));
    const indexes = [...(Table?.GlobalSecondaryIndexes ?? []), ...(Table?.LocalSecondaryIndexes ?? [])];
    if (!Table?.KeySchema || indexes.length === 0) continue;
    const keyOf = keyString(Table.KeySchema);
    const items = new Map((await scanAll(client, dynamo, name)).map((item) => [keyOf(item), item]));
    const touch = new Set<string>();
    for (const index of indexes) {
      const indexKeys = (index.KeySchema ?? []).map((k) => k.AttributeName ?? '');
      const seen = new Set<string>();
      for (const entry of await scanAll(client, dynamo, name, index.IndexName)) {
        const key = keyOf(entry);
        const item = items.get(key);
        if (item && sameAttributes(entry, item, Object.keys(entry))) {
          seen.add(key);
          continue;
        }
        // Written over by the entry, then deleted or put back: dynalite drops the entry it derives.
        await client.send(new dynamo.PutItemCommand({ TableName: name, Item: entry }));
        if (item) touch.add(key);
        else
          await client.send(
            new dynamo.DeleteItemCommand({ TableName: name, Key: keyOnly(entry, Table.KeySchema) }),
          );
        repaired++;
      }
      for (const [key, item] of items)
        if (!seen.has(key) && indexKeys.every((a) => item[a] !== undefined)) touch.add(key);
    }
    for (const key of touch) {
      await client.send(new dynamo.PutItemCommand({ TableName: name, Item: items.get(key) as Item }));
      repaired++;
    }
  }
  return repaired;
}

/** Every table's name, through the SDK's ListTables paginator. */
async function tableNames(client: DynamoDBClient, dynamo: Dynamo): Promise<string[]> {
  const names: string[] = [];
  for await (const page of dynamo.paginateListTables({ client }, {})) names.push(...(page.TableNames ?? []));
  return names;
}

/** Every item of a table (read consistently) or every entry of one of its indexes. */
async function scanAll(
  client: DynamoDBClient,
  dynamo: Dynamo,
  table: string,
  index?: string,
): Promise<Item[]> {
  const items: Item[] = [];
  const input = { TableName: table, ...(index ? { IndexName: index } : { ConsistentRead: true }) };
  for await (const page of dynamo.paginateScan({ client }, input)) items.push(...(page.Items ?? []));
  return items;
}

const keyString = (schema: readonly KeySchemaElement[]) => (item: Item) =>
  JSON.stringify(schema.map((k) => item[k.AttributeName ?? '']));

const keyOnly = (item: Item, schema: readonly KeySchemaElement[]): Item =>
  Object.fromEntries(
    schema.map((k) => [k.AttributeName ?? '', item[k.AttributeName ?? ''] as AttributeValue]),
  );

function sameAttributes(a: Item, b: Item, names: readonly string[]): boolean {
  return names.every((n) => JSON.stringify(a[n]) === JSON.stringify(b[n]));
}

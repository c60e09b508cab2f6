import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../shared/aws/clients.ts';
import { taskError } from './integrations.ts';
import type { Json, JsonObject } from './model.ts';

/** Reads a Distributed Map's items as its ItemReader would: a JSON array, CSV rows or a listing. */
export async function readItems(
  clients: AwsClients,
  reader: JsonObject,
  batcher: JsonObject | undefined,
  params: Json,
): Promise<Json> {
  const p = (params ?? {}) as JsonObject;
  const config = (reader.ReaderConfig ?? {}) as JsonObject;
  const resource = String(reader.Resource ?? '');
  let items: Json[];
  if (resource.endsWith(':s3:listObjectsV2')) items = await listedObjects(clients, p);
  else if (resource.endsWith(':s3:getObject')) items = await objectItems(clients, p, config);
  else throw taskError('States.ItemReaderFailed', `ItemReader resource ${resource} is not supported locally`);
  if (typeof config.MaxItems === 'number') items = items.slice(0, config.MaxItems);
  return inBatches(items, batcher);
}

async function listedObjects(clients: AwsClients, p: JsonObject): Promise<Json[]> {
  const items: Json[] = [];
  let token: string | undefined;
  do {
    const page = await clients.s3.send(
      new ListObjectsV2Command({
        Bucket: String(p.Bucket),
        ...(p.Prefix !== undefined && { Prefix: String(p.Prefix) }),
        ...(token && { ContinuationToken: token }),
      }),
    );
    for (const o of page.Contents ?? [])
      items.push({
        Key: o.Key ?? '',
        Size: o.Size ?? 0,
        Etag: o.ETag ?? '',
        LastModified: o.LastModified?.toISOString() ?? '',
      });
    token = page.NextContinuationToken;
  } while (token);
  return items;
}

/** The items of one S3 object: a JSON array, or CSV rows as objects keyed by the header. */
async function objectItems(clients: AwsClients, p: JsonObject, config: JsonObject): Promise<Json[]> {
  let text: string;
  try {
    const object = await clients.s3.send(
      new GetObjectCommand({ Bucket: String(p.Bucket), Key: String(p.Key) }),
    );
    text = (await object.Body?.transformToString()) ?? '';
  } catch (error) {
    throw taskError(
      'States.ItemReaderFailed',
      `reading s3://${p.Bucket}/${p.Key} failed: ${(error as Error).name}`,
    );
  }
  const inputType = String(config.InputType ?? 'JSON');
  if (inputType === 'JSON') {
    const parsed = JSON.parse(text) as Json;
    if (!Array.isArray(parsed))
      throw taskError('States.ItemReaderFailed', `s3://${p.Bucket}/${p.Key} does not hold a JSON array`);
    return parsed;
  }
  if (inputType === 'CSV') {
    const rows = text.split(/\r?\n/).filter((line) => line !== '');
    const header =
      config.CSVHeaderLocation === 'GIVEN' ? (config.CSVHeaders as string[]) : rows.shift()?.split(',');
    return rows.map((row) => {
      const cells = row.split(',');
      return Object.fromEntries((header ?? []).map((h, i) => [h, cells[i] ?? '']));
    });
  }
  throw taskError('States.ItemReaderFailed', `ItemReader InputType ${inputType} is not supported locally`);
}

/** Groups the items as the Map's ItemBatcher says, or leaves them one by one. */
function inBatches(items: Json[], batcher: JsonObject | undefined): Json {
  const perBatch = batcher?.MaxItemsPerBatch;
  if (typeof perBatch !== 'number' || perBatch <= 0) return items;
  const batches: Json[] = [];
  for (let i = 0; i < items.length; i += perBatch)
    batches.push({
      Items: items.slice(i, i + perBatch),
      ...(batcher?.BatchInput !== undefined && { BatchInput: batcher.BatchInput }),
    });
  return batches;
}

import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RecordData } from '../records/envelope.ts';
import { expiresAt, keys } from './keys.ts';

/**
 * Field-merge bases: the data ESync last synced per key, the "base" of the three-way merge.
 * Only field-merge pipelines pay for them (one extra write per applied record).
 */
export class BaseRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionDays = 365,
  ) {}

  async getMany(pipeline: string, recordKeys: readonly string[]): Promise<Map<string, RecordData>> {
    const found = new Map<string, RecordData>();
    const unique = [...new Set(recordKeys)];
    for (let i = 0; i < unique.length; i += 100) {
      let request: Record<string, unknown>[] = unique.slice(i, i + 100).map((k) => keys.base(pipeline, k));
      for (let attempt = 0; request.length > 0 && attempt < 10; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
        const out = await this.ddb.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request } } }),
        );
        for (const item of out.Responses?.[this.table] ?? [])
          found.set(String(item.key), item.data as RecordData);
        request = (out.UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return found;
  }

  async putMany(pipeline: string, bases: readonly { key: string; data: RecordData }[]): Promise<void> {
    const ttl = expiresAt(this.retentionDays);
    for (let i = 0; i < bases.length; i += 25) {
      let requests = bases.slice(i, i + 25).map((b) => ({
        PutRequest: {
          Item: { ...keys.base(pipeline, b.key), type: 'base', key: b.key, data: b.data, expiresAt: ttl },
        },
      }));
      for (let attempt = 0; requests.length > 0 && attempt < 10; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
        const out = await this.ddb.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }));
        requests = (out.UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
  }
}

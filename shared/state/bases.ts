import { BatchGetCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { backoffDelay, DEFAULT_RETRY, type RetryOptions } from '../domain/retry.ts';
import { TransientError } from '../errors.ts';
import type { RecordData } from '../records/envelope.ts';
import { conditionHeld } from './items.ts';
import { expiresAt, keys } from './keys.ts';
import { fromStoredData, toStoredData } from './record-data.ts';

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_LIMIT = 100;

/**
 * Field-merge bases: the data ESync last synced per key, the "base" of the three-way merge.
 * Only field-merge pipelines pay for them (one extra write per applied record).
 */
export class BaseRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionDays = 365,
    private readonly retry: RetryOptions = DEFAULT_RETRY,
  ) {}

  async getMany(pipeline: string, recordKeys: readonly string[]): Promise<Map<string, RecordData>> {
    const versioned = await this.getManyVersioned(pipeline, recordKeys);
    return new Map([...versioned].map(([key, base]) => [key, base.data]));
  }

  /**
   * Bases with the target version they were written for (absent on bases written without one),
   * so a reader can tell a base out of step with the target state it read.
   */
  async getManyVersioned(
    pipeline: string,
    recordKeys: readonly string[],
  ): Promise<Map<string, { data: RecordData; version?: string }>> {
    const found = new Map<string, { data: RecordData; version?: string }>();
    const unique = [...new Set(recordKeys)];
    for (let i = 0; i < unique.length; i += BATCH_GET_LIMIT) {
      let request: Record<string, unknown>[] = unique
        .slice(i, i + BATCH_GET_LIMIT)
        .map((k) => keys.base(pipeline, k));
      // UnprocessedKeys is DynamoDB shedding load without an error: the same backoff as throttling.
      for (let round = 1; ; round++) {
        const out = await this.ddb.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request } } }),
        );
        for (const item of out.Responses?.[this.table] ?? [])
          found.set(String(item.key), {
            data: fromStoredData(item.data) ?? {},
            ...(typeof item.version === 'string' ? { version: item.version } : {}),
          });
        request = (out.UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, unknown>[];
        if (request.length === 0) break;
        // A base left unread would look like a key never synced: the merge must not go on without it.
        if (round >= this.retry.maxAttempts)
          throw new TransientError(
            `field-merge bases: table "${this.table}" left ${request.length} keys unprocessed after ${round} BatchGetItem rounds`,
          );
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(round, this.retry)));
      }
    }
    return found;
  }

  /**
   * Stores bases. With a version, each put is conditional on the stored base being older, so two
   * loads of one key finishing out of order cannot leave the older base behind.
   */
  async putMany(
    pipeline: string,
    bases: readonly { key: string; data: RecordData; version?: string }[],
  ): Promise<void> {
    const ttl = expiresAt(this.retentionDays);
    for (let i = 0; i < bases.length; i += 25)
      await Promise.all(
        bases.slice(i, i + 25).map((b) =>
          conditionHeld(
            this.ddb.send(
              new PutCommand({
                TableName: this.table,
                Item: {
                  ...keys.base(pipeline, b.key),
                  type: 'base',
                  key: b.key,
                  data: toStoredData(b.data),
                  ...(b.version === undefined ? {} : { version: b.version }),
                  expiresAt: ttl,
                },
                ...(b.version === undefined
                  ? {}
                  : {
                      ConditionExpression: 'attribute_not_exists(version) OR version < :v',
                      ExpressionAttributeValues: { ':v': b.version },
                    }),
              }),
            ),
          ),
        ),
      );
  }
}

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { RetryOptions } from '../../../shared/domain/retry.ts';
import { TransientError } from '../../../shared/errors.ts';
import { BaseRepository } from '../../../shared/state/bases.ts';
import { awsError, scriptedClient } from './scripted-client.ts';

const TABLE = 'state';
const NO_WAIT: RetryOptions = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, jitter: 'none' };

type Keys = { pk: string; sk: string }[];

/**
 * A state table that answers each BatchGetItem with the first `served(round)` keys asked for and
 * leaves the rest unprocessed, as DynamoDB does when it sheds load.
 */
function sheddingTable(served: (round: number) => number) {
  const requests: number[] = [];
  const ddb = {
    send: async (command: { input: { RequestItems: Record<string, { Keys: Keys }> } }) => {
      const asked = command.input.RequestItems[TABLE]?.Keys ?? [];
      requests.push(asked.length);
      const count = Math.min(asked.length, served(requests.length));
      return {
        Responses: {
          [TABLE]: asked.slice(0, count).map((k) => ({ ...k, key: k.pk.split('#').pop(), data: { k: 1 } })),
        },
        ...(count < asked.length ? { UnprocessedKeys: { [TABLE]: { Keys: asked.slice(count) } } } : {}),
      };
    },
  } as unknown as DynamoDBDocumentClient;
  return { ddb, requests };
}

const recordKeys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);

describe('field-merge bases', () => {
  it('reads 100 keys per BatchGetItem and asks again for the keys DynamoDB left unprocessed', async () => {
    // Prepare
    const table = sheddingTable((round) => (round === 1 ? 60 : 100));
    const bases = new BaseRepository(table.ddb, TABLE, 365, NO_WAIT);

    // Act
    const found = await bases.getManyVersioned('p', recordKeys(150));

    // Assess
    expect(found.size).toBe(150);
    expect(table.requests).toEqual([100, 40, 50]);
  });

  it('fails transiently, naming the table, when keys stay unprocessed: no merge runs without its bases', async () => {
    // Prepare
    const table = sheddingTable(() => 0);
    const bases = new BaseRepository(table.ddb, TABLE, 365, NO_WAIT);

    // Act
    const reading = bases.getManyVersioned('p', recordKeys(5));

    // Assess
    await expect(reading).rejects.toThrow(TransientError);
    await expect(reading).rejects.toThrow(
      'table "state" left 5 keys unprocessed after 3 BatchGetItem rounds',
    );
    expect(table.requests).toEqual([5, 5, 5]);
  });

  it('leaves a newer stored base in place without error, and passes on any other failed put', async () => {
    // Prepare
    const stale = scriptedClient(() => awsError('ConditionalCheckFailedException'));
    const throttled = scriptedClient(() => awsError('ProvisionedThroughputExceededException'));
    const put = [{ key: 'k1', data: { a: 1 }, version: '0002' }];

    // Act
    const keeping = new BaseRepository(stale.ddb, TABLE, 365, NO_WAIT).putMany('p', put);
    const failing = new BaseRepository(throttled.ddb, TABLE, 365, NO_WAIT).putMany('p', put);

    // Assess
    await expect(keeping).resolves.toBeUndefined();
    await expect(failing).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(stale.sent.map((c) => [c.name, c.input.ConditionExpression])).toEqual([
      ['PutCommand', 'attribute_not_exists(version) OR version < :v'],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import type { SourceConnector, SourceRow } from '../../../shared/connectors/types.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { VanishedKeys } from '../../../shared/usecases/vanished.ts';

const keyedByEmail = pipelineSchema.parse({
  name: 'p',
  source: {
    type: 'postgres',
    connection: { secret: 'db' },
    table: 'accounts',
    key: ['id'],
    keyExpression: '$contains(email, "@") ? $lowercase(email) : $error("no @")',
    deletes: { mode: 'verify' },
  },
  target: { type: 'dynamodb' },
  verify: { mode: 'full' },
});

/** A target's live records of these keys, each at version v1. */
const targetWith = (keys: string[]) => [keys.map((key) => ({ key, version: 'v1', hash: 'h' }))];

/** A source of one partition holding rows with these emails. */
const sourceWith = (emails: string[]) =>
  ({
    async planPartitions() {
      return [{ id: 'all', spec: {} }];
    },
    async *read() {
      yield emails.map(
        (email, i): SourceRow => ({
          data: { id: i + 1, email },
          deleted: false,
          cursor: { values: [], key: String(i + 1) },
          version: 'v1',
          ts: '2026-01-01T00:00:00.000Z',
        }),
      );
    },
  }) as unknown as SourceConnector;

describe('VanishedKeys with a key expression', () => {
  it('finds the target keys no source row is keyed by any more', async () => {
    const vanishing = await VanishedKeys.start(targetWith(['ada@example.com', 'bob@example.com']));

    const vanished = await vanishing.finish(sourceWith(['Ada@Example.com']), keyedByEmail);

    expect([...vanished]).toEqual([['bob@example.com', 'v1']]);
  });

  it('takes no key for deleted while a source row cannot be keyed, as it may be any of them', async () => {
    const vanishing = await VanishedKeys.start(targetWith(['ada@example.com', 'bob@example.com']));

    const vanished = await vanishing.finish(
      sourceWith(['Ada@Example.com', 'bob-at-example.com']),
      keyedByEmail,
    );

    expect(vanished.size).toBe(0);
  });
});

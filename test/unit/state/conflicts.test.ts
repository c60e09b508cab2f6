import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../../shared/errors.ts';
import { type ConflictRecord, ConflictRepository, conflictId } from '../../../shared/state/conflicts.ts';
import { awsError, scriptedClient } from './scripted-client.ts';

const TABLE = 'state';

const conflict = (key: string): Omit<ConflictRecord, 'status' | 'resolution'> => ({
  id: conflictId('p', key, 'v2'),
  pipeline: 'p',
  key,
  createdAt: '2026-12-07T10:00:00.000Z',
  strategy: 'manual',
  fields: ['email'],
  source: { version: 'v2', data: { email: 'a@x' } },
  target: { version: 'v1', data: { email: 'b@x' } },
  base: null,
});

const resolution = {
  choice: 'source',
  data: null,
  by: 'ops',
  at: '2026-12-07T11:00:00.000Z',
  reason: 'r',
} as const;

describe('conflicts', () => {
  it('parks a conflict once: parking it again (a redelivery) reports false and writes nothing new', async () => {
    // Prepare
    const ids = new Set<string>();
    const { ddb, sent } = scriptedClient(({ input }) => {
      const sk = (input.Item as { sk: string }).sk;
      if (ids.has(sk)) return awsError('ConditionalCheckFailedException');
      ids.add(sk);
      return {};
    });
    const conflicts = new ConflictRepository(ddb, TABLE);

    // Act
    const first = await conflicts.park(conflict('1'));
    const again = await conflicts.park(conflict('1'));

    // Assess
    expect([first, again]).toEqual([true, false]);
    expect(sent[0]?.input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { status: 'open', key: '1', fields: ['email'] },
    });
  });

  it('gives one id to the same change of a key and different ids to other versions or keys', () => {
    const first = conflictId('p', 'k', 'v1');
    const redelivered = conflictId('p', 'k', 'v1');
    const ids = new Set([
      conflictId('p', 'k', 'v1'),
      conflictId('p', 'k', 'v2'),
      conflictId('p', 'k2', 'v1'),
    ]);

    expect(redelivered).toBe(first);
    expect(ids.size).toBe(3);
  });

  it('names a conflict that does not exist', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => ({}));
    const conflicts = new ConflictRepository(ddb, TABLE);

    // Act
    const getting = conflicts.get('nope');

    // Assess
    await expect(getting).rejects.toThrow(NotFoundError);
    await expect(getting).rejects.toThrow('conflict "nope" does not exist');
  });

  it('refuses a second resolution of one conflict', async () => {
    // Prepare
    const stored = { pk: 'x', sk: 'y', ...conflict('1'), status: 'open' };
    const { ddb } = scriptedClient(({ name }) =>
      name === 'GetCommand' ? { Item: stored } : awsError('ConditionalCheckFailedException'),
    );
    const conflicts = new ConflictRepository(ddb, TABLE);

    // Act
    const resolving = conflicts.resolve(stored.id, resolution);

    // Assess
    await expect(resolving).rejects.toThrow(ConflictError);
    await expect(resolving).rejects.toThrow(`conflict "${stored.id}" is already resolved`);
  });

  it('moves a resolved conflict to the resolved list of its pipeline', async () => {
    // Prepare
    const stored = { pk: 'x', sk: 'y', ...conflict('1'), status: 'open' };
    const { ddb, sent } = scriptedClient(({ name }) => (name === 'GetCommand' ? { Item: stored } : {}));
    const conflicts = new ConflictRepository(ddb, TABLE);

    // Act
    const resolved = await conflicts.resolve(stored.id, resolution);

    // Assess
    expect(resolved).toMatchObject({ status: 'resolved', resolution, key: '1' });
    expect(resolved).not.toHaveProperty('pk');
    const update = sent.find((c) => c.name === 'UpdateCommand');
    expect(update?.input).toMatchObject({ ConditionExpression: '#s = :open' });
  });

  it('pages the open conflicts with an opaque cursor that carries the next start key', async () => {
    // Prepare
    const lastKey = { pk: 'a', sk: 'b', gsi1pk: 'c', gsi1sk: 'd' };
    const { ddb, sent } = scriptedClient(() => ({ Items: [], LastEvaluatedKey: lastKey }));
    const conflicts = new ConflictRepository(ddb, TABLE);

    // Act
    const page = await conflicts.list({ pipeline: 'p', limit: 2 });
    await conflicts.list({ pipeline: 'p', after: page.next as string });

    // Assess
    expect(page.next).toMatch(/^[\w-]+$/);
    expect(sent[1]?.input.ExclusiveStartKey).toEqual(lastKey);
  });
});

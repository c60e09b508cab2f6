import { describe, expect, it } from 'vitest';
import { PartitionTakenOverError } from '../../../shared/errors.ts';
import { CheckpointRepository } from '../../../shared/state/checkpoints.ts';
import { ProgressRepository } from '../../../shared/state/progress.ts';
import { awsError, scriptedClient } from './scripted-client.ts';

const TABLE = 'state';
const progress = { partitionId: 'p0', cursor: null, extracted: 10, done: false, runId: 'r1' };

describe('partition progress', () => {
  it('never moves a partition back: a refused update of an older or finished progress of its owner is no error', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(({ name }) =>
      name === 'GetCommand'
        ? { Item: { ...progress, done: true } }
        : awsError('ConditionalCheckFailedException'),
    );
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const recording = repository.recordPartition('p', 'plan1', progress);

    // Assess
    await expect(recording).resolves.toBeUndefined();
    expect(sent[0]?.input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk) OR (runId = :run AND done = :no AND extracted <= :n)',
      ExpressionAttributeValues: expect.objectContaining({ ':n': 10, ':done': false, ':run': 'r1' }),
    });
    expect(sent[1]).toMatchObject({ name: 'GetCommand', input: { ConsistentRead: true } });
  });

  it('refuses the progress of a run whose partition another run claimed, naming the owner', async () => {
    // Prepare
    const { ddb } = scriptedClient(({ name }) =>
      name === 'GetCommand'
        ? { Item: { ...progress, runId: 'r2' } }
        : awsError('ConditionalCheckFailedException'),
    );
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const recording = repository.recordPartition('p', 'plan1', progress);

    // Assess
    await expect(recording).rejects.toThrow(PartitionTakenOverError);
    await expect(recording).rejects.toThrow('partition p0 was taken over by run r2');
  });

  it('claims an unfinished partition and answers the progress it took over; a finished one stays finished', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(({ input }) => {
      const sk = (input.Key as { sk: string }).sk;
      if (sk === 'PART#done') return awsError('ConditionalCheckFailedException');
      return sk === 'PART#p0' ? { Attributes: { ...progress, pk: 'x', sk } } : {};
    });
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const claims = [
      await repository.claimPartition('p', 'plan1', 'p0', 'r2'),
      await repository.claimPartition('p', 'plan1', 'fresh', 'r2'),
      await repository.claimPartition('p', 'plan1', 'done', 'r2'),
    ];

    // Assess
    expect(claims).toEqual([
      { finished: false, taken: progress },
      { finished: false, taken: undefined },
      { finished: true },
    ]);
    expect(sent[0]?.input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk) OR done = :no',
      ReturnValues: 'ALL_OLD',
      ExpressionAttributeValues: expect.objectContaining({ ':run': 'r2' }),
    });
  });

  it('passes on a throttled progress update, so Extract retries it', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => awsError('ProvisionedThroughputExceededException'));
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const recording = repository.recordPartition('p', 'plan1', progress);

    // Assess
    await expect(recording).rejects.toThrow('ProvisionedThroughputExceededException');
  });

  it('keeps a newer plan when an older run finishes its own', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(() => awsError('ConditionalCheckFailedException'));
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const finishing = repository.finishPlan('p', 'old-plan');

    // Assess
    await expect(finishing).resolves.toBeUndefined();
    expect(sent[0]?.input).toMatchObject({ ExpressionAttributeValues: { ':id': 'old-plan' } });
  });

  it('reads a saved plan without its table keys, and a partition with defaults for missing fields', async () => {
    // Prepare
    const { ddb } = scriptedClient(({ input }) =>
      (input.Key as { sk: string }).sk.startsWith('PART#')
        ? { Item: { partitionId: 'p0', runId: 'r1' } }
        : { Item: { pk: 'a', sk: 'b', type: 'plan', pipeline: 'p', planId: 'plan1' } },
    );
    const repository = new ProgressRepository(ddb, TABLE);

    // Act
    const plan = await repository.getPlan('p');
    const partition = await repository.getPartition('p', 'plan1', 'p0');

    // Assess
    expect(plan).toEqual({ pipeline: 'p', planId: 'plan1' });
    expect(partition).toEqual({ partitionId: 'p0', cursor: null, extracted: 0, done: false, runId: 'r1' });
  });
});

describe('checkpoints', () => {
  it('has no checkpoint for a pipeline never run, and a null cursor for one reset to the start', async () => {
    // Prepare
    const { ddb } = scriptedClient(({ input }) =>
      (input.Key as { pk: string }).pk.includes('fresh')
        ? {}
        : { Item: { setBy: 'reset', updatedAt: '2026-12-07T10:00:00.000Z' } },
    );
    const checkpoints = new CheckpointRepository(ddb, TABLE);

    // Act
    const fresh = await checkpoints.get('fresh');
    const reset = await checkpoints.get('old');

    // Assess
    expect(fresh).toBeUndefined();
    expect(reset).toMatchObject({ pipeline: 'old', cursor: null, setBy: 'reset' });
  });
});

describe('the last verified run', () => {
  it('is read back as set, and forgetting it deletes its item', async () => {
    // Prepare
    const items = new Map<string, Record<string, unknown>>();
    const { ddb, sent } = scriptedClient(({ input }) => {
      const item = input.Item as Record<string, unknown> | undefined;
      const key = JSON.stringify(input.Key ?? { pk: item?.pk, sk: item?.sk });
      if (item) items.set(key, item);
      else if (!('ConsistentRead' in input)) items.delete(key);
      return { Item: items.get(key) };
    });
    const checkpoints = new CheckpointRepository(ddb, TABLE);

    // Act
    await checkpoints.setVerifiedRun('p', 'run-1', '2026-12-07T13:00:00.000Z');
    const set = await checkpoints.verifiedRun('p');
    await checkpoints.forgetVerifiedRun('p');
    const forgotten = await checkpoints.verifiedRun('p');

    // Assess
    expect([set, forgotten]).toEqual(['run-1', undefined]);
    expect(sent.map((c) => c.input.Key ?? { pk: (c.input.Item as { pk: string }).pk })).toContainEqual({
      pk: 'PIPE#p',
      sk: 'VERIFIED',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { zeroCounts } from '../../../shared/domain/run-counts.ts';
import { NotFoundError } from '../../../shared/errors.ts';
import { keys } from '../../../shared/state/keys.ts';
import { RunRepository } from '../../../shared/state/runs.ts';
import { awsError, scriptedClient } from './scripted-client.ts';

const TABLE = 'state';
const zero = zeroCounts();

describe('runs', () => {
  it('keeps the first record of a run when its creation is retried', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(() => awsError('ConditionalCheckFailedException'));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    const creating = runs.create(
      { runId: 'r1', pipeline: 'p', startedAt: '2026-12-07T10:00:00.000Z' } as never,
      30,
    );

    // Assess
    await expect(creating).resolves.toBeUndefined();
    expect(sent[0]?.input).toMatchObject({ ConditionExpression: 'attribute_not_exists(pk)' });
  });

  it('ends a running run once: a second end (its Cleanup or RecordFailure came first) reports false', async () => {
    // Prepare
    let ended = false;
    const { ddb } = scriptedClient(() => {
      if (ended) return awsError('ConditionalCheckFailedException');
      ended = true;
      return {};
    });
    const runs = new RunRepository(ddb, TABLE);
    const end = { status: 'succeeded', endedAt: '2026-12-07T10:05:00.000Z', counts: zero } as const;

    // Act
    const first = await runs.endIfRunning('r1', end);
    const again = await runs.endIfRunning('r1', end);

    // Assess
    expect([first, again]).toEqual([true, false]);
  });

  it('passes on a failure to end a run other than its having ended', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => awsError('InternalServerError'));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    const ending = runs.endIfRunning('r1', { status: 'failed', endedAt: 'now', counts: zero });

    // Assess
    await expect(ending).rejects.toThrow('InternalServerError');
  });

  it('names a run that does not exist, and finds none for it', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => ({}));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    const getting = runs.get('r9');
    const found = await runs.find('r9');

    // Assess
    await expect(getting).rejects.toThrow(NotFoundError);
    await expect(getting).rejects.toThrow('run "r9" does not exist');
    expect(found).toBeUndefined();
  });

  it('returns the run as a phase write left it, without reading it again', async () => {
    // Prepare
    const stored = {
      ...keys.run('r1'),
      runId: 'r1',
      status: 'running',
      phases: { Verify: { status: 'running' } },
    };
    const { ddb, sent } = scriptedClient(() => ({ Attributes: stored }));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    const run = await runs.setPhase('r1', 'Verify', {
      startedAt: '2026-12-07T10:00:00.000Z',
      status: 'running',
    });

    // Assess
    expect(run).toEqual({ runId: 'r1', status: 'running', phases: { Verify: { status: 'running' } } });
    expect(sent.map((command) => command.name)).toEqual(['UpdateCommand']);
    expect(sent[0]?.input).toMatchObject({ ReturnValues: 'ALL_NEW' });
  });

  it('leaves out a phase start of a run that has ended, and refuses one of a run that does not exist', async () => {
    // Prepare
    const ended = { ...keys.run('r1'), runId: 'r1', status: 'aborted', phases: {} };
    const { ddb } = scriptedClient((command) => {
      if (command.name === 'UpdateCommand') return awsError('ConditionalCheckFailedException');
      return (command.input.Key as { pk: string }).pk === keys.run('r1').pk ? { Item: ended } : {};
    });
    const runs = new RunRepository(ddb, TABLE);
    const start = { startedAt: '2026-12-07T10:00:00.000Z', status: 'running' } as const;

    // Act
    const leftOut = await runs.setPhase('r1', 'Verify', start);
    const missing = runs.setPhase('r9', 'Verify', start);

    // Assess
    expect(leftOut).toBeUndefined();
    await expect(missing).rejects.toThrow('ConditionalCheckFailedException');
  });

  it('sets only the fields given and sends nothing when none is', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient();
    const runs = new RunRepository(ddb, TABLE);

    // Act
    await runs.update('r1', {});
    await runs.update('r1', { status: 'failed', window: undefined });

    // Assess
    expect(sent).toHaveLength(1);
    expect(sent[0]?.input).toMatchObject({
      UpdateExpression: 'SET #f0 = :v0',
      ExpressionAttributeNames: { '#f0': 'status' },
      ExpressionAttributeValues: { ':v0': 'failed' },
    });
  });

  it('lists runs filtered by status and returns the table keys only as an opaque cursor', async () => {
    // Prepare
    const item = {
      pk: 'RUN#r1',
      sk: 'RUN',
      gsi1pk: 'x',
      gsi1sk: 'y',
      expiresAt: 1,
      type: 'run',
      runId: 'r1',
    };
    const { ddb, sent } = scriptedClient(() => ({ Items: [item], LastEvaluatedKey: { pk: 'RUN#r1' } }));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    const page = await runs.list({ pipeline: 'p', status: 'failed' });

    // Assess
    expect(page.runs).toEqual([{ runId: 'r1' }]);
    expect(JSON.parse(Buffer.from(page.next as string, 'base64url').toString())).toEqual({ pk: 'RUN#r1' });
    expect(sent[0]?.input).toMatchObject({
      FilterExpression: '#s = :s',
      ExpressionAttributeValues: { ':s': 'failed' },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { dynamoIndexUnits, dynamoUnits, type IndexModel } from '../../../shared/cost/units.ts';
import { STATE_GSI1 } from '../../../shared/state/keys.ts';
import { LedgerRepository } from '../../../shared/state/ledger.ts';
import { RunRepository } from '../../../shared/state/runs.ts';
import { scriptedClient } from '../state/scripted-client.ts';

const TABLE = 'state';
const stateIndexes = (table: string) => (table === TABLE ? [STATE_GSI1] : []);
/** The API operation of a document client command. */
const OPERATIONS: Readonly<Record<string, string>> = {
  BatchWriteCommand: 'BatchWriteItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
};
/** Table and index write units of every request a repository sent. */
const unitsOf = (sent: readonly { name: string; input: Record<string, unknown> }[]) =>
  sent.map(({ name, input }) => {
    const operation = OPERATIONS[name] ?? name;
    return {
      table: dynamoUnits(operation, input, undefined),
      index: dynamoIndexUnits(operation, input, stateIndexes),
    };
  });

const outcome = { loaded: 100, skipped: 0, conflicts: 0, quarantined: 0, deadLettered: 0, excludedKeys: [] };

describe('global secondary index writes', () => {
  it('bills a ledger message two index writes: entering the pending index when registered, leaving it when completed', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(() => ({}));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    await ledger.register('RUN#r1', [
      { messageKey: 'm1', records: 100 },
      { messageKey: 'm2', records: 100 },
    ]);
    await ledger.complete('RUN#r1', 'm1', 100, outcome);

    // Assess
    expect(unitsOf(sent)).toEqual([
      { table: 2, index: 2 },
      { table: 1, index: 1 },
    ]);
  });

  it('bills an update of a run once more on the index that holds every run whole', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient(() => ({ Attributes: {} }));
    const runs = new RunRepository(ddb, TABLE);

    // Act
    await runs.create(
      { runId: 'r1', pipeline: 'p', trigger: 'manual', startedAt: '2026-12-07T00:00:00Z' } as never,
      30,
    );
    await runs.update('r1', { verify: { status: 'passed', compared: 1, mismatches: 0 } });

    // Assess
    expect(unitsOf(sent).map((u) => u.index)).toEqual([1, 1]);
  });

  it('counts a change of index keys as two writes, and nothing on a table without indexes', () => {
    const moved = {
      TableName: TABLE,
      Key: { pk: 'CONFLICT#c1', sk: 'CONFLICT' },
      UpdateExpression: 'SET #s = :resolved, gsi1pk = :g',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':resolved': 'resolved', ':g': 'CONFLICTS#p#resolved' },
    };

    expect(dynamoIndexUnits('UpdateItem', moved, stateIndexes)).toBe(2);
    expect(dynamoIndexUnits('UpdateItem', { ...moved, TableName: 'target' }, stateIndexes)).toBe(0);
    expect(dynamoIndexUnits('PutItem', { TableName: 'target', Item: { k: 'a' } }, stateIndexes)).toBe(0);
  });

  it('rewrites a keys-only entry only when its keys change, and sizes an entry by what the index projects', () => {
    const keysOnly: IndexModel = { ...STATE_GSI1, projection: 'KEYS_ONLY' };
    const indexes = () => [keysOnly];
    const counter = {
      TableName: TABLE,
      Key: { pk: 'RUN#r1', sk: 'RUN' },
      UpdateExpression: 'SET counts.loaded = if_not_exists(counts.loaded, :z) + :n',
      ExpressionAttributeValues: { ':z': 0, ':n': 5 },
    };
    const big = { pk: 'AUDIT#p', sk: 'a', gsi1pk: 'AUDIT', gsi1sk: 'a', body: 'x'.repeat(3000) };

    expect(dynamoIndexUnits('UpdateItem', counter, indexes)).toBe(0);
    expect(dynamoIndexUnits('UpdateItem', counter, stateIndexes)).toBe(1);
    expect(dynamoIndexUnits('PutItem', { TableName: TABLE, Item: big }, indexes)).toBe(1);
    expect(dynamoIndexUnits('PutItem', { TableName: TABLE, Item: big }, stateIndexes)).toBe(3);
  });
});

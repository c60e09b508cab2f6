import { describe, expect, it } from 'vitest';
import { insertStatement } from '../../../shared/connectors/targets/dynamodb/batch-insert.ts';
import {
  costOfRequests,
  costOfUsage,
  estimateRunCost,
  LOAD_MS_PER_RECORD,
} from '../../../shared/cost/estimate.ts';
import { PRICES } from '../../../shared/cost/prices.ts';
import {
  dynamoTableOf,
  dynamoUnits,
  eventBridgeUnits,
  itemBytes,
  sqsUnits,
} from '../../../shared/cost/units.ts';

/** A first load of a million 1 KB records into a DynamoDB target, verified in full. */
const FIRST_LOAD_OF_A_MILLION = {
  records: 1_000_000,
  messages: 10_000,
  written: 1_000_000,
  stateReads: 0,
  verified: 1_000_000,
  meanRecordBytes: 1000,
  extractInvocations: 4,
  awaitLoadPolls: 61,
  phaseGbSeconds: 1200,
  targetIsDynamoDb: true,
  loadBatchSize: 2,
  archivesChanges: false,
};

describe('billing units', () => {
  it('sizes an item by attribute names and values, the same in wire and plain form', () => {
    const plain = { pk: 'user#1', name: 'Ada', age: 36, admin: true, tags: ['a', 'b'] };
    const wire = {
      pk: { S: 'user#1' },
      name: { S: 'Ada' },
      age: { N: '36' },
      admin: { BOOL: true },
      tags: { L: [{ S: 'a' }, { S: 'b' }] },
    };

    expect(itemBytes(plain)).toBe(itemBytes(wire));
    expect(itemBytes(plain)).toBe(2 + 6 + 4 + 3 + 3 + 2 + 5 + 1 + 4 + (3 + 2 + 2));
  });

  it('bills a put by whole KB of the item, at least one unit', () => {
    const item = (bytes: number) => ({ Item: { pk: { S: 'k' }, v: { S: 'x'.repeat(bytes - 4) } } });

    expect(dynamoUnits('PutItem', item(1024), undefined)).toBe(1);
    expect(dynamoUnits('PutItem', item(1025), undefined)).toBe(2);
    expect(dynamoUnits('DescribeTable', {}, undefined)).toBeUndefined();
  });

  it('bills a batch of PartiQL inserts as one put per statement, by its item size', () => {
    const input = {
      Statements: [
        insertStatement('target', { pk: 'a', v: 'x'.repeat(1020) }),
        insertStatement('target', { pk: 'b', v: 'x'.repeat(1500) }),
      ],
    };

    expect(dynamoUnits('BatchExecuteStatement', input, undefined)).toBe(1 + 2);
    expect(dynamoTableOf(input)).toBe('target');
  });

  it('bills eventually consistent batch reads half a unit per item up to 4 KB, missing keys included', () => {
    const input = { RequestItems: { t: { Keys: [{ pk: 'a' }, { pk: 'b' }, { pk: 'c' }] } } };
    const output = { Responses: { t: [{ pk: 'a', d: 'x'.repeat(5000) }, { pk: 'b' }] } };

    expect(dynamoUnits('BatchGetItem', input, output)).toBe(1 + 0.5 + 0.5);
  });

  it('bills SQS per 64 KB chunk of the payload sent or received', () => {
    const body = 'x'.repeat(100 * 1024);
    const entries = Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: body }));

    expect(sqsUnits('SendMessageBatch', { Entries: entries }, undefined)).toBe(16);
    expect(sqsUnits('ReceiveMessage', {}, { Messages: [] })).toBe(1);
    expect(sqsUnits('DeleteMessageBatch', { Entries: entries }, undefined)).toBe(1);
    expect(eventBridgeUnits({ Entries: [{ Detail: '{}' }, { Detail: 'x'.repeat(70_000) }] })).toBe(3);
  });
});

describe('pricing', () => {
  it('prices requests by their units and leaves control-plane calls free', () => {
    const cost = costOfRequests([
      { service: 'DynamoDB', operation: 'PutItem', bytes: 0, units: 2 },
      { service: 'DynamoDB', operation: 'BatchGetItem', bytes: 0, units: 50 },
      { service: 'DynamoDB', operation: 'DescribeTable', bytes: 0 },
      { service: 'S3', operation: 'DeleteObject', bytes: 0 },
      { service: 'SQS', operation: 'SendMessageBatch', bytes: 0, units: 16 },
    ]);

    expect(cost.byService.DynamoDB).toBeCloseTo(2 * PRICES.dynamodbPerWru + 50 * PRICES.dynamodbPerRru, 12);
    expect(cost.byService.SQS).toBeCloseTo(16 * PRICES.sqsPerRequest, 12);
    expect(cost.byService.S3).toBeUndefined();
  });

  it('prices a request’s index writes at the write unit, besides its table writes', () => {
    const cost = costOfRequests([
      { service: 'DynamoDB', operation: 'UpdateItem', bytes: 0, units: 1, indexUnits: 2 },
    ]);

    expect(cost.byService.DynamoDB).toBeCloseTo(3 * PRICES.dynamodbPerWru, 12);
  });

  it('models two index writes per ledger message in a run’s estimate', () => {
    const withTen = estimateRunCost({ ...FIRST_LOAD_OF_A_MILLION, messages: 10_000 });
    const withTwenty = estimateRunCost({ ...FIRST_LOAD_OF_A_MILLION, messages: 20_000 });

    // Ten thousand more messages: a registration and a completion each, and two index writes.
    expect((withTwenty.byService.DynamoDB ?? 0) - (withTen.byService.DynamoDB ?? 0)).toBeCloseTo(
      10_000 * 4 * PRICES.dynamodbPerWru,
      9,
    );
  });

  it('models the queue by message size and load.batchSize: a send per message too large to pair in 1 MiB, a receive and a delete per invocation', () => {
    // 2,000 messages of 500 records of 1,000 bytes: 500,000 bytes, 8 chunks of 64 KB each.
    const input = { ...FIRST_LOAD_OF_A_MILLION, messages: 2_000, loadBatchSize: 2 };

    const cost = estimateRunCost(input);
    const noQueue = estimateRunCost({ ...input, messages: 0, records: 0 });

    const sends = 2_000 * 8;
    const receives = 1_000 * Math.ceil(1_000_000 / 65_536);
    const deletes = 1_000;
    expect(cost.byService.SQS).toBeCloseTo((sends + receives + deletes) * PRICES.sqsPerRequest, 12);
    expect((cost.byService.Lambda ?? 0) - (noQueue.byService.Lambda ?? 0)).toBeGreaterThanOrEqual(
      1_000 * PRICES.lambdaPerRequest,
    );
  });

  it('prices each AwaitLoad poll of a run as an invocation and three transitions', () => {
    const fewer = estimateRunCost({ ...FIRST_LOAD_OF_A_MILLION, awaitLoadPolls: 11 });
    const more = estimateRunCost({ ...FIRST_LOAD_OF_A_MILLION, awaitLoadPolls: 61 });

    expect((more.byService.StepFunctions ?? 0) - (fewer.byService.StepFunctions ?? 0)).toBeCloseTo(
      50 * 3 * PRICES.stepFunctionsPerTransition,
      12,
    );
    expect((more.byService.Lambda ?? 0) - (fewer.byService.Lambda ?? 0)).toBeCloseTo(
      50 * PRICES.lambdaPerRequest,
      12,
    );
  });

  it('adds Lambda compute and requests and Step Functions transitions', () => {
    const cost = costOfUsage({
      requests: [],
      lambda: { invocations: 10, gbSeconds: 100 },
      stateTransitions: 40,
    });

    expect(cost.byService.Lambda).toBeCloseTo(
      100 * PRICES.lambdaPerGbSecond + 10 * PRICES.lambdaPerRequest,
      12,
    );
    expect(cost.byService.StepFunctions).toBeCloseTo(40 * PRICES.stepFunctionsPerTransition, 12);
    expect(cost.usd).toBeCloseTo((cost.byService.Lambda ?? 0) + (cost.byService.StepFunctions ?? 0), 12);
  });

  it('estimates a first load of a million 1 KB records at the target writes plus a small overhead', () => {
    const input = FIRST_LOAD_OF_A_MILLION;

    const first = estimateRunCost(input);
    const rerun = estimateRunCost({ ...input, written: 0, stateReads: 1_000_000 });

    expect(first.usdPerMillionRecords).toBeGreaterThan(0.625);
    expect(first.usdPerMillionRecords).toBeLessThan(0.9);
    expect(rerun.usdPerMillionRecords).toBeLessThan(first.usdPerMillionRecords / 3);
  });

  it('prices a message left unsent at its ledger registration only', () => {
    // A rerun of a million unchanged records: every record skipped, nothing written.
    const rerun = { ...FIRST_LOAD_OF_A_MILLION, written: 0, stateReads: 0 };

    const allUnsent = estimateRunCost({ ...rerun, unsent: { messages: 10_000, records: 1_000_000 } });
    const nothing = estimateRunCost({ ...rerun, messages: 0, records: 0 });

    // One write unit each, outside the pending index; no queue, completion or Load time.
    expect((allUnsent.byService.DynamoDB ?? 0) - (nothing.byService.DynamoDB ?? 0)).toBeCloseTo(
      10_000 * PRICES.dynamodbPerWru,
      9,
    );
    expect(allUnsent.byService.SQS).toBe(nothing.byService.SQS);
    expect(allUnsent.byService.Lambda).toBe(nothing.byService.Lambda);
  });

  it('prices the sent messages of a rerun as sent and the rest as registered', () => {
    const rerun = { ...FIRST_LOAD_OF_A_MILLION, written: 0, stateReads: 10_000, loadBatchSize: 10 };

    const partly = estimateRunCost({ ...rerun, unsent: { messages: 9_900, records: 990_000 } });
    const asIfAllSent = estimateRunCost(rerun);

    // 100 messages of 100 1-KB records, 10 to an invocation: 10 sends and 10 receives of 16 64-KB chunks, 10 deletes.
    expect(partly.byService.SQS).toBeCloseTo((10 * 16 * 2 + 10) * PRICES.sqsPerRequest, 12);
    // Load's time for the 990,000 records never sent, in 990 fewer invocations.
    expect((asIfAllSent.byService.Lambda ?? 0) - (partly.byService.Lambda ?? 0)).toBeCloseTo(
      ((990_000 * LOAD_MS_PER_RECORD) / 1000) * PRICES.lambdaPerGbSecond + 990 * PRICES.lambdaPerRequest,
      9,
    );
  });

  it('adds one S3 PutObject per written change when the pipeline keeps history', () => {
    const input = FIRST_LOAD_OF_A_MILLION;

    const without = estimateRunCost(input);
    const kept = estimateRunCost({ ...input, archivesChanges: true });

    expect(kept.usd - without.usd).toBeCloseTo(5, 6);
  });
});

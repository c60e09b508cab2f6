import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../functions/load/handler.ts';
import { makeEnvelope, type RecordEnvelope } from '../../../shared/records/envelope.ts';
import { exactNumber } from '../../../shared/records/exact-json.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { timestampVersion } from '../../../shared/records/version.ts';
import { keys } from '../../../shared/state/keys.ts';
import { LedgerRepository } from '../../../shared/state/ledger.ts';
import { enqueueRecords } from '../../../shared/usecases/enqueue.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

const PIPELINE = 'orders-load';

let h: FunctionsHarness;

beforeAll(async () => {
  h = await startFunctionsHarness({
    pipelines: [
      {
        name: PIPELINE,
        source: {
          type: 'postgres',
          connection: { secret: 'esync/orders-db' },
          table: 'orders',
          key: ['id'],
          cursor: ['updated_at'],
        },
        target: { type: 'dynamodb' },
        validation: [{ field: 'email', required: true, format: '^[^@\\s]+@[^@\\s]+$' }],
        // Below SQS's 1 MiB, so that a record DynamoDB still takes (400 KB) can go by claim check.
        batch: { size: 2, maxBytes: 262_144 },
        dlq: { maxReceiveCount: 2 },
        retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      },
      {
        name: 'users-sync',
        source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
        target: { type: 'dynamodb' },
      },
      {
        name: 'inventory-cdc',
        source: { type: 'cdc', format: 'debezium', key: ['sku'] },
        triggers: { cdc: { pattern: { source: ['esync.cdc'], 'detail-type': ['inventory.change'] } } },
        target: { type: 'dynamodb' },
      },
    ],
  });
});
afterAll(() => h?.stop());
afterEach(async () => {
  vi.restoreAllMocks();
  h.failDynamoDbRequests(undefined);
  for (const pipeline of h.pipelines.keys()) {
    const left = await h.receiveAll(h.queueUrl(pipeline));
    await h.deleteMessages(h.queueUrl(pipeline), left);
  }
});

const sampleEvent = (...parts: string[]) =>
  JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'events', ...parts), 'utf8'));

function order(id: string, email: string, at = '2026-11-22T10:00:00.000Z'): RecordEnvelope {
  const data = { id, email, total: 42, updated_at: at };
  return makeEnvelope({
    key: id,
    op: 'upsert',
    version: timestampVersion(at, id),
    ts: at,
    data,
    provenance: { pipeline: PIPELINE, runId: 'test' },
  });
}

/** Extract's half of the path: records packed, registered in the run's ledger and sent. */
async function enqueueForRun(records: RecordEnvelope[]): Promise<string> {
  const scope = keys.ledgerScopeOfRun(`orders-load-${randomUUID()}`);
  await enqueueRecords(h.deps, PIPELINE, scope, records);
  return scope;
}

async function invokeLoad(messages: Parameters<FunctionsHarness['sqsEvent']>[1]): Promise<SQSBatchResponse> {
  return (await handler(h.sqsEvent(PIPELINE, messages), h.context('load'))) as SQSBatchResponse;
}

async function targetItem(key: string, pipeline = PIPELINE) {
  const out = await h.clients.dynamodb.send(
    new GetItemCommand({ TableName: h.targetTable(pipeline), Key: { pk: { S: key } }, ConsistentRead: true }),
  );
  return out.Item;
}

describe("Extract's enqueue", () => {
  it('registers each queue batch before sending it, the next batch registered while one is sent', async () => {
    // Prepare: 50 records, two a message: 25 messages in three SendMessageBatch calls.
    const records = Array.from({ length: 50 }, (_, i) => order(`e${i}`, `e${i}@example.com`));
    const events: string[] = [];
    const { ledger } = h.deps.state;
    const register = ledger.register.bind(ledger);
    vi.spyOn(ledger, 'register').mockImplementation(async (scope, messages, origin) => {
      const batch = messages.map((m) => m.messageKey).join(',');
      events.push(`register ${batch}`);
      await register(scope, messages, origin);
      events.push(`registered ${batch}`);
    });
    const sqs = h.deps.clients.sqs;
    const send = sqs.send.bind(sqs) as (command: unknown) => Promise<unknown>;
    vi.spyOn(sqs, 'send').mockImplementation((async (command: SendMessageBatchCommand) => {
      const batch = (command.input.Entries ?? []).map((e) => JSON.parse(e.MessageBody ?? '{}').messageKey);
      events.push(`send ${batch.join(',')}`);
      const out = await send(command);
      events.push(`sent ${batch.join(',')}`);
      return out;
    }) as never);

    // Act
    const scope = await enqueueForRun(records);

    // Assess: every batch registered before its send; the second registered while the first was sent.
    vi.restoreAllMocks();
    const sends = events.filter((e) => e.startsWith('send '));
    expect(sends).toHaveLength(3);
    for (const sendEvent of sends) {
      const batch = sendEvent.slice('send '.length);
      expect(events.indexOf(`registered ${batch}`)).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`registered ${batch}`)).toBeLessThan(events.indexOf(sendEvent));
    }
    const second = (sends[1] as string).slice('send '.length);
    const first = (sends[0] as string).slice('send '.length);
    expect(events.indexOf(`register ${second}`)).toBeLessThan(events.indexOf(`sent ${first}`));
    expect(await h.receiveAll(h.queueUrl(PIPELINE))).toHaveLength(25);
    expect((await h.deps.state.ledger.pending(scope)).messages).toBe(25);
  });
});

describe('load handler (SQS event source → DynamoDB target)', () => {
  it('writes the records of a batch to the target and completes each message in the ledger', async () => {
    // Prepare
    const scope = await enqueueForRun([
      order('a1', 'ada@example.com'),
      order('a2', 'bob@example.com'),
      order('a3', 'cy@example.com'),
    ]);
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));

    // Act
    const response = await invokeLoad(messages);

    // Assess
    expect(messages).toHaveLength(2);
    expect(response.batchItemFailures).toEqual([]);
    expect((await targetItem('a2'))?.email).toEqual({ S: 'bob@example.com' });
    expect(await targetItem('a3')).toMatchObject({
      _v: { S: timestampVersion('2026-11-22T10:00:00.000Z', 'a3') },
      _h: {
        S: contentHash({
          id: 'a3',
          email: 'cy@example.com',
          total: 42,
          updated_at: '2026-11-22T10:00:00.000Z',
        }),
      },
    });
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 3,
      loaded: 3,
      quarantined: 0,
      pendingMessages: 0,
    });
  });

  it('loads a record too large for a message through a claim check, every digit of its numbers kept', async () => {
    // Prepare
    const at = '2026-11-22T10:00:00.000Z';
    const data = {
      id: 'c1',
      email: 'cy@example.com',
      total: exactNumber('12345678901234567890.123456789'),
      count: exactNumber('9007199254740993'),
      notes: 'n'.repeat(300_000),
    };
    const big = makeEnvelope({
      key: 'c1',
      op: 'upsert',
      version: timestampVersion(at, 'c1'),
      ts: at,
      data,
      provenance: { pipeline: PIPELINE, runId: 'test' },
    });
    const scope = keys.ledgerScopeOfRun(`orders-load-${randomUUID()}`);
    const enqueued = await enqueueRecords(h.deps, PIPELINE, scope, [big]);
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));

    // Act
    const response = await invokeLoad(messages);

    // Assess
    const item = await targetItem('c1');
    expect(enqueued.claimChecks).toBe(1);
    expect(response.batchItemFailures).toEqual([]);
    expect({ total: item?.total, count: item?.count, _h: item?._h }).toEqual({
      total: { N: '12345678901234567890.123456789' },
      count: { N: '9007199254740993' },
      _h: { S: contentHash(data) },
    });
  });

  it('quarantines an invalid record with its reasons in S3 and counts it, loading the rest', async () => {
    // Prepare
    const scope = await enqueueForRun([order('b1', 'not-an-email'), order('b2', 'dee@example.com')]);
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));
    const messageKey = JSON.parse(messages[0]?.Body ?? '{}').messageKey as string;

    // Act
    const response = await invokeLoad(messages);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(await targetItem('b1')).toBeUndefined();
    expect(await targetItem('b2')).toBeDefined();
    const report = await h.readJson<{ entries: { record: { key: string }; reasons: unknown[] }[] }>(
      `quarantine/${PIPELINE}/${encodeURIComponent(scope)}/${messageKey}.json`,
    );
    expect(report.entries).toHaveLength(1);
    expect(report.entries[0]?.record.key).toBe('b1');
    expect(report.entries[0]?.reasons).toEqual([expect.objectContaining({ field: 'email', rule: 'format' })]);
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 2,
      loaded: 1,
      quarantined: 1,
      pendingMessages: 0,
      excludedKeys: ['b1'],
    });
  });

  it('quarantines a message that cannot be decoded instead of failing it', async () => {
    // Prepare
    const body = `{"kind":"records","pipeline":"${PIPELINE}", truncated`;
    await h.clients.sqs.send(new SendMessageCommand({ QueueUrl: h.queueUrl(PIPELINE), MessageBody: body }));
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));
    const scope = keys.ledgerScopeOfStream(PIPELINE, new Date().toISOString().slice(0, 10));

    // Act
    const response = await invokeLoad(messages);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const report = await h.readJson<{ entries: { raw: string; reasons: { rule: string }[] }[] }>(
      `quarantine/${PIPELINE}/${encodeURIComponent(scope)}/poison-${contentHash(body)}.json`,
    );
    expect(report.entries[0]).toMatchObject({ raw: body, reasons: [{ rule: 'decode' }] });
    const ledger = await h.ledger(scope);
    expect(ledger).toContainEqual(
      expect.objectContaining({ sk: `MSG#poison-${contentHash(body)}`, state: 'done', quarantined: 1 }),
    );
  });

  it('fails only the message whose target writes fail, so SQS redelivers it alone', async () => {
    // Prepare
    const scope = await enqueueForRun([
      order('c1', 'eve@example.com'),
      order('c2', 'fay@example.com'),
      order('c3-unreachable', 'gus@example.com'),
    ]);
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));
    const failing = messages.find((m) => m.Body?.includes('c3-unreachable'));
    h.failDynamoDbRequests({ table: h.targetTable(PIPELINE), containing: 'c3-unreachable' });

    // Act
    const response = await invokeLoad(messages);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: failing?.MessageId }]);
    expect(await targetItem('c1')).toBeDefined();
    expect(await targetItem('c2')).toBeDefined();
    h.failDynamoDbRequests(undefined);
    expect(await targetItem('c3-unreachable')).toBeUndefined();
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 3,
      loaded: 2,
      deadLettered: 0,
      pendingMessages: 1,
    });
  });

  it("fails only the message whose pooled insert fails: the other messages' inserts of that request are applied", async () => {
    // Prepare: a first load reads no state, so every message's inserts share one request.
    const first = (id: string, email: string) => ({
      ...order(id, email),
      provenance: { pipeline: PIPELINE, runId: 'test', initial: true },
    });
    const scope = await enqueueForRun([
      first('p1', 'eve@example.com'),
      first('p2', 'fay@example.com'),
      first('p3-unreachable', 'gus@example.com'),
      first('p4', 'hal@example.com'),
    ]);
    const messages = await h.receiveAll(h.queueUrl(PIPELINE));
    const failing = messages.find((m) => m.Body?.includes('p3-unreachable'));
    h.failDynamoDbRequests({ table: h.targetTable(PIPELINE), containing: 'p3-unreachable' });

    // Act
    const response = await invokeLoad(messages);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: failing?.MessageId }]);
    expect(await targetItem('p1')).toBeDefined();
    expect(await targetItem('p2')).toBeDefined();
    h.failDynamoDbRequests(undefined);
    expect(await targetItem('p3-unreachable')).toBeUndefined();
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({ extracted: 4, pendingMessages: 1 });
  });

  it('counts a message as dead-lettered on its last allowed receive before failing it', async () => {
    // Prepare: the first receive fails while the target is unreachable; the second is the last allowed.
    const scope = await enqueueForRun([order('d1-unreachable', 'hal@example.com')]);
    h.failDynamoDbRequests({ table: h.targetTable(PIPELINE), containing: 'd1-unreachable' });
    const first = await h.receiveAll(h.queueUrl(PIPELINE), { visibilitySeconds: 1 });
    // Every message of the batch failed: the invocation fails and SQS redelivers them all.
    await expect(invokeLoad(first)).rejects.toThrow(/All records failed/);
    const afterFirst = await h.deps.state.ledger.totals(scope);
    const last = await h.receiveAll(h.queueUrl(PIPELINE), { atLeast: 1 });

    // Act
    const outcome = invokeLoad(last);

    // Assess
    await expect(outcome).rejects.toThrow(/All records failed/);
    expect(afterFirst).toMatchObject({ deadLettered: 0, pendingMessages: 1 });
    expect(last.map((m) => m.Attributes?.ApproximateReceiveCount)).toEqual(['2']);
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 1,
      loaded: 0,
      deadLettered: 1,
      pendingMessages: 0,
      excludedKeys: ['d1-unreachable'],
    });
  });

  it('counts a message dead-lettered once the invocation of its last receive has ended without completing it, and loads it when redriven', async () => {
    // Prepare: the first receive fails while the target is unreachable; on the last allowed
    // receive the process dies before it can complete the message or count it.
    const scope = await enqueueForRun([order('k1-killed', 'ida@example.com')]);
    h.failDynamoDbRequests({ table: h.targetTable(PIPELINE), containing: 'k1-killed' });
    await expect(
      invokeLoad(await h.receiveAll(h.queueUrl(PIPELINE), { visibilitySeconds: 1 })),
    ).rejects.toThrow(/All records failed/);
    const last = await h.receiveAll(h.queueUrl(PIPELINE), { atLeast: 1 });
    // The mark of the receive's start is written; the process dies before anything after it.
    const mark = LedgerRepository.prototype.markLastReceive;
    let marks = 0;
    const died = vi.spyOn(LedgerRepository.prototype, 'markLastReceive').mockImplementation(function (
      this: LedgerRepository,
      ...args
    ) {
      if (marks++ === 0) return mark.apply(this, args);
      return Promise.reject(new Error('process killed'));
    });

    // Act
    const outcome = handler(h.sqsEvent(PIPELINE, last), h.context('load', 1));
    await expect(outcome).rejects.toThrow(/All records failed/);
    const duringInvocation = await h.deps.state.ledger.totals(scope);
    await new Promise((r) => setTimeout(r, 1100));
    const afterInvocation = await h.deps.state.ledger.totals(scope);
    died.mockRestore();
    h.failDynamoDbRequests(undefined);
    const redriven = await invokeLoad(
      last.map((m) => ({ ...m, Attributes: { ApproximateReceiveCount: '1' } })),
    );

    // Assess
    expect(last.map((m) => m.Attributes?.ApproximateReceiveCount)).toEqual(['2']);
    expect(duringInvocation).toMatchObject({ extracted: 1, deadLettered: 0, pendingMessages: 1 });
    expect(afterInvocation).toMatchObject({
      extracted: 1,
      loaded: 0,
      deadLettered: 1,
      pendingMessages: 0,
      excludedKeys: ['k1-killed'],
    });
    expect(redriven.batchItemFailures).toEqual([]);
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      loaded: 1,
      deadLettered: 0,
      pendingMessages: 0,
    });
    expect(await targetItem('k1-killed')).toBeDefined();
  });

  it('counts a message whose completion failed on its last receive dead-lettered, and both its quarantine and its counts once redriven', async () => {
    // Prepare: an invalid and a valid record; on the last allowed receive the records are
    // written and quarantined, then the ledger refuses the completion (a transient fault).
    const scope = await enqueueForRun([order('q1', 'not-an-email'), order('q2', 'jo@example.com')]);
    const last = (await h.receiveAll(h.queueUrl(PIPELINE))).map((m) => ({
      ...m,
      Attributes: { ApproximateReceiveCount: '2' },
    }));
    const messageKey = JSON.parse(last[0]?.Body ?? '{}').messageKey as string;
    const refused = vi
      .spyOn(LedgerRepository.prototype, 'complete')
      .mockRejectedValueOnce(Object.assign(new Error('state unavailable'), { name: 'InternalServerError' }));

    // Act
    await expect(invokeLoad(last)).rejects.toThrow(/All records failed/);
    const deadLettered = await h.deps.state.ledger.totals(scope);
    refused.mockRestore();
    const redriven = await invokeLoad(
      last.map((m) => ({ ...m, Attributes: { ApproximateReceiveCount: '1' } })),
    );

    // Assess
    expect(deadLettered).toMatchObject({ extracted: 2, quarantined: 0, deadLettered: 2, pendingMessages: 0 });
    expect(redriven.batchItemFailures).toEqual([]);
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 2,
      skipped: 1,
      quarantined: 1,
      deadLettered: 0,
      excludedKeys: ['q1'],
    });
    expect((await targetItem('q2'))?.email).toEqual({ S: 'jo@example.com' });
    const report = await h.readJson<{ entries: unknown[] }>(
      `quarantine/${PIPELINE}/${encodeURIComponent(scope)}/${messageKey}.json`,
    );
    expect(report.entries).toHaveLength(1);
  });

  it('counts nothing of a message a resuming run abandoned though it was sent, keeps its rejects and drops its failure', async () => {
    // Prepare: an Extract sent the message and died before recording its partition's progress;
    // the run that resumed the partition abandoned the registration and reads its rows again.
    const scope = keys.ledgerScopeOfRun(`orders-load-${randomUUID()}`);
    await enqueueRecords(
      h.deps,
      PIPELINE,
      scope,
      [order('s1', 'not-an-email'), order('s2', 'kim@example.com')],
      '',
      { origin: { partition: 'p0', upTo: 2 } },
    );
    await enqueueRecords(h.deps, PIPELINE, scope, [order('s3', 'not-an-email')], '', {
      origin: { partition: 'p1', upTo: 1 },
    });
    const messages = await h.receiveAll(h.queueUrl(PIPELINE), { atLeast: 2 });
    const [first, last] = [0, 1].map((i) => messages.find((m) => m.Body?.includes(`s${2 * i + 1}`)));
    const lastKey = JSON.parse(last?.Body ?? '{}').messageKey as string;
    await h.deps.state.ledger.abandonReadAgain(scope, () => true);
    h.failDynamoDbRequests({ table: h.targetTable(PIPELINE), containing: 'kim@example.com' });

    // Act: the first message fails its target write on its last receive; the second loads.
    const failing = await invokeLoad([{ ...first, Attributes: { ApproximateReceiveCount: '2' } }]);
    h.failDynamoDbRequests(undefined);
    const loading = await invokeLoad([last].filter((m) => m !== undefined));

    // Assess: neither is counted nor dead-lettered; the quarantined row is kept.
    expect([failing.batchItemFailures, loading.batchItemFailures]).toEqual([[], []]);
    expect(await h.deps.state.ledger.totals(scope)).toMatchObject({
      extracted: 0,
      quarantined: 0,
      deadLettered: 0,
    });
    const report = await h.readJson<{ entries: { record: { key: string } }[] }>(
      `quarantine/${PIPELINE}/${encodeURIComponent(scope)}/${lastKey}.json`,
    );
    expect(report.entries.map((e) => e.record.key)).toEqual(['s3']);
  });

  it('changes nothing and counts nothing twice when a message is delivered again', async () => {
    // Prepare
    const scope = await enqueueForRun([order('e1', 'ivy@example.com'), order('e2', 'jo@example.com')]);
    // Delivered again: as when the function crashed after writing, before SQS deleted the message.
    const first = await h.receiveAll(h.queueUrl(PIPELINE), { visibilitySeconds: 1 });
    await invokeLoad(first);
    const itemBefore = await targetItem('e1');
    const totalsBefore = await h.deps.state.ledger.totals(scope);
    const again = await h.receiveAll(h.queueUrl(PIPELINE), { atLeast: 1 });

    // Act
    const response = await invokeLoad(again);

    // Assess
    expect(again.map((m) => [m.MessageId, m.Attributes?.ApproximateReceiveCount])).toEqual([
      [first[0]?.MessageId, '2'],
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(await targetItem('e1')).toEqual(itemBefore);
    expect(totalsBefore).toMatchObject({ extracted: 2, loaded: 2, skipped: 0, pendingMessages: 0 });
    expect(await h.deps.state.ledger.totals(scope)).toEqual(totalsBefore);
  });

  it('loads the sample batch of events/sqs as the event source hands it over', async () => {
    // Prepare
    const event = sampleEvent('sqs', 'load-batch.json') as SQSEvent;

    // Act
    const response = (await handler(event, h.context('load'))) as SQSBatchResponse;

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect((await targetItem('1', 'users-sync'))?.email).toEqual({ S: 'ada@example.com' });
    expect(await h.ledger('RUN#users-sync-20261122T120000Z-a1b2c3')).toEqual([
      expect.objectContaining({ sk: 'MSG#k-sample-1', state: 'done', records: 1, loaded: 1 }),
    ]);
  });

  it('loads a Debezium change that the pipeline rule routed from the ESync bus to its queue', async () => {
    // Prepare
    const change = sampleEvent('cdc', 'debezium-update.json');
    await h.clients.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: h.deps.config.eventBus,
            Source: change.source,
            DetailType: change['detail-type'],
            Detail: JSON.stringify(change.detail),
          },
        ],
      }),
    );
    const messages = await h.receiveAll(h.queueUrl('inventory-cdc'), { atLeast: 1 });
    const eventId = JSON.parse(messages[0]?.Body ?? '{}').id as string;

    // Act
    const response = (await handler(
      h.sqsEvent('inventory-cdc', messages),
      h.context('load'),
    )) as SQSBatchResponse;

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(await targetItem('SKU-1', 'inventory-cdc')).toMatchObject({
      quantity: { N: '4' },
      location: { S: 'A1' },
    });
    const day = new Date().toISOString().slice(0, 10);
    expect(await h.ledger(keys.ledgerScopeOfStream('inventory-cdc', day))).toEqual([
      expect.objectContaining({ sk: `MSG#cdc-${eventId}`, state: 'done', loaded: 1 }),
    ]);
  });
  it('counts tombstones, heartbeats and transaction events from the bus in their metrics, quarantining none', async () => {
    // Prepare
    const details = [
      { schema: null, payload: null },
      { schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' }, payload: { ts_ms: 1 } },
      { status: 'BEGIN', id: '571:1', ts_ms: 1, event_count: null, data_collections: null },
      { status: 'END', id: '571:1', ts_ms: 2, event_count: 0, data_collections: [] },
    ];
    await h.clients.eventBridge.send(
      new PutEventsCommand({
        Entries: details.map((detail) => ({
          EventBusName: h.deps.config.eventBus,
          Source: 'esync.cdc',
          DetailType: 'inventory.change',
          Detail: JSON.stringify(detail),
        })),
      }),
    );
    const messages = await h.receiveAll(h.queueUrl('inventory-cdc'), { atLeast: details.length });
    const added = vi.spyOn(Metrics.prototype, 'addMetric');

    // Act
    const response = (await handler(
      h.sqsEvent('inventory-cdc', messages),
      h.context('load'),
    )) as SQSBatchResponse;

    // Assess
    const counted = (name: string) =>
      added.mock.calls.filter(([metric]) => metric === name).reduce((sum, [, , n]) => sum + Number(n), 0);
    expect(response.batchItemFailures).toEqual([]);
    expect(
      ['CdcTombstones', 'CdcHeartbeats', 'CdcTransactionEvents', 'RecordsQuarantined'].map(counted),
    ).toEqual([1, 1, 2, 0]);
  });
});

describe('the ledger’s pending index', () => {
  const outcome = { loaded: 1, skipped: 0, conflicts: 0, quarantined: 0, deadLettered: 0, excludedKeys: [] };
  const unit = (key: string) => ({ records: 1, keys: [key] });

  it('holds exactly the messages not yet completed, abandoned or dead-lettered unseen, as the full sum counts them', async () => {
    // Prepare: five registered messages of 1 to 5 records, from one partition's Extract.
    const ledger = h.deps.state.ledger;
    const scope = keys.ledgerScopeOfRun(`pending-${randomUUID()}`);
    for (let i = 1; i <= 5; i++)
      await ledger.register(scope, [{ messageKey: `m${i}`, records: i }], { partition: 'p', upTo: i * 10 });
    const registered = await ledger.pending(scope);

    // Act: m1 completed (then delivered again), m2 abandoned as never sent, m3's last receive
    // ended unseen, m4 on a last receive still going, m5 untouched; m6 a pushed change on its
    // last receive, never registered.
    await ledger.complete(scope, 'm1', 1, outcome);
    const again = await ledger.complete(scope, 'm1', 1, outcome);
    const abandoned = await ledger.abandonReadAgain(scope, (origin) => origin.upTo === 20);
    await ledger.markLastReceive(scope, 'm3', unit('k3'), Date.now() - 1);
    await ledger.markLastReceive(scope, 'm4', unit('k4'), Date.now() + 60_000);
    await ledger.markLastReceive(scope, 'm6', unit('k6'), Date.now() + 60_000);
    const partway = await ledger.pending(scope);
    const totals = await ledger.totals(scope);

    // Assess
    expect(registered).toEqual({ messages: 5, records: 15 });
    expect([again, abandoned]).toEqual([false, 1]);
    expect(partway).toEqual({ messages: 3, records: 4 + 5 + 1 });
    expect(totals).toMatchObject({
      pendingMessages: partway.messages,
      pendingRecords: partway.records,
      deadLettered: 3,
    });
  });

  it('is empty once every message is completed, a redriven dead letter included, and the run’s other scopes stay apart', async () => {
    // Prepare
    const ledger = h.deps.state.ledger;
    const scope = keys.ledgerScopeOfRun(`pending-${randomUUID()}`);
    const other = keys.ledgerScopeOfRun(`pending-${randomUUID()}`);
    await ledger.register(scope, [
      { messageKey: 'a', records: 2 },
      { messageKey: 'b', records: 3 },
    ]);
    await ledger.register(other, [{ messageKey: 'a', records: 7 }]);
    await ledger.markLastReceive(scope, 'b', unit('kb'), Date.now() - 1);

    // Act
    await ledger.complete(scope, 'a', 2, { ...outcome, loaded: 2 });
    const deadLettered = await ledger.pending(scope);
    await ledger.complete(scope, 'b', 3, { ...outcome, loaded: 3 });

    // Assess
    expect(deadLettered).toEqual({ messages: 0, records: 0 });
    expect(await ledger.pending(scope)).toEqual({ messages: 0, records: 0 });
    expect(await ledger.totals(scope)).toMatchObject({ loaded: 5, deadLettered: 0, pendingMessages: 0 });
    expect(await ledger.pending(other)).toEqual({ messages: 1, records: 7 });
  });
});

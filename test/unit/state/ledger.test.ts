import { afterEach, describe, expect, it, vi } from 'vitest';
import { TransientError } from '../../../shared/errors.ts';
import { LedgerRepository, type MessageOutcome } from '../../../shared/state/ledger.ts';
import { awsError, scriptedClient } from './scripted-client.ts';

const TABLE = 'state';
const SCOPE = 'RUN#r1';

const outcome = (over: Partial<MessageOutcome> = {}): MessageOutcome => ({
  loaded: 2,
  skipped: 1,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
  excludedKeys: [],
  ...over,
});

afterEach(() => vi.restoreAllMocks());

describe('ledger completion', () => {
  it('completes a message once: a second completion is refused by the condition and reported false', async () => {
    // Prepare
    const done = new Set<string>();
    const { ddb, sent } = scriptedClient(({ input }) => {
      const sk = (input.Key as { sk: string }).sk;
      if (done.has(sk)) return awsError('ConditionalCheckFailedException');
      done.add(sk);
      return {};
    });
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const first = await ledger.complete(SCOPE, 'm1', 3, outcome());
    const again = await ledger.complete(SCOPE, 'm1', 3, outcome());

    // Assess
    expect([first, again]).toEqual([true, false]);
    expect(sent[0]?.input).toMatchObject({
      Key: { pk: SCOPE, sk: 'MSG#m1' },
      ConditionExpression: 'attribute_not_exists(#state) OR #state = :sent',
      ExpressionAttributeValues: expect.objectContaining({ ':l': 2, ':s': 1, ':records': 3 }),
    });
  });

  it('passes on a failure other than the condition, so the message is redelivered', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => awsError('ProvisionedThroughputExceededException'));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const completing = ledger.complete(SCOPE, 'm1', 3, outcome());

    // Assess
    await expect(completing).rejects.toThrow('ProvisionedThroughputExceededException');
  });

  it('keeps at most 1,000 excluded keys of one message, so its item stays under the size limit', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient();
    const ledger = new LedgerRepository(ddb, TABLE);
    const excludedKeys = Array.from({ length: 1500 }, (_, i) => `k${i}`);

    // Act
    await ledger.complete(SCOPE, 'm1', 1500, outcome({ excludedKeys }));

    // Assess
    const values = sent[0]?.input.ExpressionAttributeValues as Record<string, unknown>;
    expect(values[':x']).toEqual(excludedKeys.slice(0, 1000));
  });

  it('leaves a completed message alone when its last receive is marked late, and says so', async () => {
    // Prepare
    const { ddb } = scriptedClient(() => awsError('ConditionalCheckFailedException'));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const marking = ledger.markLastReceive(SCOPE, 'm1', { records: 1, keys: ['a'] }, Date.now());

    // Assess
    await expect(marking).resolves.toBe(false);
  });
});

describe('ledger registration', () => {
  it('registers 25 messages per BatchWriteItem and sends again what DynamoDB left unprocessed', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { ddb, sent } = scriptedClient(({ input }, index) => {
      const requests = (input.RequestItems as Record<string, unknown[]>)[TABLE] ?? [];
      return index === 0 ? { UnprocessedItems: { [TABLE]: requests.slice(20) } } : {};
    });
    const ledger = new LedgerRepository(ddb, TABLE);
    const messages = Array.from({ length: 30 }, (_, i) => ({ messageKey: `m${i}`, records: 10 }));

    // Act
    await ledger.register(SCOPE, messages, { partition: 'p0', upTo: 300 });

    // Assess
    const sizes = sent.map((c) => ((c.input.RequestItems as Record<string, unknown[]>)[TABLE] ?? []).length);
    expect(sizes).toEqual([25, 5, 5]);
    expect((sent[2]?.input.RequestItems as Record<string, unknown[]> | undefined)?.[TABLE]?.[0]).toEqual({
      PutRequest: {
        Item: expect.objectContaining({ sk: 'MSG#m25', state: 'sent', partition: 'p0', upTo: 300 }),
      },
    });
  });

  it('fails transiently when the registrations stay unprocessed, so nothing is sent unregistered', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { ddb } = scriptedClient(({ input }) => ({ UnprocessedItems: input.RequestItems }));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const registering = ledger.register(SCOPE, [{ messageKey: 'm1', records: 1 }]);

    // Assess
    await expect(registering).rejects.toThrow(TransientError);
    await expect(registering).rejects.toThrow('ledger registration of 1 messages kept being throttled');
  });
});

describe('ledger totals', () => {
  it('sums done messages, counts the pending, leaves abandoned ones out and counts an unseen last receive dead-lettered', async () => {
    // Prepare
    const past = Date.now() - 60_000;
    const future = Date.now() + 60_000;
    const items = [
      {
        state: 'done',
        records: 3,
        loaded: 2,
        skipped: 1,
        excludedKeys: ['x'],
        ties: 1,
        ignored: 'heartbeat',
      },
      { state: 'done', records: 2, loaded: 1, quarantined: 1, filtered: 0, excludedKeys: ['q'] },
      { state: 'sent', records: 5 },
      { state: 'sent', records: 4, lastReceiveEndsAt: future, lastReceiveKeys: ['f'] },
      { state: 'sent', records: 2, lastReceiveEndsAt: past, lastReceiveKeys: ['d1', 'd2'] },
      { state: 'abandoned', records: 7 },
    ];
    const { ddb, sent } = scriptedClient(() => ({ Items: items }));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const totals = await ledger.totals(SCOPE);

    // Assess
    expect(totals).toMatchObject({
      extracted: 16,
      loaded: 3,
      skipped: 1,
      quarantined: 1,
      deadLettered: 2,
      ties: 1,
      messages: 5,
      pendingMessages: 2,
      pendingRecords: 9,
      ignored: { heartbeat: 1 },
    });
    expect([...totals.excludedKeys].sort()).toEqual(['d1', 'd2', 'q', 'x']);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ name: 'QueryCommand', input: { ConsistentRead: true } });
  });

  it('abandons the messages of a partition, unloaded or loaded, that the caller says are read again', async () => {
    // Prepare
    const items = [
      { pk: SCOPE, sk: 'MSG#a', state: 'sent', partition: 'p0', upTo: 100 },
      { pk: SCOPE, sk: 'MSG#b', state: 'sent', partition: 'p0', upTo: 200 },
      { pk: SCOPE, sk: 'MSG#c', state: 'done', partition: 'p0', upTo: 300 },
      { pk: SCOPE, sk: 'MSG#d', state: 'sent' },
      { pk: SCOPE, sk: 'MSG#e', state: 'abandoned', partition: 'p0', upTo: 400 },
    ];
    const { ddb, sent } = scriptedClient(({ name }) => (name === 'QueryCommand' ? { Items: items } : {}));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const abandoned = await ledger.abandonReadAgain(SCOPE, (origin) => origin.upTo > 150);

    // Assess
    expect(abandoned).toBe(2);
    const updates = sent.filter((c) => c.name === 'UpdateCommand');
    expect(updates.map((c) => c.input.Key)).toEqual([
      { pk: SCOPE, sk: 'MSG#b' },
      { pk: SCOPE, sk: 'MSG#c' },
    ]);
    expect(updates[0]?.input).toMatchObject({ ConditionExpression: '#state IN (:sent, :done)' });
  });

  it('abandons registered messages side by side, ten at most in flight, one already loaded not stopping the others', async () => {
    // Prepare
    const messageKeys = Array.from({ length: 12 }, (_, i) => `m${i}`);
    let inFlight = 0;
    let mostInFlight = 0;
    const answered: string[] = [];
    const { ddb } = scriptedClient(async ({ input }) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const sk = (input.Key as { sk: string }).sk;
      answered.push(sk);
      if (sk === 'MSG#m3') throw awsError('ConditionalCheckFailedException');
      return {};
    });
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    await ledger.abandonRegistered(SCOPE, messageKeys);

    // Assess
    expect(mostInFlight).toBe(10);
    expect(answered.sort()).toEqual(messageKeys.map((k) => `MSG#${k}`).sort());
  });
});

describe('ledger vouching', () => {
  const done = (messageKey: string, over: Record<string, unknown> = {}) => ({
    pk: 'RUN#a',
    sk: `MSG#${messageKey}`,
    state: 'done',
    records: 4,
    loaded: 3,
    skipped: 1,
    conflicts: 0,
    quarantined: 0,
    deadLettered: 0,
    filtered: 0,
    excludedKeys: [],
    content: `c-${messageKey}`,
    ...over,
  });

  it('vouches only for messages an earlier run loaded clean with the same content', async () => {
    // Prepare
    const items = [
      done('clean'),
      done('other-content', { content: 'changed' }),
      done('quarantined', { loaded: 3, skipped: 0, quarantined: 1, excludedKeys: ['7'] }),
      done('parked', { loaded: 3, skipped: 0, conflicts: 1, excludedKeys: ['8'] }),
      done('filtered', { loaded: 3, skipped: 0, filtered: 1 }),
      done('pending', { state: 'sent' }),
      done('dead', { loaded: 0, skipped: 0, deadLettered: 4 }),
      done('no-digest', { content: undefined }),
    ];
    const { ddb } = scriptedClient(() => ({ Responses: { [TABLE]: items } }));
    const ledger = new LedgerRepository(ddb, TABLE);
    const asked = [
      'clean',
      'other-content',
      'quarantined',
      'parked',
      'filtered',
      'pending',
      'dead',
      'no-digest',
      'absent',
    ];

    // Act
    const clean = await ledger.loadedClean(
      'RUN#a',
      asked.map((k) => ({ messageKey: k, content: `c-${k}` })),
    );

    // Assess
    expect([...clean]).toEqual(['clean']);
  });

  it('vouches for nothing DynamoDB left unprocessed, so those messages are sent', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { ddb, sent } = scriptedClient(({ input }) => ({
      Responses: { [TABLE]: [] },
      UnprocessedKeys: input.RequestItems,
    }));
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    const clean = await ledger.loadedClean('RUN#a', [{ messageKey: 'm', content: 'c' }]);

    // Assess
    expect(clean.size).toBe(0);
    expect(sent).toHaveLength(3);
  });

  it('registers a vouched message done, its records counted skipped, outside the pending index', async () => {
    // Prepare
    const { ddb, sent } = scriptedClient();
    const ledger = new LedgerRepository(ddb, TABLE);

    // Act
    await ledger.register(SCOPE, [
      { messageKey: 'm1', records: 4, content: 'c1', vouchedBy: 'RUN#a' },
      { messageKey: 'm2', records: 3, content: 'c2' },
    ]);

    // Assess
    const requests = sent[0]?.input.RequestItems as Record<
      string,
      { PutRequest: { Item: Record<string, unknown> } }[]
    >;
    const [vouched, toSend] = (requests[TABLE] ?? []).map((r) => r.PutRequest.Item);
    expect(vouched).toMatchObject({
      state: 'done',
      records: 4,
      loaded: 0,
      skipped: 4,
      content: 'c1',
      vouchedBy: 'RUN#a',
    });
    expect(vouched).not.toHaveProperty('gsi1pk');
    expect(toSend).toMatchObject({ state: 'sent', records: 3, content: 'c2', gsi1pk: `PENDING#${SCOPE}` });
  });
});

import {
  type BatchExecuteStatementCommandInput,
  type BatchStatementResponse,
  DeleteTableCommand,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DynamoDbEngine, type LocalServers, startLocalServers } from '../../../local/servers.ts';
import type { AwsClients } from '../../../shared/aws/clients.ts';
import { parseInsert } from '../../../shared/connectors/targets/dynamodb/batch-insert.ts';
import {
  createDynamoDbTarget,
  DynamoDbTarget,
} from '../../../shared/connectors/targets/dynamodb/dynamodb-target.ts';
import { toJsonRecord } from '../../../shared/connectors/targets/support/json-value.ts';
import { withInvocationLimits } from '../../../shared/connectors/targets/support/write-limit.ts';
import type { TargetChange, TargetWrite } from '../../../shared/connectors/types.ts';
import { ConfigError, ConnectorError, TransientError, ValidationError } from '../../../shared/errors.ts';
import { exactNumber, stringifyExactJson } from '../../../shared/records/exact-json.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { createKeyedTable } from '../../support/dynamodb-tables.ts';
import { DYNAMODB_LOCAL_HOOK_TIMEOUT_MS, requireSystemServer } from '../../support/system-servers.ts';
import { collect, FAST_RETRY, localClients, remove, targetContext, upsert } from './support.ts';

let servers: LocalServers;
let clients: AwsClients;
let tableCount = 0;
let table: string;

async function createTable(name: string, keyAttribute = 'pk'): Promise<void> {
  await createKeyedTable(clients.dynamodb, name, keyAttribute);
}

function target(
  options: {
    keyAttribute?: string;
    tableName?: string;
    clients?: AwsClients;
    writeConcurrency?: number;
    batchInserts?: boolean;
  } = {},
) {
  return createDynamoDbTarget(
    {
      type: 'dynamodb',
      table: options.tableName ?? table,
      keyAttribute: options.keyAttribute ?? 'pk',
      batchInserts: options.batchInserts ?? true,
    },
    targetContext(
      { type: 'dynamodb', table: options.tableName ?? table },
      options.clients ?? clients,
      options.writeConcurrency === undefined ? {} : { writeConcurrency: options.writeConcurrency },
    ),
  );
}

/** The keys a request writes: a PutItem's item key, or each INSERT's of a BatchExecuteStatement. */
function writtenKeys(commandName: string, input: unknown): string[] | undefined {
  if (commandName === 'PutItemCommand') {
    const pk = (input as { Item?: { pk?: { S?: string } | string } }).Item?.pk;
    return [typeof pk === 'string' ? pk : (pk?.S ?? '')];
  }
  if (commandName !== 'BatchExecuteStatementCommand') return undefined;
  const { Statements = [] } = input as BatchExecuteStatementCommandInput;
  return Statements.map((s) => parseInsert(s.Statement ?? '', s.Parameters).item.pk?.S ?? '');
}

/**
 * Counts the write requests (PutItem, BatchExecuteStatement) in flight, in all and per key, on
 * `on`'s DynamoDB client.
 */
function trackPuts(on: AwsClients) {
  let inFlight = 0;
  let maxInFlight = 0;
  let sent = 0;
  let batches = 0;
  const perKey = new Map<string, number>();
  let maxPerKey = 0;
  on.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      const keys = writtenKeys(context.commandName ?? '', args.input);
      if (!keys) return next(args);
      if (context.commandName === 'PutItemCommand') sent++;
      else batches++;
      inFlight++;
      for (const key of keys) {
        perKey.set(key, (perKey.get(key) ?? 0) + 1);
        maxPerKey = Math.max(maxPerKey, perKey.get(key) ?? 0);
      }
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await next(args);
      } finally {
        inFlight--;
        for (const key of keys) perKey.set(key, (perKey.get(key) ?? 1) - 1);
      }
    },
    { step: 'initialize', name: `track-puts-${Math.random()}` },
  );
  return {
    maxInFlight: () => maxInFlight,
    maxPerKey: () => maxPerKey,
    sent: () => sent,
    batches: () => batches,
  };
}

/**
 * Makes DynamoDB shed the INSERT statements that `shed` picks by key and attempt (from 1 per key):
 * they are not sent, and their answers are `ProvisionedThroughputExceeded` errors in their place,
 * as a throttled table answers them.
 */
function shedStatements(
  on: AwsClients,
  shed: (key: string, attempt: number) => boolean,
): { count: () => number } {
  let injected = 0;
  const attempts = new Map<string, number>();
  on.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'BatchExecuteStatementCommand') return next(args);
      const statements = (args.input as BatchExecuteStatementCommandInput).Statements ?? [];
      const keys = writtenKeys(context.commandName, args.input) ?? [];
      const picked = keys.map((key) => {
        attempts.set(key, (attempts.get(key) ?? 0) + 1);
        return shed(key, attempts.get(key) ?? 1);
      });
      const kept = statements.filter((_, i) => !picked[i]);
      const sent =
        kept.length > 0
          ? ((await next({ ...args, input: { ...args.input, Statements: kept } })).output as {
              Responses?: BatchStatementResponse[];
            })
          : { Responses: [] };
      const answers = [...(sent.Responses ?? [])];
      const Responses = picked.map((isShed) => {
        if (!isShed) return answers.shift();
        injected++;
        return { Error: { Code: 'ProvisionedThroughputExceeded', Message: 'injected' } };
      });
      return { output: { ...sent, Responses } as never, response: {} };
    },
    { step: 'initialize', name: `shed-${Math.random()}` },
  );
  return { count: () => injected };
}

/** An upsert that Load expects to find no item for (batched as a PartiQL INSERT). */
const fresh = (key: string, position: number, data: Record<string, unknown>): TargetWrite => ({
  ...upsert(key, position, data),
  stored: 'absent',
});

/** Makes a random share of `operation`'s requests fail with a throttling error. */
function throttleStorm(on: AwsClients, operation: string, share: number): { count: () => number } {
  let injected = 0;
  on.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === `${operation}Command` && Math.random() < share) {
        injected++;
        throw Object.assign(new Error('injected throttling'), {
          name: 'ProvisionedThroughputExceededException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name: `storm-${Math.random()}` },
  );
  return { count: () => injected };
}

async function rawItem(key: string, keyAttribute = 'pk') {
  const out = await clients.dynamodb.send(
    new GetItemCommand({ TableName: table, Key: { [keyAttribute]: { S: key } } }),
  );
  return out.Item;
}

/** Makes the next `times` requests of `operation` fail with a DynamoDB error named `name`. */
function injectFailures(
  on: AwsClients,
  operation: string,
  name: string,
  times: number,
): { count: () => number } {
  let injected = 0;
  on.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === `${operation}Command` && injected < times) {
        injected++;
        throw Object.assign(new Error(`injected ${name}`), { name, $metadata: { httpStatusCode: 400 } });
      }
      return next(args);
    },
    { step: 'initialize', name: `inject-${name}-${Math.random()}` },
  );
  return { count: () => injected };
}

/** The behaviour of the target, run against each DynamoDB server below. */
function targetBehaviour(engine: DynamoDbEngine) {
  // Outlasts DynamoDB Local's own budget to answer after its start, which names its log when spent.
  beforeAll(async () => {
    servers = await startLocalServers({ dynamodb: engine });
    clients = localClients(servers.endpoints);
  }, DYNAMODB_LOCAL_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await servers?.stop();
  });

  beforeEach(async () => {
    table = `users-target-${++tableCount}`;
    await createTable(table);
  });

  afterEach(async () => {
    await clients.dynamodb.send(new DeleteTableCommand({ TableName: table }));
  });

  it('discovers an existing table and reports a missing one without failing', async () => {
    // Act
    const existing = await target().discover();
    const missing = await target({ tableName: 'no-such-table' }).discover();

    // Assess
    expect(existing).toEqual({ exists: true, detail: expect.stringContaining(table) });
    expect(missing).toEqual({ exists: false, detail: 'table "no-such-table" does not exist' });
  });

  it('refuses a table whose partition key is not the key attribute', async () => {
    // Act
    const discovering = target({ keyAttribute: 'id' }).discover();

    // Assess
    await expect(discovering).rejects.toThrow(ConfigError);
    await expect(discovering).rejects.toThrow(/string partition key "id"/);
  });

  it('writes the owned table named after stage and pipeline when no table is configured', () => {
    // Act
    const owned = new DynamoDbTarget(
      { type: 'dynamodb', keyAttribute: 'pk', batchInserts: true },
      targetContext({ type: 'dynamodb' }, clients),
    );

    // Assess
    expect(owned.table).toBe('esync-dev-users-sync-target');
  });

  it('stores an item as the record fields plus the key and short meta attributes only', async () => {
    // Prepare
    const data = { id: 7, name: 'Ada', tags: ['x'], address: { city: 'London' } };

    // Act
    const outcomes = await target().write([upsert('7', 10, data)]);

    // Assess
    expect(outcomes).toEqual([{ key: '7', status: 'applied' }]);
    const item = await rawItem('7');
    expect(Object.keys(item ?? {}).sort()).toEqual(['_h', '_v', 'address', 'id', 'name', 'pk', 'tags']);
    expect(item?._v).toEqual({ S: positionVersion(10) });
    expect(item?._h).toEqual({ S: contentHash(data) });
  });

  it('keeps a 1 KB record within 64 bytes of its own size as an item', async () => {
    // Prepare
    const data = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`field_${i}`, 'x'.repeat(95)]));
    const recordBytes = Object.entries(data).reduce((n, [k, v]) => n + k.length + v.length, 0);

    // Act
    await target().write([upsert('key-0001', 1, data)]);

    // Assess
    const item = (await rawItem('key-0001')) ?? {};
    // DynamoDB bills an item as the UTF-8 bytes of its attribute names and string values.
    const itemBytes = Object.entries(item).reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v.S ?? ''),
      0,
    );
    expect(recordBytes).toBeGreaterThanOrEqual(1000);
    expect(itemBytes - recordBytes).toBeLessThanOrEqual(64);
  });

  it('reads state in batches, without data unless asked, and leaves out unknown keys', async () => {
    // Prepare
    const t = target();
    const writes = Array.from({ length: 130 }, (_, i) => upsert(`k${i}`, 5, { id: i, n: `name-${i}` }));
    await t.write(writes);
    const keys = [...writes.map((w) => w.key), 'k0', 'missing'];

    // Act
    const lean = await t.readState(keys, { withData: false });
    const full = await t.readState(['k3'], { withData: true });

    // Assess
    expect(lean.size).toBe(130);
    expect(lean.get('k42')).toEqual({
      version: positionVersion(5),
      hash: contentHash({ id: 42, n: 'name-42' }),
      deleted: false,
    });
    expect(lean.has('missing')).toBe(false);
    expect(full.get('k3')?.data).toEqual({ id: 3, n: 'name-3' });
  });

  it('reads the keys DynamoDB left unprocessed in a later round', async () => {
    // Prepare
    const shedding = localClients(servers.endpoints);
    let shed = false;
    shedding.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchGetItemCommand' || shed) return next(args);
        shed = true;
        const input = args.input as { RequestItems: Record<string, { Keys: unknown[] }> };
        const request = input.RequestItems[table] as { Keys: unknown[] };
        const kept = request.Keys.slice(0, 2);
        const left = request.Keys.slice(2);
        const result = await next({
          ...args,
          input: { ...input, RequestItems: { [table]: { ...request, Keys: kept } } },
        });
        (result.output as { UnprocessedKeys?: unknown }).UnprocessedKeys = {
          [table]: { ...request, Keys: left },
        };
        return result;
      },
      { step: 'initialize', name: 'shed-batch-get' },
    );
    await target().write([
      upsert('a', 1, { id: 'a' }),
      upsert('b', 1, { id: 'b' }),
      upsert('c', 1, { id: 'c' }),
    ]);

    // Act
    const state = await target({ clients: shedding }).readState(['a', 'b', 'c'], { withData: false });

    // Assess
    expect(shed).toBe(true);
    expect([...state.keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('skips a record whose stored version is newer, and a replay of the same version', async () => {
    // Prepare
    const t = target();
    await t.write([upsert('1', 20, { id: 1, name: 'new' })]);

    // Act
    const outcomes = await t.write([upsert('1', 19, { id: 1, name: 'old' }), upsert('2', 1, { id: 2 })]);
    const replay = await t.write([upsert('1', 20, { id: 1, name: 'new' })]);

    // Assess
    expect(outcomes).toEqual([
      { key: '1', status: 'stale' },
      { key: '2', status: 'applied' },
    ]);
    expect(replay).toEqual([{ key: '1', status: 'stale' }]);
    expect((await t.readState(['1'], { withData: true })).get('1')?.data).toEqual({ id: 1, name: 'new' });
  });

  it('applies only the changed records on an incremental second pass', async () => {
    // Prepare
    const t = target();
    await t.write([upsert('1', 1, { id: 1, v: 'a' }), upsert('2', 1, { id: 2, v: 'b' })]);

    // Act
    const outcomes = await t.write([
      upsert('1', 1, { id: 1, v: 'a' }),
      upsert('2', 2, { id: 2, v: 'changed' }),
    ]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['stale', 'applied']);
    expect((await t.readState(['2'], { withData: true })).get('2')?.data).toEqual({ id: 2, v: 'changed' });
  });

  it('keeps a tombstone so a late older upsert cannot resurrect a deleted record', async () => {
    // Prepare
    const t = target();
    await t.write([upsert('9', 1, { id: 9, name: 'x' })]);

    // Act
    const deleted = await t.write([remove('9', 3)]);
    const late = await t.write([upsert('9', 2, { id: 9, name: 'late' })]);

    // Assess
    expect(deleted).toEqual([{ key: '9', status: 'applied' }]);
    expect(late).toEqual([{ key: '9', status: 'stale' }]);
    expect(Object.keys((await rawItem('9')) ?? {}).sort()).toEqual(['_d', '_h', '_v', 'pk']);
    expect((await t.readState(['9'], { withData: true })).get('9')).toEqual({
      version: positionVersion(3),
      hash: 'deleted',
      deleted: true,
    });
  });

  it('reports the older of two writes of one key in a batch as stale and applies the newer', async () => {
    // Act
    const outcomes = await target().write([
      upsert('5', 2, { id: 5, v: 'newer' }),
      upsert('5', 1, { id: 5, v: 'older' }),
    ]);

    // Assess
    expect(outcomes).toEqual([
      { key: '5', status: 'applied' },
      { key: '5', status: 'stale' },
    ]);
    expect((await target().readState(['5'], { withData: true })).get('5')?.data).toEqual({
      id: 5,
      v: 'newer',
    });
  });

  it('keeps a data field named like the key attribute when it holds the key', async () => {
    // Prepare
    const idTable = `${table}-id`;
    await createTable(idTable, 'id');
    const t = target({ keyAttribute: 'id', tableName: idTable });

    // Act
    const outcomes = await t.write([
      upsert('u1', 1, { id: 'u1', name: 'Ada' }),
      upsert('u2', 1, { id: 'other' }),
    ]);
    const state = await t.readState(['u1'], { withData: true });
    const snapshot = await collect(t.snapshot());
    await clients.dynamodb.send(new DeleteTableCommand({ TableName: idTable }));

    // Assess
    expect(outcomes[0]).toEqual({ key: 'u1', status: 'applied' });
    expect(outcomes[1]).toMatchObject({ key: 'u2', status: 'failed', error: expect.any(ValidationError) });
    expect(state.get('u1')?.data).toEqual({ id: 'u1', name: 'Ada' });
    expect(snapshot).toEqual([
      { key: 'u1', version: positionVersion(1), hash: contentHash({ id: 'u1', name: 'Ada' }) },
    ]);
  });

  it('stores exact numbers as N with every digit and reads them back exactly', async () => {
    // Prepare
    const data = {
      id: 1,
      big: exactNumber('9223372036854775807'),
      decimal: exactNumber('1234567890123456789012345678.9012345678'),
      huge: 1.7976931348623157e308 / 1e200,
      tiny: 5e-324 * 1e200,
      nested: { list: [exactNumber('-9223372036854775808'), 2n ** 64n] },
    };

    // Act
    const outcomes = await target().write([upsert('1', 1, data)]);
    const state = await target().readState(['1'], { withData: true });
    const snapshot = await collect(target().snapshot());

    // Assess
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
    const item = (await rawItem('1')) ?? {};
    expect(item.big).toEqual({ N: '9223372036854775807' });
    expect(item.decimal).toEqual({ N: '1234567890123456789012345678.9012345678' });
    expect(item.nested?.M?.list?.L).toEqual([{ N: '-9223372036854775808' }, { N: '18446744073709551616' }]);
    const read = state.get('1')?.data ?? {};
    expect(stringifyExactJson(read.nested)).toBe('{"list":[-9223372036854775808,18446744073709551616]}');
    expect(contentHash(read)).toBe(contentHash(toJsonRecord(data)));
    expect(snapshot[0]?.hash).toBe(contentHash(toJsonRecord(data)));
  });

  it('refuses a number DynamoDB cannot hold, naming the field and the type', async () => {
    // Act
    const outcomes = await target().write([
      upsert('1', 1, { id: 1, amount: exactNumber('1234567890123456789012345678901234567891') }),
      upsert('2', 1, { id: 2, r: { max: 1.7976931348623157e308 } }),
      upsert('3', 1, { id: 3 }),
    ]);

    // Assess
    const errors = outcomes.map((o) => (o.status === 'failed' ? (o.error as ValidationError) : undefined));
    expect(errors[0]).toBeInstanceOf(ValidationError);
    expect(errors[0]?.issues).toEqual([
      { path: 'amount', message: expect.stringMatching(/^exact number with 40 significant digits/) },
    ]);
    expect(errors[1]?.issues).toEqual([
      { path: 'r.max', message: expect.stringMatching(/^number with magnitude 1E308/) },
    ]);
    expect(outcomes[2]).toEqual({ key: '3', status: 'applied' });
  });

  it('fails a record whose fields collide with the meta attributes, and only that record', async () => {
    // Act
    const outcomes = await target().write([upsert('1', 1, { id: 1, _v: 'mine' }), upsert('2', 1, { id: 2 })]);

    // Assess
    expect(outcomes[0]).toMatchObject({ key: '1', status: 'failed' });
    expect(outcomes[0]?.status === 'failed' && outcomes[0].error).toBeInstanceOf(ValidationError);
    expect(String(outcomes[0]?.status === 'failed' && (outcomes[0].error as Error).message)).toMatch(
      /"_v" reserved/,
    );
    expect(outcomes[1]).toEqual({ key: '2', status: 'applied' });
  });

  it('retries throttled puts and applies them', async () => {
    // Prepare
    const throttled = localClients(servers.endpoints);
    const injected = injectFailures(throttled, 'PutItem', 'ProvisionedThroughputExceededException', 2);

    // Act
    const outcomes = await target({ clients: throttled }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(injected.count()).toBe(2);
    expect(outcomes).toEqual([{ key: '1', status: 'applied' }]);
  });

  it('fails a record with a TransientError when throttling outlasts the retries', async () => {
    // Prepare
    const throttled = localClients(servers.endpoints);
    injectFailures(throttled, 'PutItem', 'ProvisionedThroughputExceededException', 100);

    // Act
    const [outcome] = await target({ clients: throttled }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    expect(outcome).toMatchObject({ key: '1', status: 'failed' });
    expect(outcome?.status === 'failed' && outcome.error).toBeInstanceOf(TransientError);
  });

  it('ends every key at its newest version whatever the interleaving of concurrent batches, puts and batched inserts alike (property)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.record({
            key: fc.constantFrom('a', 'b', 'c'),
            position: fc.integer({ min: 1, max: 40 }),
            op: fc.constantFrom('upsert', 'delete'),
            absent: fc.boolean(),
          }),
          { minLength: 1, maxLength: 24 },
        ),
        fc.integer({ min: 1, max: 4 }),
        async (writeConcurrency, changes, batches) => {
          // Prepare: one target (one Load instance) takes several batches at once.
          const prefix = `p${++run}-`;
          const tracked = localClients(servers.endpoints);
          const puts = trackPuts(tracked);
          const t = target({ clients: tracked, writeConcurrency });
          // Load may expect a key absent that a concurrent batch has written meanwhile.
          const writes = changes.map(
            (c): TargetWrite => ({
              ...(c.op === 'upsert'
                ? upsert(`${prefix}${c.key}`, c.position, { id: c.key, at: c.position })
                : remove(`${prefix}${c.key}`, c.position)),
              ...(c.absent && { stored: 'absent' }),
            }),
          );
          const split = Array.from({ length: batches }, (_, b) => writes.filter((_, i) => i % batches === b));

          // Act
          const outcomes = (await Promise.all(split.map((batch) => t.write(batch)))).flat();

          // Assess
          expect(outcomes.every((o) => o.status !== 'failed')).toBe(true);
          expect(puts.maxPerKey()).toBe(1);
          expect(puts.maxInFlight()).toBeLessThanOrEqual(writeConcurrency);
          const newest = new Map<string, string>();
          for (const w of writes) if ((newest.get(w.key) ?? '') < w.version) newest.set(w.key, w.version);
          const state = await t.readState([...newest.keys()], { withData: false });
          expect(new Map([...state].map(([k, s]) => [k, s.version]))).toEqual(newest);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('loses and doubles nothing in a throttling storm: every key applied exactly once across redeliveries', async () => {
    // Prepare
    const stormy = localClients(servers.endpoints);
    const storm = throttleStorm(stormy, 'PutItem', 0.3);
    const t = target({ clients: stormy, writeConcurrency: 16 });
    const writes = Array.from({ length: 120 }, (_, i) => upsert(`s${i}`, 5, { id: i }));
    let applied = 0;
    let failed = writes.length;

    // Act: like SQS, a message with a failed write is delivered again, whole, until none fails.
    for (let delivery = 0; failed > 0 && delivery < 30; delivery++) {
      const outcomes = await t.write(writes);
      applied += outcomes.filter((o) => o.status === 'applied').length;
      failed = outcomes.filter((o) => o.status === 'failed').length;
    }

    // Assess
    expect(storm.count()).toBeGreaterThan(20);
    expect(failed).toBe(0);
    expect(applied).toBe(writes.length);
    const state = await target().readState(
      writes.map((w) => w.key),
      { withData: false },
    );
    expect(state.size).toBe(writes.length);
  });

  it('shrinks the writes in flight while DynamoDB throttles', async () => {
    // Prepare: every other put of the first ones is throttled, then none.
    const stormy = localClients(servers.endpoints);
    const puts = trackPuts(stormy);
    injectFailures(stormy, 'PutItem', 'ProvisionedThroughputExceededException', 6);
    const t = target({ clients: stormy, writeConcurrency: 16 });
    await t.write(Array.from({ length: 16 }, (_, i) => upsert(`w${i}`, 1, { id: i })));
    const before = puts.maxInFlight();
    const after = trackPuts(stormy);

    // Act
    const outcomes = await t.write(Array.from({ length: 64 }, (_, i) => upsert(`x${i}`, 1, { id: i })));

    // Assess
    expect(before).toBe(16);
    expect(after.maxInFlight()).toBeLessThan(16);
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
  });

  it('sends a stale write once: a failed version condition is not retried as transient', async () => {
    // Prepare
    await target().write([upsert('9', 5, { id: 9 })]);
    const tracked = localClients(servers.endpoints);
    const puts = trackPuts(tracked);

    // Act
    const outcomes = await target({ clients: tracked }).write([upsert('9', 4, { id: 9, older: true })]);

    // Assess
    expect(outcomes).toEqual([{ key: '9', status: 'stale' }]);
    expect(puts.sent()).toBe(1);
  });

  it('inserts the writes of keys expected absent with one BatchExecuteStatement per 25, item for item as a put', async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    const requests = trackPuts(tracked);
    const data = (i: number) => ({
      id: i,
      name: `n'${i}`,
      'odd.name': [1, { x: null }],
      big: exactNumber('12345678901234567890'),
    });

    // Act
    const outcomes = await target({ clients: tracked }).write(
      Array.from({ length: 30 }, (_, i) => fresh(`b${i}`, 1, data(i))),
    );
    await target().write([upsert('p0', 1, data(0))]);

    // Assess
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(requests.batches()).toBe(2);
    expect(requests.sent()).toBe(0);
    const { pk: _b, ...inserted } = (await rawItem('b0')) ?? {};
    const { pk: _p, ...put } = (await rawItem('p0')) ?? {};
    expect(inserted).toEqual(put);
    expect((await target().readState(['b29'], { withData: true })).get('b29')?.data).toEqual(
      toJsonRecord(data(29)),
    );
  });

  it('sends a conditional put per record, never a batch, when batchInserts is false', async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    const requests = trackPuts(tracked);

    // Act
    const outcomes = await target({ clients: tracked, batchInserts: false }).write(
      Array.from({ length: 5 }, (_, i) => fresh(`u${i}`, 1, { id: i })),
    );

    // Assess
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(requests.batches()).toBe(0);
    expect(requests.sent()).toBe(5);
  });

  it('decides an insert whose key is taken by the version gate: newer applied, older and replays stale', async () => {
    // Prepare
    const t = target();
    await t.write([upsert('t1', 5, { id: 1, v: 'old' }), upsert('t2', 5, { id: 2 }), remove('t3', 5)]);

    // Act
    const outcomes = await t.write([
      fresh('t1', 6, { id: 1, v: 'new' }),
      fresh('t2', 4, { id: 2, v: 'older' }),
      fresh('t2', 5, { id: 2 }),
      { ...remove('t3', 5), stored: 'absent' },
      fresh('t4', 1, { id: 4 }),
    ]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'stale', 'stale', 'stale', 'applied']);
    const state = await t.readState(['t1', 't2', 't3', 't4'], { withData: true });
    expect(state.get('t1')?.data).toEqual({ id: 1, v: 'new' });
    expect(state.get('t2')?.version).toBe(positionVersion(5));
    expect(state.get('t3')?.deleted).toBe(true);
    expect(state.get('t4')?.data).toEqual({ id: 4 });
  });

  it('resends the statements DynamoDB sheds after a backoff and applies each exactly once', async () => {
    // Prepare: the first two attempts of every third key are shed.
    const stormy = localClients(servers.endpoints);
    const shed = shedStatements(stormy, (key, attempt) => Number(key.slice(1)) % 3 === 0 && attempt <= 2);
    const requests = trackPuts(stormy);
    const writes = Array.from({ length: 50 }, (_, i) => fresh(`r${i}`, 2, { id: i }));

    // Act
    const outcomes = await target({ clients: stormy }).write(writes);
    const replay = await target({ clients: stormy }).write(writes);

    // Assess
    expect(shed.count()).toBe(34);
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(replay.every((o) => o.status === 'stale')).toBe(true);
    expect(requests.batches()).toBeGreaterThan(2);
    expect(
      (
        await target().readState(
          writes.map((w) => w.key),
          { withData: false },
        )
      ).size,
    ).toBe(50);
  });

  it('hands an insert still shed after the last round to the conditional put, with its own retries', async () => {
    // Prepare
    const stormy = localClients(servers.endpoints);
    const shed = shedStatements(stormy, (key) => key === 's0');
    const requests = trackPuts(stormy);

    // Act
    const outcomes = await target({ clients: stormy }).write([
      fresh('s0', 1, { id: 0 }),
      fresh('s1', 1, { id: 1 }),
    ]);

    // Assess
    expect(outcomes).toEqual([
      { key: 's0', status: 'applied' },
      { key: 's1', status: 'applied' },
    ]);
    expect(shed.count()).toBe(FAST_RETRY.maxAttempts);
    expect(requests.sent()).toBe(1);
  });

  it('fails an insert with a throttled TransientError when its batch rounds and its put are all throttled', async () => {
    // Prepare
    const stormy = localClients(servers.endpoints);
    shedStatements(stormy, (key) => key === 's0');
    injectFailures(stormy, 'PutItem', 'ProvisionedThroughputExceededException', 100);

    // Act
    const [outcome] = await target({ clients: stormy }).write([fresh('s0', 1, { id: 0 })]);

    // Assess
    expect(outcome?.status === 'failed' && outcome.error).toBeInstanceOf(TransientError);
    expect(await rawItem('s0')).toBeUndefined();
  });

  it('fails only the record DynamoDB refuses in a batch, with the reason of its own put', async () => {
    // Act
    const outcomes = await target().write([
      fresh('ok1', 1, { id: 1 }),
      fresh('huge', 1, { id: 2, blob: 'x'.repeat(420_000) }),
      fresh('ok2', 1, { id: 3 }),
    ]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'failed', 'applied']);
    expect(outcomes[1]?.status === 'failed' && outcomes[1].error).toBeInstanceOf(ValidationError);
    expect(await rawItem('huge')).toBeUndefined();
  });

  it("pools the inserts of one invocation's messages into full requests: ten messages of three new keys make two", async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    const requests = trackPuts(tracked);
    const t = target({ clients: tracked });
    const messages = Array.from({ length: 10 }, (_, m) =>
      Array.from({ length: 3 }, (_, i) => fresh(`m${m}-${i}`, 1, { id: m * 3 + i })),
    );

    // Act
    const outcomes = await withInvocationLimits(() => Promise.all(messages.map((writes) => t.write(writes))));

    // Assess
    expect(outcomes.map((o) => o.map((x) => x.status))).toEqual(
      messages.map(() => ['applied', 'applied', 'applied']),
    );
    expect(requests.batches()).toBe(2);
    expect(requests.sent()).toBe(0);
    const state = await t.readState(
      messages.flat().map((w) => w.key),
      { withData: false },
    );
    expect(state.size).toBe(30);
  });

  it('fails a pooled insert for its own message only: the other messages of its request are applied', async () => {
    // Prepare: s0's statement is shed in every round and its put is throttled too.
    const stormy = localClients(servers.endpoints);
    shedStatements(stormy, (key) => key === 's0');
    injectFailures(stormy, 'PutItem', 'ProvisionedThroughputExceededException', 100);
    const requests = trackPuts(stormy);
    const t = target({ clients: stormy });
    const failing = [fresh('s0', 1, { id: 0 }), fresh('s1', 1, { id: 1 })];
    const others = [fresh('s2', 1, { id: 2 }), fresh('s4', 1, { id: 3 })];
    const third = [fresh('s3', 1, { id: 4 })];

    // Act
    const [a, b, c] = await withInvocationLimits(() =>
      Promise.all([failing, others, third].map((w) => t.write(w))),
    );

    // Assess
    expect(a?.map((o) => o.status)).toEqual(['failed', 'applied']);
    expect(a?.[0]?.status === 'failed' && a[0].error).toBeInstanceOf(TransientError);
    expect(b?.map((o) => o.status)).toEqual(['applied', 'applied']);
    expect(c?.map((o) => o.status)).toEqual(['applied']);
    // One request carried the three messages' inserts; s0's rounds alone are shed before the table.
    expect(requests.batches()).toBe(1);
    expect(await rawItem('s0')).toBeUndefined();
  });

  it('keeps the inserts of two invocations in requests of their own', async () => {
    // Prepare
    const tracked = localClients(servers.endpoints);
    const requests = trackPuts(tracked);
    const t = target({ clients: tracked });

    // Act
    await Promise.all(
      ['i1', 'i2'].map((invocation) =>
        withInvocationLimits(() =>
          t.write([fresh(`${invocation}-a`, 1, { id: 1 }), fresh(`${invocation}-b`, 1, { id: 2 })]),
        ),
      ),
    );

    // Assess
    expect(requests.batches()).toBe(2);
  });

  it('throws a ConnectorError naming the table when a batch inserts into a missing table', async () => {
    // Act
    const written = target({ tableName: 'no-such-table' }).write([fresh('1', 1, { id: 1 })]);

    // Assess
    await expect(written).rejects.toThrow(ConnectorError);
    await expect(written).rejects.toThrow(/no-such-table/);
  });

  it('throws a ConnectorError naming the table when it does not exist', async () => {
    // Act
    const writing = target({ tableName: 'no-such-table' }).write([upsert('1', 1, { id: 1 })]);

    // Assess
    await expect(writing).rejects.toThrow(ConnectorError);
    await expect(writing).rejects.toThrow('table "no-such-table" does not exist');
  });

  it('gives a TransientError naming the table when DynamoDB cannot be reached', async () => {
    // Prepare
    const unreachable = localClients({ ...servers.endpoints, dynamodb: 'http://127.0.0.1:9' });

    // Act
    const reading = target({ clients: unreachable }).readState(['1'], { withData: false });

    // Assess
    await expect(reading).rejects.toThrow(TransientError);
    await expect(reading).rejects.toThrow(`table "${table}" kept failing`);
  });

  it('refuses a key attribute named like a meta attribute', () => {
    // Act
    const creating = () => target({ keyAttribute: '_v' });

    // Assess
    expect(creating).toThrow(ConfigError);
    expect(creating).toThrow('target.keyAttribute "_v" is reserved');
  });

  it('snapshots live records with hashes recomputed from the stored data, skipping tombstones', async () => {
    // Prepare
    const t = target();
    const writes = Array.from({ length: 40 }, (_, i) => upsert(`k${i}`, 1, { id: i }));
    await t.write([...writes, remove('gone', 2)]);
    // Someone else edits an item behind our back: its _h no longer matches its data.
    await clients.ddb.send(
      new PutCommand({
        TableName: table,
        Item: { pk: 'k0', id: 0, edited: true, _v: positionVersion(1), _h: 'stale-hash' },
      }),
    );

    // Act
    const records = await collect(t.snapshot());

    // Assess
    expect(records).toHaveLength(40);
    expect(records.find((r) => r.key === 'gone')).toBeUndefined();
    expect(records.find((r) => r.key === 'k0')?.hash).toBe(contentHash({ id: 0, edited: true }));
    expect(records.find((r) => r.key === 'k7')).toEqual({
      key: 'k7',
      version: positionVersion(1),
      hash: contentHash({ id: 7 }),
    });
  });

  it('tells the size of a freshly loaded table from a thousandth of it, as DescribeTable may not count it yet', async () => {
    // Prepare: 5,000 items of about 100 bytes.
    const t = target();
    const items = 5000;
    await t.write(
      Array.from({ length: items }, (_, i) => upsert(`s${i}`, 1, { id: i, pad: 'x'.repeat(80) })),
    );

    // Act
    const size = await t.segmented?.approximateSize?.();

    // Assess: within the spread of a thousandth's sample (about 5 items), bytes per item as written.
    expect(size?.records).toBeGreaterThan(items / 5);
    expect(size?.records).toBeLessThan(items * 5);
    const perItem = (size?.bytes ?? 0) / (size?.records ?? 1);
    expect(perItem).toBeGreaterThan(90);
    expect(perItem).toBeLessThan(200);
    // A budget below the sample's half unit gives it up; one key's half unit pays for it.
    expect(await t.segmented?.approximateSize?.(0.25)).toBeUndefined();
    expect(await t.segmented?.approximateSize?.(0.5)).toEqual(size);
    // Writing 5,000 items took 42 s on dynalite at load 20 and passed the default 60 s beside other files.
  }, 240_000);

  it('reads the table in parallel Scan segments, each item in exactly one segment, a tombstone as a delete, resumed page by page', async () => {
    // Prepare
    const t = target();
    await t.write([
      ...Array.from({ length: 60 }, (_, i) => upsert(`k${i}`, 1, { id: i })),
      remove('gone', 2),
    ]);
    const segmented = t.segmented;
    if (!segmented) throw new Error('the DynamoDB target reads by segment');

    // Act: four segments, each read in pages of 7 items, every page from the last one's position.
    const seen: string[] = [];
    const deletes: TargetChange[] = [];
    const perSegment: number[] = [];
    let pages = 0;
    for (let index = 0; index < 4; index++) {
      let from: string | null = null;
      let count = 0;
      do {
        const page = await segmented.readSegment({ index, total: 4 }, from, 7);
        seen.push(...page.changes.filter((c) => c.hash !== null).map((c) => c.key));
        deletes.push(...page.changes.filter((c) => c.hash === null));
        count += page.changes.length;
        from = page.next;
        pages++;
      } while (from !== null);
      perSegment.push(count);
    }

    // Assess: no item twice, none left out, the tombstone read as a delete; the server split the table.
    expect(seen.sort()).toEqual(Array.from({ length: 60 }, (_, i) => `k${i}`).sort());
    expect(deletes).toEqual([{ key: 'gone', version: positionVersion(2), hash: null, tie: '' }]);
    expect(perSegment.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(pages).toBeGreaterThan(8);
    expect(await segmented.approximateRecords()).toBeTypeOf('number');
    const size = await segmented.approximateSize?.();
    expect(size?.bytes).toBeTypeOf('number');
    expect(size?.records).toBeGreaterThanOrEqual((await segmented.approximateRecords()) ?? 0);
  });
}

describe('dynamodb target on dynalite', () => {
  targetBehaviour('dynalite');
});

describe.runIf(requireSystemServer('java').available)('dynamodb target on DynamoDB Local', () => {
  targetBehaviour('dynamodb-local');
});

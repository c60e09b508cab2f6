import type { ResourceLimits } from 'node:worker_threads';
import {
  type AttributeValue,
  BatchExecuteStatementCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  type DynaliteInserts,
  type DynaliteStore,
  type EmbeddedServersInWorker,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startEmbeddedServersInWorker,
} from '../../local/servers.ts';
import { insertStatement } from '../../shared/connectors/targets/dynamodb/batch-insert.ts';
import { cpuShares, type HotFunction, hotFunctions, type Profile } from './cpu-profile.ts';
import { benchUser } from './records.ts';

/** One way of running the local servers' worker that the bench compares. */
export interface DynaliteVariant {
  readonly name: string;
  readonly resourceLimits?: ResourceLimits;
  /** @default - the local stack's own, `DYNALITE_STORE` */
  readonly store?: DynaliteStore;
  /** @default - the local stack's own, `direct` */
  readonly inserts?: DynaliteInserts;
}

/**
 * The variants `npm run bench-dynalite` knows: the local stack's own settings; its settings before
 * session 17 (memory-level's default Buffer store, each insert of the PartiQL front a request to
 * dynalite's listener), and the Buffer store alone; V8 young generation limits of the worker on
 * the local stack's settings (V8's default there is 192 MB).
 */
export const DYNALITE_VARIANTS: Readonly<Record<string, DynaliteVariant>> = {
  shipped: { name: 'shipped' },
  before: { name: 'before', store: 'buffer', inserts: 'listener' },
  'listener-inserts': { name: 'listener-inserts', inserts: 'listener' },
  'young-32': { name: 'young-32', resourceLimits: { maxYoungGenerationSizeMb: 32 } },
  'young-64': { name: 'young-64', resourceLimits: { maxYoungGenerationSizeMb: 64 } },
  'young-128': { name: 'young-128', resourceLimits: { maxYoungGenerationSizeMb: 128 } },
};

export interface DynaliteBenchOptions {
  /** Items the table holds at each measurement, ascending. */
  readonly stored: readonly number[];
  /** Items written per kind of request at each measurement. */
  readonly items: number;
  readonly repetitions: number;
  readonly variants: readonly DynaliteVariant[];
  /** The hottest functions of each measurement to log, by self time. @default 0 */
  readonly top?: number;
  readonly log?: (line: string) => void;
}

/** What the servers' worker thread spent per item written, at one table size. */
export interface DynalitePoint {
  readonly variant: string;
  readonly repetition: number;
  readonly stored: number;
  /** Load's version-gated PutItem (a ConditionExpression), one item a request. */
  readonly putItem: ItemCost;
  /** An INSERT of a BatchExecuteStatement of 25 (the local PartiQL front), as Load's batched inserts. */
  readonly batchExecute: ItemCost;
  /** An item of a BatchWriteItem of 25, as the raw copy writes. */
  readonly batchWrite: ItemCost;
  /** The worker's V8 heap in use after the measurement, MB. */
  readonly heapMb: number;
}

const TABLE = 'dynalite-bench';
const BATCH = 25;
const IN_FLIGHT = 10;
const WARM_UP_ITEMS = 500;

/** A 1 KB item as Load writes it: the bench's user, its key, version and hash. */
function record(n: number): Record<string, unknown> {
  return { ...benchUser(n), pk: `user#${n}`, _v: `2026-11-01T00:00:00Z#${n}`, _h: 'x'.repeat(16) };
}

function item(n: number): Record<string, AttributeValue> {
  return marshall(record(n), { removeUndefinedValues: true });
}

/** Runs `count` calls of `send`, `IN_FLIGHT` at a time. */
async function inFlight(count: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, lane));
}

/** What one kind of request cost the servers' worker thread, in µs per item. */
export interface ItemCost {
  readonly cpuUs: number;
  /** The share of `cpuUs` that the thread's sampling profile put in the garbage collector. */
  readonly gcUs: number;
}

type Owner = 'gc' | 'rest';

/** The worker thread's CPU spent by `act` per item, and its hottest functions when `top` > 0. */
async function costPerItem(
  servers: EmbeddedServersInWorker,
  items: number,
  top: number,
  act: () => Promise<void>,
): Promise<{ cost: ItemCost; hot: HotFunction[] }> {
  const profiler = await servers.worker.startCpuProfile('dynalite-bench');
  const before = await servers.worker.cpuUsage();
  await act();
  const used = await servers.worker.cpuUsage(before);
  const profile = JSON.parse(await profiler.stop()) as Profile;
  const cpuUs = (used.user + used.system) / items;
  const ownerOf = (_url: string, name: string): Owner | 'idle' =>
    name === '(idle)' ? 'idle' : name === '(garbage collector)' ? 'gc' : 'rest';
  const shares = cpuShares<Owner>(profile, cpuUs, ['gc', 'rest'], ownerOf);
  return { cost: { cpuUs, gcUs: shares.gc }, hot: top > 0 ? hotFunctions(profile, cpuUs, top) : [] };
}

type RequestKind = 'putItem' | 'batchExecute' | 'batchWrite';
const REQUEST_KINDS: readonly RequestKind[] = ['putItem', 'batchExecute', 'batchWrite'];

class BenchTable {
  #next = 0;
  constructor(private readonly client: DynamoDBClient) {}

  get stored(): number {
    return this.#next;
  }

  #take(count: number): number[] {
    const first = this.#next;
    this.#next += count;
    return Array.from({ length: count }, (_, i) => first + i);
  }

  /** BatchWriteItem of 25 new items each; fails when dynalite leaves any unprocessed. */
  batchWrite(count: number): Promise<void> {
    return inFlight(Math.ceil(count / BATCH), async () => {
      const keys = this.#take(BATCH);
      const out = await this.client.send(
        new BatchWriteItemCommand({
          RequestItems: { [TABLE]: keys.map((n) => ({ PutRequest: { Item: item(n) } })) },
        }),
      );
      if (Object.keys(out.UnprocessedItems ?? {}).length > 0) throw new Error('unprocessed items');
    });
  }

  /** Load's version-gated PutItem of a new key (the condition dynamodb-target.ts sends). */
  putItem(count: number): Promise<void> {
    return inFlight(count, async () => {
      const [n] = this.#take(1) as [number];
      await this.client.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: item(n),
          ConditionExpression: 'attribute_not_exists(#k) OR #v < :v OR (#v = :v AND #h < :h)',
          ExpressionAttributeNames: { '#k': 'pk', '#v': '_v', '#h': '_h' },
          ExpressionAttributeValues: { ':v': { S: '9' }, ':h': { S: '9' } },
        }),
      );
    });
  }

  /** BatchExecuteStatement of 25 INSERTs of new keys; fails on any statement's error. */
  batchExecute(count: number): Promise<void> {
    return inFlight(Math.ceil(count / BATCH), async () => {
      const keys = this.#take(BATCH);
      const out = await this.client.send(
        new BatchExecuteStatementCommand({
          Statements: keys.map((n) => insertStatement(TABLE, record(n))),
        }),
      );
      const failed = out.Responses?.find((r) => r.Error);
      if (failed) throw new Error(`INSERT failed: ${failed.Error?.Code} ${failed.Error?.Message}`);
    });
  }
}

async function measureVariant(
  variant: DynaliteVariant,
  repetition: number,
  options: DynaliteBenchOptions,
): Promise<DynalitePoint[]> {
  const servers = await startEmbeddedServersInWorker(
    {
      dynalite: true,
      ...(variant.store && { dynaliteStore: variant.store }),
      ...(variant.inserts && { dynaliteInserts: variant.inserts }),
    },
    options.log ?? (() => {}),
    variant.resourceLimits,
  );
  const endpoint = servers.endpoints.dynamodb;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: TABLE,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const table = new BenchTable(client);
    const points: DynalitePoint[] = [];
    for (const stored of options.stored) {
      if (stored > table.stored) await table.batchWrite(stored - table.stored);
      // The first requests of each kind compile dynalite's code paths; they are not measured.
      if (points.length === 0) for (const kind of REQUEST_KINDS) await table[kind](WARM_UP_ITEMS);
      const measured: Partial<Record<RequestKind, ItemCost>> = {};
      for (const kind of REQUEST_KINDS) {
        const { cost, hot } = await costPerItem(servers, options.items, options.top ?? 0, () =>
          table[kind](options.items),
        );
        measured[kind] = cost;
        for (const h of hot) options.log?.(`  ${kind} ${h.ms.toFixed(1)} µs ${h.name} ${h.where}`);
      }
      const heapMb = (await servers.worker.getHeapStatistics()).used_heap_size / 2 ** 20;
      const point = {
        variant: variant.name,
        repetition,
        stored,
        ...(measured as Record<RequestKind, ItemCost>),
        heapMb,
      };
      options.log?.(JSON.stringify(point));
      points.push(point);
    }
    return points;
  } finally {
    client.destroy();
    await servers.stop();
  }
}

/**
 * The local servers' worker thread CPU per item written, for each variant at each table size:
 * Load's conditional PutItem, Load's batched INSERTs, the raw copy's BatchWriteItem. Variants
 * alternate (forward, then backward) so that each repetition meets the machine's load alike.
 */
export async function runDynaliteBench(options: DynaliteBenchOptions): Promise<DynalitePoint[]> {
  const points: DynalitePoint[] = [];
  for (let repetition = 1; repetition <= options.repetitions; repetition++) {
    const order = repetition % 2 === 1 ? options.variants : [...options.variants].reverse();
    for (const variant of order) points.push(...(await measureVariant(variant, repetition, options)));
  }
  return points;
}

/** The mean of each variant's repetitions at each table size, in the order first measured. */
export function summarize(points: readonly DynalitePoint[]): Omit<DynalitePoint, 'repetition'>[] {
  const groups = new Map<string, DynalitePoint[]>();
  for (const p of points) {
    const id = `${p.variant}\u0000${p.stored}`;
    groups.set(id, [...(groups.get(id) ?? []), p]);
  }
  const mean = (ps: DynalitePoint[], of: (p: DynalitePoint) => number) =>
    ps.reduce((sum, p) => sum + of(p), 0) / ps.length;
  const cost = (ps: DynalitePoint[], kind: RequestKind): ItemCost => ({
    cpuUs: mean(ps, (p) => p[kind].cpuUs),
    gcUs: mean(ps, (p) => p[kind].gcUs),
  });
  return [...groups.values()]
    .map((ps) => ({
      variant: ps[0]?.variant ?? '',
      stored: ps[0]?.stored ?? 0,
      putItem: cost(ps, 'putItem'),
      batchExecute: cost(ps, 'batchExecute'),
      batchWrite: cost(ps, 'batchWrite'),
      heapMb: mean(ps, (p) => p.heapMb),
    }))
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.stored - b.stored);
}

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadKafkaEvent } from '../../../shared/usecases/load-kafka.ts';
import { loadMessage } from '../../../shared/usecases/phases/4-load.ts';
import { type ApiHarness, quietDeps, startApiHarness } from '../api/harness.ts';
import { busMessage, storedName } from './channels.ts';

const CLUSTER = 'arn:aws:kafka:us-east-1:123456789012:cluster/cdc/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const TOPIC = 'shop.public.users';
const T0 = 1_795_000_000_000;

// Named users-sync so the harness's owned target table serves as this pipeline's target.
const pipeline = pipelineSchema.parse({
  name: 'users-sync',
  source: { type: 'cdc', key: ['id'] },
  target: { type: 'dynamodb' },
  triggers: {
    cdc: { pattern: { source: ['esync.cdc'] } },
    kafka: { clusterArn: CLUSTER, topics: [TOPIC] },
  },
});

interface Change {
  readonly row: 'a' | 'b' | 'c';
  readonly op: 'c' | 'u' | 'd';
  readonly name: string;
  /** Commit time, milliseconds after T0. */
  readonly at: number;
  readonly position: number;
}

/**
 * The changes of three rows. Row a changes twice within one millisecond (the position decides);
 * row b ends deleted; row c's last change carries a later commit time but a lower position, as
 * after a failover that restarted positions (the time decides).
 */
const CHANGES: readonly Change[] = [
  { row: 'a', op: 'c', name: 'a1', at: 1000, position: 100 },
  { row: 'a', op: 'u', name: 'a2', at: 2000, position: 200 },
  { row: 'a', op: 'u', name: 'a3', at: 2000, position: 250 },
  { row: 'b', op: 'c', name: 'b1', at: 1500, position: 150 },
  { row: 'b', op: 'd', name: 'b1', at: 3000, position: 300 },
  { row: 'c', op: 'c', name: 'c1', at: 1200, position: 120 },
  { row: 'c', op: 'u', name: 'c2', at: 4000, position: 5 },
];
const FINAL = { a: 'a3', b: null, c: 'c2' } as const;

const ROWS = { a: 1, b: 2, c: 3 } as const;

function debezium(change: Change, run: number) {
  const row = { id: run * 10 + ROWS[change.row], name: change.name };
  return {
    before: change.op === 'c' ? null : row,
    after: change.op === 'd' ? null : row,
    op: change.op,
    source: { connector: 'postgresql', lsn: change.position, ts_ms: T0 + change.at },
    ts_ms: T0 + change.at + 5,
  };
}

/** One Kafka record in an MSK event, at an offset unique to the change and run. */
function kafkaEvent(change: Change, run: number, offset: number) {
  const value = Buffer.from(JSON.stringify(debezium(change, run))).toString('base64');
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: CLUSTER,
    records: {
      [`${TOPIC}-0`]: [{ topic: TOPIC, partition: 0, offset, timestamp: T0, key: null, value, headers: [] }],
    },
  };
}

/** The SQS message the bus rule delivers for the change. */
function busMessageOf(change: Change, run: number, index: number) {
  return busMessage(`bus-${run}-${index}`, debezium(change, run), T0);
}

type Route = 'bus' | 'kafka' | 'both';
interface Delivery {
  readonly index: number;
  readonly channel: 'bus' | 'kafka';
}

/** Each change by the routes drawn, some sent twice, in a drawn order. */
const deliveries = fc
  .tuple(
    fc.array(fc.constantFrom<Route>('bus', 'kafka', 'both'), {
      minLength: CHANGES.length,
      maxLength: CHANGES.length,
    }),
    fc.array(fc.nat(CHANGES.length - 1), { maxLength: 3 }),
  )
  .chain(([routes, repeated]) => {
    const list: Delivery[] = routes.flatMap((route, index) =>
      route === 'both'
        ? [
            { index, channel: 'bus' as const },
            { index, channel: 'kafka' as const },
          ]
        : [{ index, channel: route }],
    );
    const again = repeated.map((index) => list.find((d) => d.index === index) as Delivery);
    return fc.shuffledSubarray([...list, ...again], { minLength: list.length + again.length });
  });

describe('Debezium changes of one table by the event bus and by MSK into one target', () => {
  let harness: ApiHarness;
  let deps: Deps;
  let run = 0;

  beforeAll(async () => {
    harness = await startApiHarness();
    deps = quietDeps(harness, [pipeline]);
  });
  afterAll(async () => harness?.stop());

  const totals = () =>
    deps.state.ledger.totals(keys.ledgerScopeOfStream('users-sync', new Date().toISOString().slice(0, 10)));

  const stored = (id: number) => storedName(harness, 'users-sync', id);

  it('ends on each row’s newest change and counts every delivery once, whatever channel and order each change came by (property)', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async (plan) => {
        // Prepare
        run++;
        const before = await totals();
        const seen = new Set<string>();

        // Act
        for (const { index, channel } of plan) {
          const change = CHANGES[index] as Change;
          seen.add(`${channel}-${index}`);
          if (channel === 'kafka') await loadKafkaEvent(deps, kafkaEvent(change, run, run * 100 + index));
          else await loadMessage(deps, 'users-sync', busMessageOf(change, run, index));
        }

        // Assess
        const after = await totals();
        const rows = {
          a: await stored(run * 10 + ROWS.a),
          b: await stored(run * 10 + ROWS.b),
          c: await stored(run * 10 + ROWS.c),
        };
        expect(rows).toEqual(FINAL);
        expect({
          counted: after.loaded + after.skipped - before.loaded - before.skipped,
          quarantined: after.quarantined - before.quarantined,
        }).toEqual({ counted: seen.size, quarantined: 0 });
      }),
      { numRuns: 12 },
    );
  });
});

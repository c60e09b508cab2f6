import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { versionFromRow } from '../../../shared/domain/cursor.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData } from '../../../shared/records/envelope.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadMessage } from '../../../shared/usecases/phases/4-load.ts';
import { type ApiHarness, quietDeps, startApiHarness } from '../api/harness.ts';
import { busMessage, storedName } from './channels.ts';

const T0 = Date.UTC(2031, 0, 1);

// Named users-sync so the harness's owned target table serves as this pipeline's target.
const pipeline = pipelineSchema.parse({
  name: 'users-sync',
  source: {
    type: 'postgres',
    connection: { secret: 'esync/test/users-db' },
    table: 'users',
    key: ['id'],
    cursor: ['updated_at'],
  },
  target: { type: 'dynamodb' },
  triggers: { schedule: 'rate(1 hour)', cdc: { pattern: { source: ['esync.cdc'] } } },
});

interface Change {
  readonly row: 'a' | 'b' | 'c';
  readonly op: 'c' | 'u' | 'd';
  readonly name: string;
  /** The row's `updated_at`, milliseconds after T0. */
  readonly updatedAt: number;
  /** Commit time, at or after `updatedAt`. */
  readonly commitAt: number;
  readonly position: number;
}

/**
 * The changes of three rows. Row a commits a change a millisecond before its next one is stamped
 * (a commit stamped at or after the next change's `updated_at` is a wrong win that only the
 * stream's next event corrects: `docs/versions.md`); row b ends deleted; row c's last change has
 * a lower log position, as after a failover.
 */
const CHANGES: readonly Change[] = [
  { row: 'a', op: 'c', name: 'a1', updatedAt: 1000, commitAt: 1002, position: 100 },
  { row: 'a', op: 'u', name: 'a2', updatedAt: 2000, commitAt: 2999, position: 200 },
  { row: 'a', op: 'u', name: 'a3', updatedAt: 3000, commitAt: 3000, position: 250 },
  { row: 'b', op: 'c', name: 'b1', updatedAt: 1500, commitAt: 1500, position: 150 },
  { row: 'b', op: 'd', name: 'b1', updatedAt: 1500, commitAt: 2500, position: 300 },
  { row: 'c', op: 'c', name: 'c1', updatedAt: 1200, commitAt: 1201, position: 120 },
  { row: 'c', op: 'u', name: 'c2', updatedAt: 4000, commitAt: 4000, position: 5 },
];
const FINAL = { a: 'a3', b: null, c: 'c2' } as const;
const ROWS = { a: 1, b: 2, c: 3 } as const;

type Channel = 'poll' | 'cdc' | 'webhook';

const rowOf = (change: Change, run: number): RecordData => ({
  id: run * 10 + ROWS[change.row],
  name: change.name,
  updated_at: new Date(T0 + change.updatedAt).toISOString(),
});

/** The bus event (EventBridge around a Debezium change) the CDC rule puts on the load queue. */
function cdcMessage(change: Change, run: number, index: number) {
  const row = rowOf(change, run);
  const id = `cdc-${run}-${index}`;
  const detail = {
    before: change.op === 'c' ? null : row,
    after: change.op === 'd' ? null : row,
    op: change.op,
    source: { connector: 'postgresql', lsn: change.position, ts_ms: T0 + change.commitAt },
    ts_ms: T0 + change.commitAt + 5,
  };
  return busMessage(id, detail, T0);
}

/**
 * A records message as Extract sends a polled row (a run's scope, the cursor's version) or the
 * webhook function a delivery of it (the day's stream scope, the entity's `updated_at` on the
 * webhook channel).
 */
function recordsMessage(change: Change, run: number, index: number, channel: 'poll' | 'webhook') {
  const data = rowOf(change, run);
  const key = String(data.id);
  const messageKey = `${channel}-${run}-${index}`;
  const scope =
    channel === 'poll'
      ? keys.ledgerScopeOfRun(`poll-run-${run}`)
      : keys.ledgerScopeOfStream(pipeline.name, new Date().toISOString().slice(0, 10));
  const record = makeEnvelope({
    key,
    op: 'upsert',
    version: versionFromRow(data, ['updated_at'], key, undefined, channel),
    ts: String(data.updated_at),
    data,
    provenance:
      channel === 'poll'
        ? { pipeline: pipeline.name, runId: `poll-run-${run}` }
        : { pipeline: pipeline.name, deliveryId: messageKey },
  });
  const body = { kind: 'records', v: 1, pipeline: pipeline.name, messageKey, scope, records: [record] };
  return { messageId: messageKey, body: JSON.stringify(body), receiveCount: 1 };
}

interface Delivery {
  readonly index: number;
  readonly channel: Channel;
}

/**
 * Each change by one or more channels (a delete by CDC only: a poll does not see a deleted row
 * and this model's webhook carries upserts), some deliveries repeated, in a drawn order.
 */
const deliveries = fc
  .tuple(
    fc.array(fc.subarray<Channel>(['poll', 'cdc', 'webhook'], { minLength: 1 }), {
      minLength: CHANGES.length,
      maxLength: CHANGES.length,
    }),
    fc.array(fc.nat(CHANGES.length * 3), { maxLength: 4 }),
  )
  .chain(([channels, repeated]) => {
    const list: Delivery[] = channels.flatMap((drawn, index) =>
      (CHANGES[index]?.op === 'd' ? ['cdc' as const] : drawn).map((channel) => ({ index, channel })),
    );
    const again = repeated.map((i) => list[i % list.length] as Delivery);
    return fc.shuffledSubarray([...list, ...again], { minLength: list.length + again.length });
  });

describe('poll, CDC and webhook deliveries of one table into one target', () => {
  let harness: ApiHarness;
  let deps: Deps;
  let run = 0;

  beforeAll(async () => {
    harness = await startApiHarness();
    deps = quietDeps(harness, [pipeline]);
  });
  afterAll(async () => harness?.stop());

  /** Records counted loaded or skipped, and quarantined, over the stream's day and the poll runs. */
  async function counted(): Promise<{ counted: number; quarantined: number }> {
    const scopes = [
      keys.ledgerScopeOfStream(pipeline.name, new Date().toISOString().slice(0, 10)),
      ...Array.from({ length: run }, (_, i) => keys.ledgerScopeOfRun(`poll-run-${i + 1}`)),
    ];
    const out = { counted: 0, quarantined: 0 };
    for (const scope of scopes) {
      const totals = await deps.state.ledger.totals(scope);
      out.counted += totals.loaded + totals.skipped;
      out.quarantined += totals.quarantined;
    }
    return out;
  }

  const stored = (id: number) => storedName(harness, pipeline.name, id);

  it('ends on each row’s newest change and counts every delivery once, for any interleaving and duplication of the three channels (property)', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async (plan) => {
        // Prepare
        run++;
        const before = await counted();
        const seen = new Set<string>();

        // Act
        for (const { index, channel } of plan) {
          const change = CHANGES[index] as Change;
          seen.add(`${channel}-${index}`);
          const message =
            channel === 'cdc' ? cdcMessage(change, run, index) : recordsMessage(change, run, index, channel);
          await loadMessage(deps, pipeline.name, message);
        }

        // Assess
        const after = await counted();
        const rows = {
          a: await stored(run * 10 + ROWS.a),
          b: await stored(run * 10 + ROWS.b),
          c: await stored(run * 10 + ROWS.c),
        };
        expect(rows).toEqual(FINAL);
        expect({
          counted: after.counted - before.counted,
          quarantined: after.quarantined - before.quarantined,
        }).toEqual({ counted: seen.size, quarantined: 0 });
      }),
      { numRuns: 12 },
    );
  });
});

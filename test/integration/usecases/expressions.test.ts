import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJsonObject } from '../../../shared/aws/s3-json.ts';
import { accounted, runCountsOf } from '../../../shared/domain/run-counts.ts';
import { type Pipeline, type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { RecordEnvelope } from '../../../shared/records/envelope.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadMessage } from '../../../shared/usecases/phases/4-load.ts';
import {
  connectionSecret,
  queryPostgres,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../../support/system-servers.ts';
import { type ApiHarness, depsWithSecrets, startApiHarness } from '../api/harness.ts';

/** Orders: computed `total` and `label`, active ones only. */
const TRANSFORM = {
  filter: 'status != "cancelled"',
  compute: { total: 'price * qty', label: '$uppercase(sku) & "-" & $string(qty)' },
} satisfies PipelineInput['transform'];

const ordersPipeline = (name: string, target: PipelineInput['target']): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target,
    triggers: { webhook: { signature: 'github', secret: 'webhook-secret' } },
    transform: TRANSFORM,
  } satisfies PipelineInput);

function order(pipeline: string, id: number, data: Record<string, unknown>): RecordEnvelope {
  const full = { id, ...data };
  return {
    key: String(id),
    op: 'upsert',
    version: positionVersion(id),
    ts: '2025-03-01T10:00:00.000Z',
    data: full,
    hash: contentHash(full),
    provenance: { pipeline, deliveryId: `d-${id}` },
  };
}

/** Four orders: two loaded with computed fields, one cancelled (filtered), one whose price is text. */
const ORDERS = (pipeline: string) => [
  order(pipeline, 1, { sku: 'ab', price: 2.5, qty: 4, status: 'open' }),
  order(pipeline, 2, { sku: 'cd', price: 10, qty: 1, status: 'cancelled' }),
  order(pipeline, 3, { sku: 'ef', price: 'ten', qty: 2, status: 'open' }),
  order(pipeline, 4, { sku: 'gh', price: 1, qty: 3, status: 'paid' }),
];

/** Loads {@link ORDERS} as one message and checks the outcome every target must show. */
async function expectOrdersLoaded(deps: Deps, pipeline: Pipeline): Promise<void> {
  const scope = `STREAM#${pipeline.name}#2025-03-01`;
  const body = JSON.stringify({
    kind: 'records',
    v: 1,
    pipeline: pipeline.name,
    messageKey: 'm1',
    scope,
    records: ORDERS(pipeline.name),
  });

  const result = await loadMessage(deps, pipeline.name, { messageId: 'x', body, receiveCount: 1 });

  expect(result).toMatchObject({ loaded: 2, filtered: 1, quarantined: 1, skipped: 0 });
  const held = await deps.createTarget(pipeline).readState(['1', '2', '3', '4'], { withData: true });
  expect([...held.keys()].sort()).toEqual(['1', '4']);
  expect(held.get('1')?.data).toMatchObject({ id: 1, total: 10, label: 'AB-4' });
  expect(held.get('4')?.data).toMatchObject({ id: 4, total: 3, label: 'GH-3' });
  const totals = await deps.state.ledger.totals(scope);
  expect(runCountsOf(totals)).toEqual({
    extracted: 4,
    loaded: 2,
    skipped: 0,
    filtered: 1,
    conflicts: 0,
    quarantined: 1,
    deadLettered: 0,
  });
  expect(accounted(runCountsOf(totals))).toBe(totals.extracted);
  expect([...totals.excludedKeys].sort()).toEqual(['2', '3']);
  const report = await getJsonObject<{ entries: { record: { key: string }; reasons: unknown[] }[] }>(
    deps.clients.s3,
    deps.config.dataBucket,
    `quarantine/${pipeline.name}/${encodeURIComponent(scope)}/m1.json`,
  );
  expect(report.entries.map((e) => [e.record.key, e.reasons])).toEqual([
    [
      '3',
      [
        {
          field: 'total',
          rule: 'expression',
          message: expect.stringMatching(
            /^price \* qty: The left side of the "\*" operator must evaluate to a number/,
          ),
        },
      ],
    ],
  ]);
}

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('JSONata expressions through Load to a dynamodb target', () => {
  it('loads computed fields, counts the filtered record and quarantines the one an expression fails on', async () => {
    // The harness's owned target table is users-sync's.
    const pipeline = ordersPipeline('users-sync', { type: 'dynamodb' });

    await expectOrdersLoaded(depsWithSecrets(h, [pipeline], {}), pipeline);
  });
});

const postgresql = requireSystemServer('postgresql');

describe.runIf(postgresql.available)('JSONata expressions through Load to a postgres target', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startPostgres();
    await queryPostgres(
      server,
      'CREATE TABLE orders (id integer PRIMARY KEY, sku text, price jsonb, qty integer, status text, total numeric, label text)',
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('loads computed fields into their columns, counts the filtered record and quarantines the failing one', async () => {
    const pipeline = ordersPipeline('pg-orders', {
      type: 'postgres',
      connection: { secret: 'pg-target', ssl: 'disable' },
      table: 'orders',
    });

    await expectOrdersLoaded(
      depsWithSecrets(h, [pipeline], { 'pg-target': connectionSecret(server) }),
      pipeline,
    );
  });
});

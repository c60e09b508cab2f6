import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_CONNECTORS } from '../../../shared/connectors/sources/registry.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import type { ConnectorContext, TargetConnector, TargetSize } from '../../../shared/connectors/types.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import {
  type Mismatch,
  type PlanVerifyOptions,
  perPartition,
  planVerify,
  summarizeVerify,
} from '../../../shared/usecases/phases/6-verify.ts';
import type { VerifyItem } from '../../../shared/usecases/phases/6-verify-partition.ts';
import { verifyPartition } from '../../../shared/usecases/phases/6-verify-partition.ts';
import {
  readTargetSegment,
  type TargetSegmentOptions,
} from '../../../shared/usecases/phases/6-verify-target.ts';
import { requireSystemServer } from '../../support/system-servers.ts';
import { batchSteps, type RunRef } from './batch-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';
import { type ItemsDatabase, itemAt, itemsSource, startItemsDatabase } from './items-database.ts';

/**
 * Verify's one read of a target that cannot read a key range (DynamoDB, the S3 lake), split in
 * segments that each go on from where the last invocation stopped: the report is the same as
 * that of one read in one invocation, in both directions.
 */

const postgres = requireSystemServer('postgresql');
const ROWS = 30;
const CHANGED = 5;
const DELETED = 20;
const at = itemAt;

const pipeline = (name: string, target: Record<string, unknown>, deletes = 'verify') => ({
  name,
  source: { ...itemsSource(7), deletes: { mode: deletes } },
  target,
  extract: { partitions: 3 },
  verify: { onMismatch: 'warn' },
});

/**
 * The target, telling `size` as its DescribeTable figures when given: dynalite never updates
 * ItemCount and TableSizeBytes, and DynamoDB does so about every six hours.
 */
function sizedAs(target: TargetConnector, size: TargetSize | undefined): TargetConnector {
  const segmented = target.segmented;
  if (!size || !segmented) return target;
  return Object.assign(Object.create(target) as TargetConnector, {
    segmented: { ...segmented, approximateSize: async () => size },
  });
}

interface Verified {
  readonly summary: Awaited<ReturnType<typeof summarizeVerify>>;
  readonly partitions: ReturnType<typeof perPartition>;
  readonly sample: Mismatch[];
  readonly segments: number;
  readonly segmentInvocations: number;
  /** DescribeTable requests the plan sent. */
  readonly describes: number;
}

/** The connector context of `p`, its DynamoDB client counting the DescribeTable requests it sends into `seen`. */
function countingDescribes(context: ConnectorContext, seen: { describes: number }): ConnectorContext {
  const dynamodb = context.clients.dynamodb;
  const send = ((command: object, ...rest: unknown[]) => {
    if (command instanceof DescribeTableCommand) seen.describes++;
    return (dynamodb.send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof dynamodb.send;
  return {
    ...context,
    clients: {
      ...context.clients,
      dynamodb: Object.assign(Object.create(dynamodb) as typeof dynamodb, { send }),
    },
  };
}

describe.runIf(postgres.available)('Verify reading the target in segments', () => {
  let db: ItemsDatabase;
  let admin: pg.Client;
  let h: FunctionsHarness;
  const steps = batchSteps(() => h);

  beforeAll(async () => {
    db = await startItemsDatabase(ROWS);
    admin = db.admin;
    const secret = db.secret;
    h = await startFunctionsHarness({
      secrets: { db: secret },
      pipelines: [
        pipeline('segments-ddb', { type: 'dynamodb' }),
        pipeline('segments-lake', { type: 's3' }),
        pipeline('whole-or-keys-ddb', { type: 'dynamodb' }, 'none'),
        pipeline('sliced-ddb', { type: 'dynamodb' }, 'none'),
        pipeline('described-ddb', { type: 'dynamodb' }),
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    await db?.stop();
  });

  /** Verify of the run planned with `plan`, `options` for each segment invocation, the target telling `tableSize`. */
  async function verify(
    run: RunRef,
    plan: PlanVerifyOptions,
    options: TargetSegmentOptions,
    tableSize?: TargetSize,
  ): Promise<Verified> {
    await Promise.all([SOURCE_CONNECTORS.loadAll(), TARGET_CONNECTORS.loadAll()]);
    const seen = { describes: 0 };
    const deps: Deps = {
      ...h.deps,
      createSource: (p) => SOURCE_CONNECTORS.create(p.source, h.deps.connectorContext(p)),
      createTarget: (p) =>
        sizedAs(
          TARGET_CONNECTORS.create(p.target, countingDescribes(h.deps.connectorContext(p), seen)),
          tableSize,
        ),
    };
    const planned = await planVerify(deps, run, plan);
    const describes = seen.describes;
    let segmentInvocations = 0;
    for (const segment of planned.targetSegments) {
      const input = { ...run, step: 'target-segment' as const, segment };
      let out = await readTargetSegment(deps, input, options);
      segmentInvocations++;
      while (!out.done) {
        out = await readTargetSegment(deps, { ...input, continuation: out.continuation }, options);
        segmentInvocations++;
      }
    }
    const items: VerifyItem[] = planned.manifest ? await h.readJson(planned.manifest.key) : planned.items;
    for (const item of items) {
      const input = { ...run, step: 'partition' as const, item };
      let out = await verifyPartition(deps, input, { remainingMs: () => 900_000 });
      while (!out.done)
        out = await verifyPartition(
          h.deps,
          { ...input, continuation: out.continuation },
          { remainingMs: () => 900_000 },
        );
    }
    const summary = await summarizeVerify(deps, run);
    const report = summary.reportKey
      ? await h.readJson<{ sample: Mismatch[] }>(summary.reportKey)
      : { sample: [] };
    return {
      summary,
      partitions: perPartition(await deps.state.verifyResults.list(run.runId)),
      sample: [...report.sample].sort(
        (a, b) => a.key.localeCompare(b.key) || a.problem.localeCompare(b.problem),
      ),
      segments: planned.targetSegments.length,
      segmentInvocations,
      describes,
    };
  }

  it.each([
    ['segments-ddb', 3],
    ['segments-lake', 1],
  ] as const)(
    '%s: a target read in several segments and continuations gives the report of one read, both directions',
    async (name, pageSize) => {
      // Prepare: a loaded run, then a row changed at the source without a new version (the
      // target differs) and a row deleted there (the target holds a key the source no longer has).
      const run = await steps.syncedRun(name);
      await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, 'changed at the source']);
      await admin.query('DELETE FROM items WHERE id = $1', [DELETED]);

      try {
        // Act: one segment read in one invocation, then four segments of a few records (DynamoDB)
        // or one lake object per page, each invocation stopping after one page as if its time ran short.
        const whole = await verify(run, { targetSegments: 1 }, { remainingMs: () => 900_000 });
        const split = await verify(run, { targetSegments: 4 }, { remainingMs: () => 0, pageSize });

        // Assess
        expect(whole.segmentInvocations).toBe(1);
        expect(split.segments).toBe(4);
        expect(split.segmentInvocations).toBeGreaterThan(2 * split.segments);
        expect(whole.summary).toMatchObject({
          status: 'warned',
          compared: ROWS - 1,
          mismatches: 1,
          deleted: 1,
        });
        expect(split.summary).toEqual(whole.summary);
        expect(split.partitions).toEqual(whole.partitions);
        expect(whole.partitions.reduce((n, p) => n + p.targetRead, 0)).toBe(ROWS);
        expect(split.sample).toEqual(whole.sample);
        expect(whole.sample).toEqual([
          expect.objectContaining({ key: String(DELETED), problem: 'not-in-source' }),
          expect.objectContaining({ key: String(CHANGED), problem: 'content' }),
        ]);
      } finally {
        await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, `item ${CHANGED}`]);
        await admin.query('INSERT INTO items VALUES ($1, $2, $3)', [DELETED, `item ${DELETED}`, at(DELETED)]);
      }
    },
    120_000,
  );

  it('reads a DynamoDB target whole when that costs less than by key, and reports what reading by key reports', async () => {
    // Prepare: a loaded run (every key of the table checked: a Scan costs less), then a row
    // changed at the source without a new version (the target differs) and a row deleted there
    // without deletes propagated (the target holds a key the run does not check).
    const name = 'whole-or-keys-ddb';
    const run = await steps.syncedRun(name);
    await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, 'changed at the source']);
    await admin.query('DELETE FROM items WHERE id = $1', [DELETED]);

    try {
      // Act: Verify as the cost chooses, with the table's figures as DynamoDB tells them once
      // counted and as the target tells them, then forced to read by key, then forced to read
      // whole in segments.
      const counted = { records: ROWS, bytes: ROWS * 120 };
      const chosen = await verify(run, {}, { remainingMs: () => 900_000 }, counted);
      const asTold = await verify(run, {}, { remainingMs: () => 900_000 });
      const byKey = await verify(run, { targetReadWhole: false }, { remainingMs: () => 900_000 });
      const whole = await verify(
        run,
        { targetReadWhole: true, targetSegments: 3 },
        { remainingMs: () => 0, pageSize: 4 },
      );

      // Assess: the choice read the table whole; every path found the changed row and nothing else.
      expect(chosen.segments).toBeGreaterThan(0);
      expect(byKey.segments).toBe(0);
      expect(byKey.summary).toMatchObject({ status: 'warned', compared: ROWS - 1, mismatches: 1 });
      expect(byKey.summary).not.toHaveProperty('deleted');
      expect(byKey.sample).toEqual([expect.objectContaining({ key: String(CHANGED), problem: 'content' })]);
      const withoutReads = (v: Verified) => v.partitions.map(({ targetRead: _, ...p }) => p);
      expect(asTold.summary).toEqual(byKey.summary);
      for (const other of [chosen, whole]) {
        expect(other.summary).toEqual(byKey.summary);
        expect(other.sample).toEqual(byKey.sample);
        expect(withoutReads(other)).toEqual(withoutReads(byKey));
        expect(other.partitions.reduce((n, p) => n + p.targetRead, 0)).toBeGreaterThanOrEqual(ROWS);
      }
      expect(byKey.partitions.reduce((n, p) => n + p.targetRead, 0)).toBe(0);
    } finally {
      await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, `item ${CHANGED}`]);
      await admin.query('INSERT INTO items VALUES ($1, $2, $3)', [DELETED, `item ${DELETED}`, at(DELETED)]);
    }
  }, 120_000);

  it('reads a table whole when its slices would hold more than a partition should, its partitions cut finer, each holding at most its share', async () => {
    // Prepare: a loaded run of 3 partitions, then a row changed at the source without a new
    // version (the target differs).
    const name = 'sliced-ddb';
    const run = await steps.syncedRun(name);
    await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, 'changed at the source']);
    const sliceRecords = 8;

    try {
      // Act: Verify as the cost chooses, the table as DynamoDB tells it once counted, each slice
      // holding at most 8 records.
      const counted = { records: ROWS, bytes: ROWS * 120 };
      const sliced = await verify(run, { sliceRecords }, { remainingMs: () => 900_000 }, counted);

      // Assess: read whole, in four partitions (30 records, 8 a slice at most) that together
      // read the table once, none holding more than 8 records; the changed row found.
      expect(sliced.segments).toBeGreaterThan(0);
      expect(sliced.partitions).toHaveLength(Math.ceil(ROWS / sliceRecords));
      for (const p of sliced.partitions) expect(p.targetRead).toBeLessThanOrEqual(sliceRecords);
      expect(sliced.partitions.reduce((n, p) => n + p.targetRead, 0)).toBe(ROWS);
      expect(sliced.summary).toMatchObject({ status: 'warned', compared: ROWS, mismatches: 1 });
      expect(sliced.sample).toEqual([expect.objectContaining({ key: String(CHANGED), problem: 'content' })]);
    } finally {
      await admin.query('UPDATE items SET name = $2 WHERE id = $1', [CHANGED, `item ${CHANGED}`]);
    }
  }, 120_000);

  it('describes the table once while planning a whole read', async () => {
    // Prepare: a pipeline finding hard deletes, whose partitions share one read of the target.
    const run = await steps.syncedRun('described-ddb');

    // Act: the plan sizes the table to choose by cost (DescribeTable and a sample), then sizes
    // the read's segments by what it holds.
    const chosen = await verify(run, {}, { remainingMs: () => 900_000 });

    // Assess
    expect(chosen.segments).toBeGreaterThan(0);
    expect(chosen.describes).toBe(1);
  }, 120_000);
});

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoDatabase } from '../../../demo/demo-db.ts';
import { quarantineKey, stateTableName } from '../../../shared/naming.ts';
import { keys } from '../../../shared/state/keys.ts';
import { batchSteps, newRun, type RunRef } from './batch-steps.ts';
import type { FunctionsHarness } from './harness.ts';
import { INVALID_ID, startUsersHarness, usersPipeline } from './users-table.ts';

/**
 * The quarantine objects of messages a resuming run abandons: run A sent and Load completed its
 * messages (row 7 quarantined) but A's Extract was killed before it recorded any progress; run B
 * takes A's plan over, abandons A's messages and reads every row again. The quarantine then holds
 * row 7 once, in B's object, the one a ledger counts.
 */

const PIPELINE = 'quarantine-resume';

let h: FunctionsHarness;
let db: DemoDatabase;

beforeAll(async () => {
  ({ db, h } = await startUsersHarness([usersPipeline(PIPELINE, { extract: { partitions: 1 } })]));
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await db?.stop();
});

const { discover, plan, extract, awaitLoad, drainIntoLoad } = batchSteps(() => h);

/** Discover, Plan and Extract of every partition of `run`; the partitions' ids. */
async function extractAll(run: RunRef): Promise<string[]> {
  await discover(run);
  const planned = await plan(run);
  for (const partition of planned.partitions) {
    let out = await extract(run, partition);
    while (!out.done) out = await extract(run, partition, out.continuation);
  }
  return planned.partitions.map((p) => p.id);
}

/** The quarantine objects of the pipeline: each one's key, and the keys of the records it holds. */
async function quarantined(): Promise<{ key: string; records: string[] }[]> {
  const listed = await h.clients.s3.send(
    new ListObjectsV2Command({ Bucket: h.dataBucket, Prefix: `quarantine/${PIPELINE}/` }),
  );
  return Promise.all(
    (listed.Contents ?? []).map(async ({ Key }) => {
      const object = await h.readJson<{ entries: { record?: { key: string } }[] }>(String(Key));
      return { key: String(Key), records: object.entries.map((e) => String(e.record?.key)) };
    }),
  );
}

describe('a resumed plan and the quarantine', () => {
  it('deletes the quarantine objects of the messages it abandons, so each rejected row is quarantined once', async () => {
    // Prepare: A extracted and Load completed every message, row 7 quarantined; A's progress is
    // then lost, as when its Extract is killed between sending and recording.
    const runA = newRun(PIPELINE);
    const [partition] = await extractAll(runA);
    await drainIntoLoad(PIPELINE);
    const scopeA = keys.ledgerScopeOfRun(runA.runId);
    const quarantinedByA = (await h.ledger(scopeA)).filter((m) => Number(m.quarantined ?? 0) > 0);
    expect(quarantinedByA).toHaveLength(1);
    const objectOfA = quarantineKey(PIPELINE, {
      scope: scopeA,
      messageKey: String(quarantinedByA[0]?.sk).slice('MSG#'.length),
    });
    expect((await quarantined()).map((o) => o.key)).toEqual([objectOfA]);
    await h.clients.ddb.send(
      new DeleteCommand({
        TableName: stateTableName('dev'),
        Key: keys.partitionProgress(PIPELINE, runA.runId, String(partition)),
      }),
    );

    // Act: B takes the plan over, extracts every row again, and Load completes its messages.
    const runB = newRun(PIPELINE);
    await extractAll(runB);
    await drainIntoLoad(PIPELINE);

    // Assess
    expect(await awaitLoad(runB)).toMatchObject({ done: true, extracted: 20, accounted: 20 });
    const left = await quarantined();
    expect(left.map((o) => o.key)).toEqual([
      expect.stringContaining(`/${encodeURIComponent(keys.ledgerScopeOfRun(runB.runId))}/`),
    ]);
    expect(left.flatMap((o) => o.records)).toEqual([String(INVALID_ID)]);
    expect((await h.ledger(scopeA)).every((m) => m.state === 'abandoned')).toBe(true);
    expect((await h.deps.state.ledger.totals(keys.ledgerScopeOfRun(runB.runId))).quarantined).toBe(1);
  });
});

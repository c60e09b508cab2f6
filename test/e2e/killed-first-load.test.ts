import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import { type DevProcess, devApi, devRunEnded, startDev } from '../support/e2e-dev.ts';
import type { CliProcess } from '../support/e2e-process.ts';
import { createProject, type E2eProject, eventually } from '../support/e2e-stack.ts';
import {
  orderAmount,
  orderId,
  orderObjects,
  partitionedOrdersPipeline,
} from '../support/partitioned-orders.ts';

const PIPELINE = 'big-orders-killed';
const OBJECTS = 24;
const ROWS_PER_OBJECT = 600;
const ROWS = OBJECTS * ROWS_PER_OBJECT;
const TARGET = ownedTargetTableName('dev', PIPELINE);

async function startRun(dev: DevProcess): Promise<string> {
  const started = await devApi<{ runId: string }>(dev.ready.apiUrl, 'POST', `/pipelines/${PIPELINE}/runs`);
  expect(started.status).toBe(202);
  return started.body.runId;
}

/** Waits until the run's plan is saved and at least one of its partitions is finished. */
async function someoneFinished(dev: DevProcess, runId: string): Promise<void> {
  await eventually(
    'a first partition to be finished',
    async () => {
      const plan = await dev.state.progress.getPlan(PIPELINE);
      if (plan?.planId !== runId) return undefined;
      const progress = await dev.state.progress.listPartitions(PIPELINE, runId);
      return progress.some((p) => p.done) ? true : undefined;
    },
    120_000,
  );
}

describe('a first load whose process is killed mid-way, started again', () => {
  let project: E2eProject;
  const running: CliProcess[] = [];

  beforeAll(() => {
    project = createProject({ [PIPELINE]: partitionedOrdersPipeline(PIPELINE, OBJECTS) });
  });

  afterAll(async () => {
    for (const dev of running) await dev.kill();
    project?.remove();
  });

  it('loads every row once and extracts no finished partition again after SIGKILL of esync dev', async () => {
    // Prepare: kill the process once some partitions are finished and others are not.
    const dataDir = path.join(project.root, 'data');
    const first = await startDev(project.pipelinesDir, dataDir, running);
    const bucket = await first.dataBucket();
    for (const object of orderObjects(PIPELINE, OBJECTS, ROWS_PER_OBJECT))
      await first.s3.send(new PutObjectCommand({ Bucket: bucket, ...object }));
    // The s3 source's window ends at the start of the previous whole second.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const firstRunId = await startRun(first);
    await someoneFinished(first, firstRunId);
    first.dev.child.kill('SIGKILL');
    await first.dev.exited;
    first.close();
    const second = await startDev(project.pipelinesDir, dataDir, running);
    const before = await second.state.progress.listPartitions(PIPELINE, firstRunId);
    const finishedBefore = before.filter((p) => p.done).map((p) => p.partitionId);
    const extractedBefore = before.reduce((n, p) => n + p.extracted, 0);
    const interrupted = await devRunEnded(second.ready.apiUrl, firstRunId);

    // Act
    const rerunId = await startRun(second);
    const rerun = await devRunEnded(second.ready.apiUrl, rerunId);

    // Assess: the rerun read only what the killed run had not recorded as sent, and the target
    // holds every row once, with its own values.
    expect(interrupted).toMatchObject({ status: 'aborted', failure: { error: 'States.Aborted' } });
    expect(finishedBefore.length).toBeGreaterThan(0);
    expect(extractedBefore).toBeLessThan(ROWS);
    expect(rerun, JSON.stringify(rerun.failure)).toMatchObject({ status: 'succeeded' });
    expect(rerun.verify.status).toBe('passed');
    expect(rerun.counts.extracted).toBe(ROWS - extractedBefore);
    expect(rerun.counts.deadLettered + rerun.counts.quarantined + rerun.counts.conflicts).toBe(0);
    const after = await second.state.progress.listPartitions(PIPELINE, firstRunId);
    expect(after).toHaveLength(OBJECTS);
    expect(after.every((p) => p.done && p.extracted === ROWS_PER_OBJECT)).toBe(true);
    const finishedBy = new Map(after.map((p) => [p.partitionId, p.runId]));
    for (const id of finishedBefore) expect(finishedBy.get(id)).toBe(firstRunId);
    const unfinishedBefore = after.filter((p) => !finishedBefore.includes(p.partitionId));
    expect(unfinishedBefore.every((p) => p.runId === rerunId)).toBe(true);
    const killed = await second.state.ledger.totals(keys.ledgerScopeOfRun(firstRunId));
    expect(killed.pendingMessages + killed.deadLettered).toBe(0);
    // A row is written once: a message the kill left unacknowledged (or whose progress it lost)
    // is delivered (or sent) again, meets the version gate and counts as skipped, never loaded.
    expect(rerun.counts.loaded + rerun.counts.skipped).toBe(rerun.counts.extracted);
    expect(killed.loaded + rerun.counts.loaded).toBeLessThanOrEqual(ROWS);
    const items = await second.items(TARGET);
    second.close();
    const amounts = new Map(items.map((item) => [String(item.order_id), Number(item.amount)]));
    expect(items).toHaveLength(ROWS);
    const wrong: string[] = [];
    for (let object = 0; object < OBJECTS; object++)
      for (let row = 0; row < ROWS_PER_OBJECT; row++)
        if (amounts.get(orderId(object, row)) !== orderAmount(object, row)) wrong.push(orderId(object, row));
    expect(wrong).toEqual([]);
  }, 600_000);
});

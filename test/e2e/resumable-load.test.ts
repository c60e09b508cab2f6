import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import type { PartitionProgress } from '../../shared/state/progress.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  eventually,
  scanTable,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';
import {
  orderAmount,
  orderId,
  orderObjects,
  partitionedOrdersPipeline,
} from '../support/partitioned-orders.ts';

const PIPELINE = 'big-orders';
const OBJECTS = 24;
const ROWS_PER_OBJECT = 600;
const ROWS = OBJECTS * ROWS_PER_OBJECT;

const PIPELINE_YAML = partitionedOrdersPipeline(PIPELINE, OBJECTS);

async function seedObjects(e2e: E2eStack): Promise<void> {
  for (const object of orderObjects(PIPELINE, OBJECTS, ROWS_PER_OBJECT))
    await e2e.clients.s3.send(new PutObjectCommand({ Bucket: e2e.dataBucket, ...object }));
  // The s3 source's window ends at the start of the previous whole second.
  await new Promise((resolve) => setTimeout(resolve, 2100));
}

async function startRun(e2e: E2eStack, reason: string): Promise<string> {
  const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {
    reason,
  });
  expect(started.status).toBe(202);
  return started.body.runId;
}

/**
 * The recorded progress of a plan once the stopped run is quiet: an Extract of a stopped run
 * may still be sending (a Lambda outlives StopExecution), so wait until its ledger stops growing.
 */
async function settledProgress(e2e: E2eStack, planId: string, runId: string): Promise<PartitionProgress[]> {
  let last = -1;
  for (;;) {
    const { messages } = await e2e.state.ledger.totals(keys.ledgerScopeOfRun(runId));
    if (messages === last) return e2e.state.progress.listPartitions(PIPELINE, planId);
    last = messages;
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

describe('a first load stopped mid-way and started again', () => {
  let project: E2eProject;
  let e2e: E2eStack;

  beforeAll(async () => {
    project = createProject({ [PIPELINE]: PIPELINE_YAML });
    e2e = await startE2eStack(project, {});
    await seedObjects(e2e);
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
  });

  it('loads every row exactly once after StopExecution, extracting each finished partition once', async () => {
    // Prepare: stop the first run once some partitions are finished and others are not.
    const firstRunId = await startRun(e2e, 'first load');
    const planId = await eventually('the first run to save its plan', async () => {
      const saved = await e2e.state.progress.getPlan(PIPELINE);
      return saved?.planId === firstRunId ? saved.planId : undefined;
    });
    const { executionArn } = await e2e.state.runs.get(firstRunId);
    while (!(await e2e.state.progress.listPartitions(PIPELINE, planId)).some((p) => p.done))
      await new Promise((resolve) => setTimeout(resolve, 20));
    await e2e.clients.sfn.send(new StopExecutionCommand({ executionArn, cause: 'e2e: stopped mid-way' }));
    const stopped = await e2e.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const before = await settledProgress(e2e, planId, firstRunId);
    const finishedBefore = before.filter((p) => p.done).map((p) => p.partitionId);
    const extractedBefore = before.reduce((n, p) => n + p.extracted, 0);

    // Act
    const secondRunId = await startRun(e2e, 'first load, again');
    const second = await waitForRun(e2e.stack, secondRunId, 180_000);

    // Assess: the second run read only what the first had not sent, and every row is loaded once.
    expect(stopped.status).toBe('ABORTED');
    expect(finishedBefore.length).toBeGreaterThan(0);
    expect(extractedBefore).toBeLessThan(ROWS);
    expect(second, JSON.stringify(second.failure)).toMatchObject({ status: 'succeeded' });
    expect(second.verify.status).toBe('passed');
    expect(second.counts.extracted).toBe(ROWS - extractedBefore);
    const after = await e2e.state.progress.listPartitions(PIPELINE, planId);
    expect(after.filter((p) => p.done)).toHaveLength(OBJECTS);
    const finishedBy = new Map(after.map((p) => [p.partitionId, p.runId]));
    for (const id of finishedBefore) expect(finishedBy.get(id)).toBe(firstRunId);
    const first = await eventually('the first run’s messages to be loaded', async () => {
      const totals = await e2e.state.ledger.totals(keys.ledgerScopeOfRun(firstRunId));
      return totals.pendingMessages === 0 ? totals : undefined;
    });
    expect(first.loaded + second.counts.loaded).toBe(ROWS);
    const items = await scanTable(e2e.clients, ownedTargetTableName('dev', PIPELINE));
    expect(items.size).toBe(ROWS);
    expect(items.get(orderId(23, 599))).toMatchObject({ amount: orderAmount(23, 599) });
  }, 300_000);
});

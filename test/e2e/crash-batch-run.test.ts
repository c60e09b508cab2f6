import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { devApi, devRunEnded, startDev } from '../support/e2e-dev.ts';
import type { CliProcess } from '../support/e2e-process.ts';
import { createProject, type E2eProject, eventually, s3OrdersPipeline } from '../support/e2e-stack.ts';

const PIPELINE = 'orders-crash';
const ORDERS = 4000;
const TARGET = ownedTargetTableName('dev', PIPELINE);

describe('esync dev killed with SIGKILL in the middle of a batch run', () => {
  let project: E2eProject;
  const running: CliProcess[] = [];

  beforeAll(() => {
    project = createProject({ [PIPELINE]: s3OrdersPipeline(PIPELINE) });
  });

  afterAll(async () => {
    for (const dev of running) await dev.kill();
    project?.remove();
  });

  it('ends the interrupted run as aborted at restart, and a rerun loads every record exactly once', async () => {
    // Prepare
    const dataDir = path.join(project.root, 'data');
    const first = await startDev(project.pipelinesDir, dataDir, running);
    const lines = Array.from({ length: ORDERS }, (_, i) => JSON.stringify({ order_id: `o-${i}`, amount: i }));
    await first.s3.send(
      new PutObjectCommand({
        Bucket: await first.dataBucket(),
        Key: `incoming/${PIPELINE}/orders.jsonl`,
        Body: lines.join('\n'),
      }),
    );
    // The s3 source sees an object from the second after its upload's second.
    await new Promise((resolve) => setTimeout(resolve, 2100));

    // Act
    const started = await devApi<{ runId: string }>(
      first.ready.apiUrl,
      'POST',
      `/pipelines/${PIPELINE}/runs`,
    );
    expect(started.status).toBe(202);
    const loadedAtKill = await eventually(
      'the first records in the target',
      async () => {
        const count = (await first.items(TARGET)).length;
        return count > 0 ? count : undefined;
      },
      90_000,
    );
    first.dev.child.kill('SIGKILL');
    await first.dev.exited;
    first.close();
    const second = await startDev(project.pipelinesDir, dataDir, running);
    const interrupted = await devRunEnded(second.ready.apiUrl, started.body.runId);
    const rerun = await devApi<{ runId: string }>(second.ready.apiUrl, 'POST', `/pipelines/${PIPELINE}/runs`);
    const completed = await devRunEnded(second.ready.apiUrl, rerun.body.runId);
    const items = await second.items(TARGET);
    second.close();

    // Assess
    expect(loadedAtKill).toBeLessThan(ORDERS);
    expect(interrupted.status).toBe('aborted');
    expect(interrupted.failure).toEqual({
      error: 'States.Aborted',
      cause: 'the local stack stopped while the execution was running',
    });
    expect(completed.status).toBe('succeeded');
    expect(completed.counts.deadLettered + completed.counts.quarantined + completed.counts.conflicts).toBe(0);
    expect(items).toHaveLength(ORDERS);
    const byId = new Map(items.map((item) => [String(item.order_id), Number(item.amount)]));
    expect(byId.size).toBe(ORDERS);
    expect(lines.every((_, i) => byId.get(`o-${i}`) === i)).toBe(true);
  }, 600_000);
});

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  s3OrdersPipeline,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';

const PIPELINE = 'orders-drop';

const PIPELINE_YAML = s3OrdersPipeline(PIPELINE);

interface Started {
  readonly runId: string;
  readonly executionArn: string;
}

interface HistoryAnswer {
  readonly events: readonly { readonly type: string; readonly error: string | null }[];
}

describe('runs end on their record whatever ends their execution', () => {
  let project: E2eProject;
  let e2e: E2eStack;

  beforeAll(async () => {
    project = createProject({ [PIPELINE]: PIPELINE_YAML });
    e2e = await startE2eStack(project, {});
    const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ order_id: `o-${i}`, amount: i }));
    await e2e.clients.s3.send(
      new PutObjectCommand({
        Bucket: e2e.dataBucket,
        Key: `incoming/${PIPELINE}/orders.jsonl`,
        Body: lines.join('\n'),
      }),
    );
    // The s3 source's window ends at the start of the previous whole second (S3's LastModified
    // has second precision), so an object becomes visible to a run two seconds after its upload.
    await new Promise((resolve) => setTimeout(resolve, 2100));
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
  });

  it('marks a run whose execution was stopped as aborted, with the stop’s cause, and answers its history', async () => {
    // Prepare
    const started = await callApi<Started>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    expect(started.status).toBe(202);

    // Act
    await e2e.clients.sfn.send(
      new StopExecutionCommand({
        executionArn: started.body.executionArn,
        error: 'Operator.Stopped',
        cause: 'stopped by the e2e test',
      }),
    );
    const run = await waitForRun(e2e.stack, started.body.runId, 90_000);
    const history = await callApi<HistoryAnswer>(
      e2e.stack,
      'GET',
      `/runs/${encodeURIComponent(started.body.runId)}/history`,
    );

    // Assess
    expect(run.status).toBe('aborted');
    expect(run.failure).toEqual({ error: 'Operator.Stopped', cause: 'stopped by the e2e test' });
    expect(run.phases.filter((p) => p.status === 'running')).toEqual([]);
    expect(history.status).toBe(200);
    expect(history.body.events.at(-1)).toMatchObject({ type: 'ExecutionAborted', error: 'Operator.Stopped' });
    // On a loaded machine the run-ended function may run long after the stop.
  }, 120_000);

  it('leaves a run that succeeded as its Cleanup recorded it, with the ledger’s counts', async () => {
    // Act
    const started = await callApi<Started>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    const run = await waitForRun(e2e.stack, started.body.runId, 60_000);
    const history = await callApi<HistoryAnswer>(
      e2e.stack,
      'GET',
      `/runs/${encodeURIComponent(started.body.runId)}/history`,
    );

    // Assess
    expect(run.status).toBe('succeeded');
    expect(run.failure).toBeNull();
    expect(run.counts.extracted).toBe(30);
    expect(history.body.events.at(-1)?.type).toBe('ExecutionSucceeded');
  });
});

import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../infra/local/servers.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { type CliProcess, jsonObjectLine, startCli } from '../support/e2e-process.ts';
import {
  createProject,
  E2E_PRINCIPAL,
  type E2eProject,
  eventually,
  REPO_ROOT,
  type RunReport,
  s3OrdersPipeline,
} from '../support/e2e-stack.ts';

const PIPELINE = 'orders-crash';
const ORDERS = 4000;
const TARGET = ownedTargetTableName('dev', PIPELINE);

interface DevReady {
  readonly apiUrl: string;
  readonly endpoints: { readonly dynamodb: string; readonly s3: string };
}

async function api<T>(apiUrl: string, method: string, route: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-esync-local-principal': E2E_PRINCIPAL },
    ...(method === 'POST' && { body: '{}' }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls the run until it has ended; fails with its last state (a loaded machine is slow, not wrong). */
async function runEnded(apiUrl: string, runId: string): Promise<RunReport> {
  let last: unknown;
  return eventually(
    `run ${runId} to end`,
    async () => {
      const run = await api<RunReport>(apiUrl, 'GET', `/runs/${encodeURIComponent(runId)}`);
      last = run.body;
      return run.status === 200 && run.body.status !== 'running' ? run.body : undefined;
    },
    240_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
  });
}

describe('esync dev killed with SIGKILL in the middle of a batch run', () => {
  let project: E2eProject;
  const running: CliProcess[] = [];

  const startDev = async (dataDir: string) => {
    const args = ['--import', 'tsx', 'cli/main.ts', 'dev', '--json', '--pipelines-dir', project.pipelinesDir];
    const dev = startCli([...args, '--data-dir', dataDir], { cwd: REPO_ROOT });
    running.push(dev);
    const ready = (await dev.firstLine(jsonObjectLine, 110_000)) as unknown as DevReady;
    const documents = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
        endpoint: ready.endpoints.dynamodb,
      }),
    );
    const targetItems = async () =>
      (await documents.send(new ScanCommand({ TableName: TARGET, ConsistentRead: true }))).Items ?? [];
    return { dev, ready, documents, targetItems };
  };

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
    const first = await startDev(dataDir);
    const s3 = new S3Client({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: first.ready.endpoints.s3,
      forcePathStyle: true,
    });
    const lines = Array.from({ length: ORDERS }, (_, i) => JSON.stringify({ order_id: `o-${i}`, amount: i }));
    const { Buckets } = await s3.send(new ListBucketsCommand({}));
    const dataBucket = Buckets?.map((b) => b.Name ?? '').find((name) => name.includes('databucket'));
    await s3.send(
      new PutObjectCommand({
        Bucket: dataBucket,
        Key: `incoming/${PIPELINE}/orders.jsonl`,
        Body: lines.join('\n'),
      }),
    );
    s3.destroy();
    // The s3 source sees an object from the second after its upload's second.
    await new Promise((resolve) => setTimeout(resolve, 2100));

    // Act
    const started = await api<{ runId: string }>(first.ready.apiUrl, 'POST', `/pipelines/${PIPELINE}/runs`);
    expect(started.status).toBe(202);
    const loadedAtKill = await eventually(
      'the first records in the target',
      async () => {
        const count = (await first.targetItems()).length;
        return count > 0 ? count : undefined;
      },
      90_000,
    );
    first.dev.child.kill('SIGKILL');
    await first.dev.exited;
    first.documents.destroy();
    const second = await startDev(dataDir);
    const interrupted = await runEnded(second.ready.apiUrl, started.body.runId);
    const rerun = await api<{ runId: string }>(second.ready.apiUrl, 'POST', `/pipelines/${PIPELINE}/runs`);
    const completed = await runEnded(second.ready.apiUrl, rerun.body.runId);
    const items = await second.targetItems();
    second.documents.destroy();

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

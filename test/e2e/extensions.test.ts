import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { sampleExtensionsPipeline } from '../support/connector-context.ts';
import {
  callApi,
  type E2eStack,
  listKeys,
  REPO_ROOT,
  readObject,
  scanTable,
  startE2eProject,
  waitForRun,
} from '../support/e2e-stack.ts';

const PIPELINE = 'orders-feed';
const TARGET = ownedTargetTableName('dev', PIPELINE);
const EXAMPLES = path.join(REPO_ROOT, 'examples', 'extensions');

interface Order {
  readonly order_id: string;
  readonly amount: number;
  readonly updated_at: string;
}

const order = (n: number, minute: number, amount = n * 10): Order => ({
  order_id: `ORD-${String(n).padStart(6, '0')}`,
  amount,
  updated_at: `2026-12-01T10:${String(minute).padStart(2, '0')}:00.000Z`,
});

async function startFeed(lines: () => string): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(lines());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders.jsonl` };
}

describe('the sample extensions on the local stack: a jsonl-url source and the order-id validator', () => {
  let orders: (Order | Record<string, unknown>)[];
  let feed: { server: Server; url: string };
  let e2e: E2eStack;

  beforeAll(async () => {
    orders = [order(3, 3), order(1, 1), { order_id: 'X-7', amount: 70, updated_at: order(7, 7).updated_at }];
    orders.push(order(2, 2), order(4, 4));
    feed = await startFeed(() => orders.map((o) => JSON.stringify(o)).join('\n'));
    const pipelines = { [PIPELINE]: sampleExtensionsPipeline(PIPELINE, feed.url) };
    e2e = await startE2eProject(pipelines, {}, { extensionsDir: EXAMPLES });
  });

  afterAll(async () => {
    await e2e?.stop();
    await new Promise((resolve) => feed?.server.close(resolve));
  });

  it('syncs the source into DynamoDB, quarantines the record the validator refuses, and passes Verify', async () => {
    // Act
    const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    const run = await waitForRun(e2e.stack, started.body.runId);

    // Assess
    expect(run, JSON.stringify(run.failure)).toMatchObject({ status: 'succeeded' });
    expect(run.verify.status).toBe('passed');
    expect(run.counts).toMatchObject({ extracted: 5, loaded: 4, quarantined: 1, deadLettered: 0 });
    const items = await scanTable(e2e.clients, TARGET);
    expect([...items.keys()].sort()).toEqual(['ORD-000001', 'ORD-000002', 'ORD-000003', 'ORD-000004']);
    expect(items.get('ORD-000003')).toMatchObject({ amount: 30, updated_at: order(3, 3).updated_at });
    const [quarantine] = await listKeys(e2e.clients, e2e.dataBucket, `quarantine/${PIPELINE}/`);
    const held = JSON.parse(await readObject(e2e.clients, e2e.dataBucket, quarantine ?? '')) as {
      entries: { record: { key: string }; reasons: { rule: string; message: string }[] }[];
    };
    expect(held.entries.map((e) => [e.record.key, e.reasons])).toEqual([
      [
        'X-7',
        [
          {
            field: 'order_id',
            rule: 'custom',
            message: 'order-id: is not an order id (ORD- and six digits)',
          },
        ],
      ],
    ]);
  });

  it('reads only what changed after the checkpoint on the next run', async () => {
    // Prepare
    orders = orders.map((o) => (o.order_id === 'ORD-000002' ? order(2, 20, 999) : o));
    orders.push(order(5, 21));

    // Act
    const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    const run = await waitForRun(e2e.stack, started.body.runId);

    // Assess
    expect(run, JSON.stringify(run.failure)).toMatchObject({ status: 'succeeded' });
    expect(run.verify.status).toBe('passed');
    expect(run.counts).toMatchObject({ extracted: 2, loaded: 2, quarantined: 0 });
    const items = await scanTable(e2e.clients, TARGET);
    expect(items.get('ORD-000002')).toMatchObject({ amount: 999 });
    expect(items.has('ORD-000005')).toBe(true);
    expect(items.size).toBe(5);
  });
});

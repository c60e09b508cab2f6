import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueueName, ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import {
  issueOpenedBody,
  postGithubDelivery,
  putStockChanges,
  type StockChange,
  shuffled,
} from '../support/e2e-events.ts';
import {
  callApi,
  createProject,
  E2E_PRINCIPAL,
  type E2eProject,
  type E2eStack,
  examplePipeline,
  listKeys,
  readObject,
  scanTable,
  startE2eStack,
} from '../support/e2e-stack.ts';

const GITHUB_SECRET = 'e2e-github-webhook-secret';
const INVENTORY = ownedTargetTableName('dev', 'inventory-cdc');

/** The UTC days a stream ledger scope may be named after while the test runs. */
const days = (since: number) => [
  ...new Set([since, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
];

describe('pushed changes on the local stack: webhooks, CDC events and conflicts', () => {
  let project: E2eProject;
  let e2e: E2eStack;

  beforeAll(async () => {
    project = createProject({
      'github-issues': examplePipeline('github-issues'),
      'inventory-cdc': examplePipeline('inventory-cdc'),
    });
    e2e = await startE2eStack(project, { 'esync/demo/github-webhook': GITHUB_SECRET });
  });

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
  });

  it('lands accepted GitHub deliveries in the S3 lake once each, deduplicates a redelivery and refuses a forgery', async () => {
    // Prepare
    const since = Date.now();
    const issues = [1, 2, 3].map((n) => ({
      id: 900_000 + n,
      number: n,
      title: `e2e issue ${n}`,
      updatedAt: `2026-05-0${n}T10:00:00Z`,
    }));
    const forged = { id: 900_666, number: 666, title: 'forged issue', updatedAt: '2026-05-09T10:00:00Z' };
    const bodies = issues.map(issueOpenedBody);
    const deliver = (id: string, body: string, secret = GITHUB_SECRET) =>
      postGithubDelivery(e2e.stack.apiUrl, 'github-issues', { event: 'issues', id, body, secret });
    const loadQueue = e2e.stack.eventSources.get(loadQueueName('dev', 'github-issues'));

    // Act
    const accepted = [];
    for (const [i, body] of bodies.entries()) accepted.push(await deliver(`e2e-delivery-${i}`, body));
    await e2e.stack.idle();
    const lakeBefore = await listKeys(e2e.clients, e2e.dataBucket, 'lake/github-issues/');
    const receivedBefore = loadQueue?.stats.received;
    const duplicate = await deliver('e2e-delivery-0', bodies[0] ?? '');
    const refused = await deliver('e2e-delivery-forged', issueOpenedBody(forged), 'not-the-secret');
    await e2e.stack.idle();

    // Assess
    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(duplicate.status).toBe(202);
    expect(JSON.parse(duplicate.text)).toEqual(JSON.parse(accepted[0]?.text ?? '{}'));
    expect(refused.status).toBe(401);
    // Neither the redelivery nor the forgery put a message on the load queue.
    expect(receivedBefore).toBe(3);
    expect(loadQueue?.stats.received).toBe(receivedBefore);

    const lakeKeys = await listKeys(e2e.clients, e2e.dataBucket, 'lake/github-issues/');
    expect(lakeKeys).toEqual(lakeBefore);
    const lines: { key: string; op: string; data: { title?: string } }[] = [];
    for (const key of lakeKeys) {
      expect(key).toMatch(/^lake\/github-issues\/dt=\d{4}-\d{2}-\d{2}\/.+\.jsonl$/);
      const text = await readObject(e2e.clients, e2e.dataBucket, key);
      lines.push(
        ...text
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
    }
    expect(lines.map((l) => [l.key, l.op, l.data.title]).sort()).toEqual(
      issues.map((i) => [`issue#${i.id}`, 'upsert', i.title]).sort(),
    );

    let messages = 0;
    let loaded = 0;
    for (const day of days(since)) {
      const totals = await e2e.state.ledger.totals(keys.ledgerScopeOfStream('github-issues', day));
      messages += totals.messages;
      loaded += totals.loaded;
    }
    expect({ messages, loaded }).toEqual({ messages: 3, loaded: 3 });
  });

  it('ends out-of-order and duplicated CDC events at the newest version per key, with deletes as tombstones that late events cannot undo', async () => {
    // Prepare
    const skus = Array.from({ length: 8 }, (_, i) => `E2E-SKU-${i + 1}`);
    const version = (v: number): StockChange[] =>
      skus.map((sku, i) => ({
        sku,
        lsn: 1000 * v + i,
        ...(v === 3 && i >= 6
          ? {}
          : { after: { quantity: 10 * (i + 1) + v, price: 5 + v, location: `A${i + 1}-v${v}` } }),
      }));
    const [v1, v2, v3] = [version(1), version(2), version(3)];

    // Act
    await putStockChanges(e2e.clients, e2e.stack.env.ESYNC_EVENT_BUS ?? '', shuffled(v1, 7));
    await e2e.stack.idle();
    await putStockChanges(
      e2e.clients,
      e2e.stack.env.ESYNC_EVENT_BUS ?? '',
      shuffled([...v3, ...v3.slice(0, 3)], 11),
    );
    await e2e.stack.idle();
    // Late: the middle versions, and the first ones again, after the newest were applied.
    await putStockChanges(
      e2e.clients,
      e2e.stack.env.ESYNC_EVENT_BUS ?? '',
      shuffled([...v2, ...v1.slice(4)], 13),
    );
    await e2e.stack.idle();

    // Assess
    const items = await scanTable(e2e.clients, INVENTORY);
    for (const change of v3) {
      const item = items.get(change.sku);
      if (change.after) {
        expect(item, change.sku).toMatchObject({ ...change.after, sku: change.sku });
        expect(item?._d, change.sku).not.toBe(true);
      } else {
        expect(item?._d, `${change.sku} is a tombstone`).toBe(true);
        expect(item?.quantity, `${change.sku} keeps no data`).toBeUndefined();
      }
    }
    const conflicts = await callApi<{ conflicts: unknown[] }>(
      e2e.stack,
      'GET',
      '/conflicts?pipeline=inventory-cdc',
    );
    expect(conflicts.body.conflicts).toEqual([]);
  });

  it('parks a change to a field both sides edited and applies the resolution chosen through the API, with an audit entry', async () => {
    // Prepare
    const sku = 'E2E-CONFLICT-1';
    const bus = e2e.stack.env.ESYNC_EVENT_BUS ?? '';
    await putStockChanges(e2e.clients, bus, [
      { sku, lsn: 5000, after: { quantity: 5, price: 10, location: 'A1' } },
    ]);
    await e2e.stack.idle();
    // The store moves the item in the target while the warehouse moves it in the source.
    await e2e.clients.ddb.send(
      new UpdateCommand({
        TableName: INVENTORY,
        Key: { pk: sku },
        UpdateExpression: 'SET #l = :l',
        ExpressionAttributeNames: { '#l': 'location' },
        ExpressionAttributeValues: { ':l': 'MOVED-BY-STORE' },
      }),
    );
    await putStockChanges(e2e.clients, bus, [
      { sku, lsn: 5001, after: { quantity: 6, price: 10, location: 'B7' } },
    ]);
    await e2e.stack.idle();
    const parkedItem = (await scanTable(e2e.clients, INVENTORY)).get(sku);
    const open = await callApi<{ conflicts: { id: string; key: string; fields: string[] }[] }>(
      e2e.stack,
      'GET',
      '/conflicts?pipeline=inventory-cdc&status=open',
    );
    const conflict = open.body.conflicts.find((c) => c.key === sku);

    // Act
    const merged = {
      sku,
      quantity: 6,
      price: 10,
      location: 'MOVED-BY-STORE',
      updated_at: '2026-09-21T12:00:00.000Z',
    };
    const resolved = await callApi(
      e2e.stack,
      'POST',
      `/conflicts/${encodeURIComponent(conflict?.id ?? '')}/resolve`,
      {
        choice: 'merged',
        data: merged,
        reason: 'the store move stands; the new count is right',
      },
    );
    const again = await callApi(
      e2e.stack,
      'POST',
      `/conflicts/${encodeURIComponent(conflict?.id ?? '')}/resolve`,
      {
        choice: 'source',
        reason: 'second thoughts',
      },
    );

    // Assess
    expect(parkedItem).toMatchObject({ quantity: 5, location: 'MOVED-BY-STORE' });
    expect(conflict?.fields).toEqual(['location']);
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ status: 'resolved', choice: 'merged', applied: true });
    expect(again.status).toBe(409);

    const item = (await scanTable(e2e.clients, INVENTORY)).get(sku);
    expect(item).toMatchObject({ ...merged, _v: resolved.body.version });
    const shown = await callApi<{ status: string; resolution: { choice: string; by: string } }>(
      e2e.stack,
      'GET',
      `/conflicts/${encodeURIComponent(conflict?.id ?? '')}`,
    );
    expect(shown.body).toMatchObject({
      status: 'resolved',
      resolution: { choice: 'merged', by: E2E_PRINCIPAL },
    });
    const audit = await e2e.state.audit.list('inventory-cdc');
    expect(audit.filter((a) => a.action === 'conflict.resolve')).toEqual([
      expect.objectContaining({
        who: E2E_PRINCIPAL,
        why: 'the store move stands; the new count is right',
        what: expect.objectContaining({
          conflictId: conflict?.id,
          key: sku,
          choice: 'merged',
          applied: true,
        }),
      }),
    ]);
  });
});

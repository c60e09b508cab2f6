import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PGlite } from '@electric-sql/pglite';
import { ApiError, apiPath, ManagementClient } from '../cli/api-client.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { type AwsClients, createAwsClients } from '../shared/aws/clients.ts';
import { type RunCounts, runCountsOf } from '../shared/domain/run-counts.ts';
import { ownedTargetTableName } from '../shared/naming.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';
import { createStateRepositories, type StateRepositories } from '../shared/state/index.ts';
import { keys } from '../shared/state/keys.ts';
import type { RunRecord } from '../shared/state/runs.ts';
import { changeUsers, seedUsers, startDemoDatabase } from './demo-db.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface DemoRow extends Readonly<RunCounts> {
  readonly pipeline: string;
  readonly what: string;
  readonly verify: string;
  readonly durationMs: number;
  readonly costUsd: number;
}

export interface DemoReport {
  readonly rows: DemoRow[];
  /** Checks of the targets' final content: each must hold for the demo to pass. */
  readonly checks: { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  /** One line for each figure of the table that could surprise, saying where it comes from. */
  readonly notes: string[];
  readonly totalMs: number;
}

/** What the demo sent, to explain the table's figures by. */
interface DemoInputs {
  readonly changedRows: number;
  readonly lookbackSeconds: number;
  readonly cdcEvents: number;
  readonly cdcRepeats: number;
  readonly cdcAfterConflict: number;
  readonly deliveries: number;
}

/** A polling pipeline's lookback in seconds (0 for one without it). */
function lookbackOf(pipelines: readonly Pipeline[], name: string): number {
  const source = pipelines.find((p) => p.name === name)?.source;
  return source && 'lookbackSeconds' in source ? Number(source.lookbackSeconds ?? 0) : 0;
}

/** The notes under the table: why extracted exceeds what changed, row by row. */
export function explainFigures(rows: readonly DemoRow[], inputs: DemoInputs): string[] {
  const row = (pipeline: string, what: string) =>
    rows.find((r) => r.pipeline === pipeline && r.what === what);
  const notes: string[] = [];
  const incremental = row('users-sync', 'incremental');
  if (incremental)
    notes.push(
      `users-sync incremental: ${incremental.extracted} extracted for ${inputs.changedRows} changed rows, because the ${inputs.lookbackSeconds} s lookback re-reads rows changed just before the checkpoint; the ${incremental.skipped} already loaded are skipped, not written again`,
    );
  const cdc = row('inventory-cdc', 'CDC events');
  if (cdc)
    notes.push(
      `inventory-cdc: ${cdc.extracted} extracted = ${inputs.cdcEvents} events + ${inputs.cdcRepeats} sent twice + ${inputs.cdcAfterConflict} after the store moved SKU-1; the ${cdc.skipped} skipped were repeats or older than the version already applied`,
    );
  const webhooks = row('github-issues', 'webhooks');
  if (webhooks)
    notes.push(
      `github-issues: ${inputs.deliveries} signed deliveries answered 202 carried ${webhooks.extracted} records (a delivery maps to the records its event holds); the repeated delivery id is answered 202 from the first without a second change, the forged one 401`,
    );
  return notes;
}

export interface DemoOptions {
  readonly users?: number;
  readonly log?: (line: string) => void;
}

/** Who the demo's management calls are made as, in the audit log. */
const DEMO_PRINCIPAL = 'arn:aws:iam::000000000000:user/demo';

const managementApi = (stack: LocalStack) =>
  new ManagementClient(stack.apiUrl, { localPrincipal: DEMO_PRINCIPAL });

/** Starts a run through the management API and waits for its end. */
export async function runAndWait(
  stack: LocalStack,
  pipeline: string,
  timeoutMs = 120_000,
): Promise<RunRecord> {
  const api = managementApi(stack);
  const started = await api.post(apiPath('pipelines', pipeline, 'runs'));
  const runId = String(started.runId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await api
      .get<{ run?: RunRecord } & RunRecord>(apiPath('runs', runId))
      .catch((error: unknown) => {
        if (error instanceof ApiError) return undefined;
        throw error;
      });
    const run = body?.run ?? body;
    if (run && run.status !== 'running') return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} of ${pipeline} did not end within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function rowOfRun(pipeline: string, what: string, run: RunRecord): DemoRow {
  return {
    pipeline,
    what,
    ...run.counts,
    verify: String(run.verify?.status ?? 'n/a'),
    durationMs: run.endedAt ? Date.parse(run.endedAt) - Date.parse(run.startedAt) : 0,
    costUsd: run.cost?.usd ?? 0,
  };
}

function signGithub(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * The end-to-end demo on the local stack: a batch sync and its incremental rerun, signed
 * webhooks with a duplicate and a forgery, and out-of-order CDC events with a parked conflict.
 * Returns the figures and the checks of every target's final content.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const users = options.users ?? 10_000;
  // The demo prints its own report: the handlers' expected refusals (the forged webhook) stay quiet.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  const db = await startDemoDatabase();
  const githubSecret = randomBytes(24).toString('hex');
  let stack: LocalStack | undefined;
  try {
    log(`seeding ${users} users into the embedded PostgreSQL`);
    const seeded = await seedUsers(db.db, users);
    stack = await startLocalStack({
      pipelinesDir: path.join(repoRoot, 'pipelines'),
      secrets: {
        'esync/demo/users-db': db.secretValue,
        'esync/demo/orders-db': db.secretValue,
        'esync/demo/github-webhook': githubSecret,
      },
      schedules: false,
      writeDevFile: false,
      waitOverrideMs: 100,
      log: () => {},
    });
    const clients = createAwsClients();
    const demo: Demo = {
      stack,
      clients,
      state: createStateRepositories(clients.ddb, stack.env.ESYNC_STATE_TABLE ?? ''),
      log,
      rows: [],
      checks: [],
    };
    const changedRows = await batchSync(demo, db.db, users - seeded.invalid, seeded.invalid);
    const webhooks = await signedWebhooks(demo, githubSecret);
    const cdc = await outOfOrderCdc(demo);
    await streamRows(demo, [
      ['github-issues', 'webhooks', webhooks.started],
      ['inventory-cdc', 'CDC events', cdc.started],
    ]);
    const notes = explainFigures(demo.rows, {
      changedRows,
      lookbackSeconds: lookbackOf(stack.pipelines, 'users-sync'),
      cdcEvents: cdc.events,
      cdcRepeats: cdc.repeats,
      cdcAfterConflict: 1,
      deliveries: webhooks.deliveries,
    });
    return { rows: demo.rows, checks: demo.checks, notes, totalMs: Date.now() - started };
  } finally {
    await stack?.stop();
    await db.stop();
  }
}

/** What the demo's scenarios share: the stack, clients, and the report they add to. */
interface Demo {
  readonly stack: LocalStack;
  readonly clients: AwsClients;
  readonly state: StateRepositories;
  readonly log: (line: string) => void;
  readonly rows: DemoRow[];
  readonly checks: Array<DemoReport['checks'][number]>;
}

async function scanAll(clients: AwsClients, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** users-sync: a full load, then 50 renames and 5 deletes moved by an incremental run. Returns the rows changed. */
async function batchSync(demo: Demo, db: PGlite, validUsers: number, invalidUsers: number): Promise<number> {
  const { stack, clients, log, rows, checks } = demo;
  const usersTable = ownedTargetTableName(stack.stage, 'users-sync');
  log('users-sync: first run (full load) through the state machine');
  const first = await runAndWait(stack, 'users-sync');
  rows.push(rowOfRun('users-sync', 'full load', first));
  const live = (await scanAll(clients, usersTable)).filter((i) => i._d !== true);
  checks.push({
    name: 'users-sync target holds every valid user',
    ok: first.status === 'succeeded' && live.length === validUsers,
    detail: `${live.length} items, expected ${validUsers} (${invalidUsers} invalid quarantined); run ${first.status}`,
  });

  log('users-sync: 50 users renamed, 5 deleted; second run moves only the changes');
  await changeUsers(db, { count: 50, deletes: 5, at: new Date() });
  const second = await runAndWait(stack, 'users-sync');
  rows.push(rowOfRun('users-sync', 'incremental', second));
  const after = await scanAll(clients, usersTable);
  const renamed = after.filter(
    (i) => typeof i.name === 'string' && i.name.endsWith('(renamed)') && i._d !== true,
  ).length;
  const tombstones = after.filter((i) => i._d === true).length;
  checks.push({
    name: 'incremental run applied exactly the changes',
    ok: second.status === 'succeeded' && renamed === 50 && tombstones === 5 && second.counts.extracted < 200,
    detail: `${second.counts.extracted} extracted, ${renamed} renamed, ${tombstones} deleted`,
  });
  return renamed + tombstones;
}

/** github-issues: signed deliveries, one of them twice, and one forged. */
async function signedWebhooks(
  demo: Demo,
  githubSecret: string,
): Promise<{ started: number; deliveries: number }> {
  demo.log('github-issues: signed deliveries, one twice, one forged');
  const started = Date.now();
  const deliveries = [
    ['issues', 'issues.opened'],
    ['issues', 'issues.edited'],
    ['issue_comment', 'issue_comment.created'],
    ['push', 'push'],
  ] as const;
  const post = async (event: string, file: string, id: string, secret: string) => {
    const body = readFileSync(path.join(repoRoot, 'events', 'github', `${file}.json`), 'utf8');
    const response = await fetch(`${demo.stack.apiUrl}/webhooks/github-issues`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': id,
        'x-hub-signature-256': signGithub(secret, body),
      },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  };
  const statuses: number[] = [];
  for (const [i, [event, file]] of deliveries.entries())
    statuses.push(await post(event, file, `demo-delivery-${i}`, githubSecret));
  const duplicate = await post('issues', 'issues.opened', 'demo-delivery-0', githubSecret);
  const forged = await post('issues', 'issues.opened', 'demo-delivery-forged', 'not-the-secret');
  demo.checks.push({
    name: 'webhooks: accepted 202, duplicate deduplicated, forgery refused 401',
    ok: statuses.every((s) => s === 202) && duplicate === 202 && forged === 401,
    detail: `answers ${statuses.join(',')}; duplicate ${duplicate}; forged ${forged}`,
  });
  return { started, deliveries: deliveries.length };
}

/** One inventory change as the demo sends it. */
interface InventoryChange {
  readonly sku: string;
  readonly lsn: number;
  readonly quantity: number;
  readonly price: number;
  readonly location: string;
  readonly deleted: boolean;
}

/**
 * inventory-cdc: 60 change events for 20 SKUs, shuffled and partly sent twice, then a change of a
 * location that the store moved meanwhile, which is a conflict to park.
 */
async function outOfOrderCdc(demo: Demo): Promise<{ started: number; events: number; repeats: number }> {
  const { stack, clients } = demo;
  demo.log('inventory-cdc: 60 change events for 20 SKUs, shuffled and partly duplicated');
  const started = Date.now();
  const events: InventoryChange[] = [];
  let lsn = 1000;
  for (let v = 0; v < 3; v++)
    for (let s = 1; s <= 20; s++)
      events.push({
        sku: `SKU-${s}`,
        lsn: ++lsn,
        quantity: s * 10 + v,
        price: 10 + v,
        location: `A${s}`,
        deleted: s === 20 && v === 2,
      });
  const repeats = events.slice(0, 10);
  const shuffled = [...events, ...repeats].sort(() => Math.random() - 0.5);
  const bus = stack.env.ESYNC_EVENT_BUS;
  for (let i = 0; i < shuffled.length; i += 10) await putChanges(clients, bus, shuffled.slice(i, i + 10));
  await stack.idle(60_000);
  const inventoryTable = ownedTargetTableName(stack.stage, 'inventory-cdc');
  // Someone else moves SKU-1 in the target; the next change of its location is a conflict to park.
  await clients.ddb.send(
    new UpdateCommand({
      TableName: inventoryTable,
      Key: { pk: 'SKU-1' },
      UpdateExpression: 'SET #l = :l',
      ExpressionAttributeNames: { '#l': 'location' },
      ExpressionAttributeValues: { ':l': 'MOVED-BY-STORE' },
    }),
  );
  await putChanges(clients, bus, [
    { sku: 'SKU-1', lsn: 5000, quantity: 99, price: 12, location: 'B7', deleted: false },
  ]);
  await stack.idle(60_000);
  await checkInventory(demo, inventoryTable, events);
  return { started, events: events.length, repeats: repeats.length };
}

/** Puts changes on the bus as Debezium-shaped `esync.cdc` events. */
function putChanges(
  clients: AwsClients,
  eventBusName: string | undefined,
  batch: readonly InventoryChange[],
) {
  return clients.eventBridge.send(
    new PutEventsCommand({
      Entries: batch.map((e) => ({
        EventBusName: eventBusName,
        Source: 'esync.cdc',
        DetailType: 'inventory.change',
        Detail: JSON.stringify({
          before: e.deleted ? { sku: e.sku } : null,
          after: e.deleted
            ? null
            : {
                sku: e.sku,
                quantity: e.quantity,
                price: e.price,
                location: e.location,
                updated_at: new Date(1_795_000_000_000 + e.lsn * 1000).toISOString(),
              },
          op: e.deleted ? 'd' : 'u',
          source: {
            connector: 'postgresql',
            db: 'shop',
            table: 'inventory',
            lsn: e.lsn,
            ts_ms: 1_795_000_000_000 + e.lsn * 1000,
          },
          ts_ms: 1_795_000_000_000 + e.lsn * 1000,
        }),
      })),
    }),
  );
}

/** Every SKU at its newest change but SKU-1, whose location change is parked as one conflict. */
async function checkInventory(demo: Demo, inventoryTable: string, events: readonly InventoryChange[]) {
  const inventory = await scanAll(demo.clients, inventoryTable);
  const latest = new Map<string, InventoryChange>();
  for (const e of events) latest.set(e.sku, e);
  const wrong = [...latest.values()].filter((e) => {
    if (e.sku === 'SKU-1') return false;
    const item = inventory.find((i) => i.pk === e.sku);
    return e.deleted ? item !== undefined && item._d !== true : item?.quantity !== e.quantity;
  });
  const sku1 = inventory.find((i) => i.pk === 'SKU-1');
  const conflicts = await demo.state.conflicts.list({ pipeline: 'inventory-cdc' });
  demo.checks.push({
    name: 'CDC: out-of-order events end at the newest version; a two-sided location change is parked',
    ok:
      wrong.length === 0 &&
      sku1?.quantity === 12 &&
      sku1?.location === 'MOVED-BY-STORE' &&
      conflicts.conflicts.length === 1,
    detail: `${wrong.length} SKUs wrong; SKU-1 quantity ${String(sku1?.quantity)} location ${String(sku1?.location)}; ${conflicts.conflicts.length} conflict(s) open`,
  });
}

/** The rows of streamed pipelines, from today's ledger totals. */
async function streamRows(
  demo: Demo,
  streams: ReadonlyArray<readonly [string, string, number]>,
): Promise<void> {
  const day = new Date().toISOString().slice(0, 10);
  for (const [pipeline, what, since] of streams) {
    const totals = await demo.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, day));
    demo.rows.push({
      pipeline,
      what,
      ...runCountsOf(totals),
      verify: 'n/a',
      durationMs: Date.now() - since,
      costUsd: 0,
    });
  }
}

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { AwsClients } from '../../shared/aws/clients.ts';
import { REPO_ROOT } from './e2e-stack.ts';

/**
 * A real GitHub payload example (`<event>.<action>`), from the repository's copy of the shared
 * fixtures (octokit/webhooks payload examples), as JSON text.
 */
export function githubFixture(name: string): string {
  return readFileSync(
    path.join(REPO_ROOT, 'test', 'unit', 'webhooks', 'fixtures', 'github', `${name}.payload.json`),
    'utf8',
  );
}

/** `X-Hub-Signature-256` of a body, as GitHub computes it. */
export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * The body of `events/github/issues.opened.json` turned into another issue: its id, number,
 * title and `updated_at` replaced.
 */
export function issueOpenedBody(issue: {
  id: number;
  number: number;
  title: string;
  updatedAt: string;
}): string {
  const payload = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'events', 'github', 'issues.opened.json'), 'utf8'),
  ) as { issue: Record<string, unknown> };
  payload.issue = {
    ...payload.issue,
    id: issue.id,
    number: issue.number,
    title: issue.title,
    updated_at: issue.updatedAt,
  };
  return JSON.stringify(payload);
}

/** Posts a GitHub delivery to the webhook route; returns the status and the answer's text. */
export async function postGithubDelivery(
  apiUrl: string,
  pipeline: string,
  delivery: { event: string; id: string; body: string; secret: string },
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${apiUrl}/webhooks/${pipeline}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': delivery.event,
      'x-github-delivery': delivery.id,
      'x-hub-signature-256': githubSignature(delivery.secret, delivery.body),
    },
    body: delivery.body,
  });
  return { status: response.status, text: await response.text() };
}

/** One inventory change as Debezium captures it from PostgreSQL; `lsn` orders the changes. */
export interface StockChange {
  readonly sku: string;
  readonly lsn: number;
  /** Absent for a delete. */
  readonly after?: { readonly quantity: number; readonly price: number; readonly location: string };
}

/** Epoch ms of a change: derived from its LSN, so later positions are later in time too. */
const changeTime = (lsn: number) => 1_790_000_000_000 + lsn * 1000;

function debeziumDetail(change: StockChange): string {
  const ts = changeTime(change.lsn);
  return JSON.stringify({
    before: change.after ? null : { sku: change.sku },
    after: change.after ? { sku: change.sku, ...change.after, updated_at: new Date(ts).toISOString() } : null,
    op: change.after ? 'u' : 'd',
    source: { connector: 'postgresql', db: 'shop', table: 'inventory', lsn: change.lsn, ts_ms: ts },
    ts_ms: ts,
  });
}

/**
 * Puts change events on the ESync bus in the given order, 10 per PutEvents call (the API's
 * limit), with source `esync.cdc` and (by default) the detail-type inventory-cdc's rule matches.
 */
export async function putStockChanges(
  clients: AwsClients,
  eventBus: string,
  changes: readonly StockChange[],
  detailType = 'inventory.change',
): Promise<void> {
  await putChangeDetails(clients, eventBus, changes.map(debeziumDetail), detailType);
}

/**
 * Puts events with these details (JSON text, or values to serialize) on the ESync bus in order,
 * 10 per PutEvents call, with source `esync.cdc` and the given detail-type.
 */
export async function putChangeDetails(
  clients: AwsClients,
  eventBus: string,
  details: readonly (string | object)[],
  detailType: string,
): Promise<void> {
  for (let i = 0; i < details.length; i += 10) {
    const out = await clients.eventBridge.send(
      new PutEventsCommand({
        Entries: details.slice(i, i + 10).map((detail) => ({
          EventBusName: eventBus,
          Source: 'esync.cdc',
          DetailType: detailType,
          Detail: typeof detail === 'string' ? detail : JSON.stringify(detail),
        })),
      }),
    );
    if ((out.FailedEntryCount ?? 0) > 0)
      throw new Error(`PutEvents refused entries: ${JSON.stringify(out.Entries)}`);
  }
}

/** A fixed permutation (a seeded shuffle), so a failing order can be replayed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

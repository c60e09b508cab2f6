import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SdkClient } from '../../shared/aws/clients.ts';
import { decodeChangeEvent } from '../../shared/cdc/index.ts';
import { createTransform } from '../../shared/domain/transform.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { contentHash } from '../../shared/records/hash.ts';
import { compareVersions } from '../../shared/records/version.ts';
import { type FaultCounter, shuffled } from './chaos-faults.ts';
import type { ExpectedRecord } from './chaos-invariants.ts';

/** One Debezium change of the inventory table. */
export interface InventoryChange {
  readonly sku: string;
  readonly lsn: number;
  readonly op: 'c' | 'u' | 'd';
  readonly quantity: number;
  readonly price: number;
}

export const CDC_SOURCE = 'esync.chaos';
export const CDC_DETAIL_TYPE = 'inventory.change';
const EPOCH_MS = 1_795_000_000_000;

/**
 * The change history of `skus` items: two to five changes each, some deleted at the end and some
 * deleted then created again, with log positions increasing across the whole history.
 */
export function inventoryHistory(skus: number, random: () => number): InventoryChange[] {
  const bySku: { sku: string; changes: number; deleteAt: number }[] = [];
  for (let s = 1; s <= skus; s++) {
    const changes = 2 + Math.floor(random() * 4);
    const roll = random();
    // A tenth end deleted; a twentieth are deleted in the middle and created again.
    const deleteAt = roll < 0.1 ? changes - 1 : roll < 0.15 ? Math.floor(changes / 2) : -1;
    bySku.push({ sku: `SKU-${String(s).padStart(6, '0')}`, changes, deleteAt });
  }
  const history: InventoryChange[] = [];
  let lsn = 10_000;
  const longest = Math.max(...bySku.map((s) => s.changes));
  for (let step = 0; step < longest; step++)
    for (const item of bySku) {
      if (step >= item.changes) continue;
      const op = step === item.deleteAt ? 'd' : step === 0 || step === item.deleteAt + 1 ? 'c' : 'u';
      // Price changes every other step only: a merge that mistook a stale field for a target-side
      // edit would keep it, and show as a content mismatch.
      history.push({
        sku: item.sku,
        lsn: ++lsn,
        op,
        quantity: step * 10 + (lsn % 7),
        price: 5 + Math.floor(step / 2),
      });
    }
  return history;
}

/** The Debezium envelope of a change, as a producer puts it on the bus. */
export function debeziumDetail(change: InventoryChange): Record<string, unknown> {
  const row = {
    sku: change.sku,
    quantity: change.quantity,
    price: change.price,
    location: `aisle-${change.sku.slice(-2)}`,
    updated_at: new Date(EPOCH_MS + change.lsn * 1000).toISOString(),
  };
  const ts = EPOCH_MS + change.lsn * 1000;
  return {
    before: change.op === 'c' ? null : { sku: change.sku },
    after: change.op === 'd' ? null : row,
    op: change.op,
    source: { connector: 'postgresql', db: 'shop', table: 'inventory', lsn: change.lsn, ts_ms: ts },
    ts_ms: ts,
  };
}

export interface CdcDelivery {
  readonly order: InventoryChange[];
  readonly duplicates: number;
  readonly outOfOrder: number;
}

/**
 * The order the changes reach the bus in: shuffled, with a `duplicateRate` share sent twice.
 * Counts the duplicates and the events that arrive after a newer change of their key.
 */
export function deliveryOrder(
  history: readonly InventoryChange[],
  duplicateRate: number,
  random: () => number,
): CdcDelivery {
  const copies = history.filter(() => random() < duplicateRate);
  const order = shuffled([...history, ...copies], random);
  const newest = new Map<string, number>();
  let outOfOrder = 0;
  for (const change of order) {
    const seen = newest.get(change.sku) ?? 0;
    if (change.lsn < seen) outOfOrder++;
    else newest.set(change.sku, change.lsn);
  }
  return { order, duplicates: copies.length, outOfOrder };
}

/** Puts the changes on the bus, ten per PutEvents call, `concurrency` calls at a time. */
export async function putChanges(
  eventBridge: SdkClient<EventBridgeClient>,
  busName: string,
  delivery: CdcDelivery,
  faults: FaultCounter,
  concurrency = 4,
): Promise<void> {
  const calls: InventoryChange[][] = [];
  for (let i = 0; i < delivery.order.length; i += 10) calls.push(delivery.order.slice(i, i + 10));
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const batch = calls[next++] as InventoryChange[];
      const out = await eventBridge.send(
        new PutEventsCommand({
          Entries: batch.map((change) => ({
            EventBusName: busName,
            Source: CDC_SOURCE,
            DetailType: CDC_DETAIL_TYPE,
            Detail: JSON.stringify(debeziumDetail(change)),
          })),
        }),
      );
      if ((out.FailedEntryCount ?? 0) > 0)
        throw new Error(`the bus refused ${out.FailedEntryCount} of ${batch.length} change events`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  faults.add('cdcDuplicate', delivery.duplicates);
  faults.add('cdcOutOfOrder', delivery.outOfOrder);
}

/**
 * What the target must hold per SKU: the newest change, decoded and transformed by the pipeline's
 * own code, so the comparison is the one the pipeline is meant to satisfy.
 */
export function expectedInventory(
  pipeline: Pipeline,
  history: readonly InventoryChange[],
  maskKey: string,
): Map<string, ExpectedRecord> {
  const transform = createTransform(pipeline.transform, { hashKey: maskKey });
  const expected = new Map<string, ExpectedRecord>();
  for (const [i, change] of history.entries()) {
    const event = {
      version: '0',
      id: `expected-${i}`,
      'detail-type': CDC_DETAIL_TYPE,
      source: CDC_SOURCE,
      time: new Date().toISOString(),
      detail: debeziumDetail(change),
    };
    const decoding = decodeChangeEvent(pipeline, event);
    for (const record of decoding.kind === 'changes' ? decoding.records : []) {
      const held = expected.get(record.key);
      if (held && compareVersions(held.version, record.version) >= 0) continue;
      expected.set(record.key, {
        version: record.version,
        hash: record.op === 'delete' || record.data === null ? null : contentHash(transform(record.data)),
      });
    }
  }
  return expected;
}

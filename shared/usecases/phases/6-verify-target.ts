/**
 * What a Verify partition reads of the target, besides the keys it looks up one by one: the
 * live records of its key range, to find the keys the source no longer has (`deletes.mode:
 * verify`) and, for an S3 lake (no per-key state), to compare with.
 *
 * - A PostgreSQL target reads the range itself (`WHERE key > after AND key <= upTo`, text by
 *   code point as the SQL sources cut ranges; see `targets/postgres/key-order.ts`).
 * - A DynamoDB table is keyed by a hash key alone: no index keeps its keys sorted, and a Scan
 *   with a filter on the key still reads (and is billed for) the whole table. An S3 lake is laid
 *   out by change day and queue message, not by key. For these the Verify plan reads the target
 *   once and cuts the records into one slice per partition in S3, so a run reads the target once,
 *   not once per partition; each partition reads its own slice.
 */
import { getJsonObject, putJsonObject } from '../../aws/s3-json.ts';
import type { Partition, TargetConnector, TargetSnapshotRecord } from '../../connectors/types.ts';
import {
  compareKeyTuples,
  inKeyRange,
  type KeyPart,
  type KeyRange,
  type KeyTuple,
} from '../../domain/key-range.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import type { Deps } from '../deps.ts';
import type { VerifyItem } from './6-verify-partition.ts';

/** Sources whose partitions are ranges of the `source.key` fields. */
const KEY_RANGED_SOURCES: ReadonlySet<string> = new Set(['postgres', 'mysql']);
/** Targets that read one key range by themselves. */
const RANGE_READING_TARGETS: ReadonlySet<string> = new Set(['postgres']);
/** Slice records held in memory while the plan reads the target; past it, they go to S3. */
const SLICE_FLUSH_RECORDS = 50_000;

type SliceRecord = [key: string, version: string, hash: string];

/**
 * Whether the pipeline's source plans ranges of the record key as its partitions: ranges of the
 * key fields, unless a key expression makes the record key (its keys need not follow their order).
 */
export const partitionsAreKeyRanges = (pipeline: Pipeline) =>
  KEY_RANGED_SOURCES.has(pipeline.source.type) && pipeline.source.keyExpression === undefined;

/** The key range of a partition that is a range of the record key, else `undefined`. */
export function keyRangeOf(pipeline: Pipeline, partition: Partition): KeyRange | undefined {
  if (!partitionsAreKeyRanges(pipeline)) return undefined;
  return partition.spec.range as KeyRange | undefined;
}

/** A record key as the tuple of its key columns' values; a text value holding `#` stays whole in the last. */
function keyTuple(key: string, width: number): KeyTuple {
  const parts = key.split('#');
  return [...parts.slice(0, width - 1), parts.slice(width - 1).join('#')] as KeyPart[];
}

/** Whether a target key lies in the partition's key range (always, for a partition that is not one). */
export function keysOfPartition(pipeline: Pipeline, partition: Partition): (key: string) => boolean {
  const range = keyRangeOf(pipeline, partition);
  if (!range) return () => true;
  const width = pipeline.source.key.length;
  return (key) => inKeyRange(keyTuple(key, width), range);
}

/** Whether the partition reads the target's records: to find hard deletes, or from an S3 lake. */
function readsTarget(pipeline: Pipeline, item: VerifyItem): boolean {
  return item.findDeletes !== 'none' || pipeline.target.type === 's3';
}

/** Whether the plan reads the target once for all partitions: more than one reads it, none by range. */
function sharesTargetRead(pipeline: Pipeline, items: readonly VerifyItem[]): boolean {
  if (RANGE_READING_TARGETS.has(pipeline.target.type)) return false;
  return items.filter((item) => readsTarget(pipeline, item)).length > 1;
}

/** The index of the item whose key range holds the key (items of a plan are in key order). */
function sliceIndexOf(ranges: readonly (KeyRange | undefined)[], width: number): (key: string) => number {
  if (ranges.some((r) => r === undefined)) return () => 0;
  return (key) => {
    const tuple = keyTuple(key, width);
    let low = 0;
    let high = ranges.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      const upTo = (ranges[middle] as KeyRange).upTo;
      if (upTo === null || compareKeyTuples(tuple, upTo) <= 0) high = middle;
      else low = middle + 1;
    }
    return low;
  };
}

/**
 * The plan's items, each told where its slice of one read of the target lies, when the pipeline's
 * partitions share that read (see the module comment); else the items as they are. The target is
 * read here, before any partition reads the source, as finding hard deletes needs.
 */
export async function sliceTarget(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  items: readonly VerifyItem[],
): Promise<VerifyItem[]> {
  if (!sharesTargetRead(pipeline, items)) return [...items];
  const ranges = items.map((item) => keyRangeOf(pipeline, item.partition as Partition));
  const indexOf = sliceIndexOf(ranges, pipeline.source.key.length);
  const prefix = `reports/${pipeline.name}/${runId}/verify/target/`;
  const held = new Map<number, SliceRecord[]>();
  const chunks = new Map<number, number>();
  let buffered = 0;
  const flush = async () => {
    for (const [index, records] of held) {
      const n = chunks.get(index) ?? 0;
      await putJsonObject(deps.clients.s3, deps.config.dataBucket, `${prefix}${index}/${n}.json`, records);
      chunks.set(index, n + 1);
    }
    held.clear();
    buffered = 0;
  };
  const target = deps.createTarget(pipeline);
  try {
    for await (const page of target.snapshot())
      for (const r of page) {
        const index = indexOf(r.key);
        const records = held.get(index) ?? [];
        if (records.length === 0) held.set(index, records);
        records.push([r.key, r.version, r.hash]);
        if (++buffered >= SLICE_FLUSH_RECORDS) await flush();
      }
  } finally {
    await target.close();
  }
  await flush();
  const shared = ranges.some((r) => r === undefined);
  return items.map((item, i) => {
    const index = shared ? 0 : i;
    return { ...item, targetSlice: { prefix: `${prefix}${index}/`, chunks: chunks.get(index) ?? 0 } };
  });
}

/**
 * The target's live records a partition reads: its slice of the plan's read, its key range read
 * by the target, or every record. `onRead` counts what came from the target (or its slice).
 * Only the partition's keys are yielded.
 */
export async function* partitionTargetRecords(
  deps: Deps,
  pipeline: Pipeline,
  item: VerifyItem,
  target: TargetConnector,
  onRead: (records: number) => void,
): AsyncIterable<TargetSnapshotRecord[]> {
  const partition = item.partition as Partition;
  const holds = keysOfPartition(pipeline, partition);
  const pages = item.targetSlice
    ? sliceRecords(deps, item.targetSlice)
    : target.snapshot(
        RANGE_READING_TARGETS.has(pipeline.target.type) ? keyRangeOf(pipeline, partition) : undefined,
      );
  for await (const page of pages) {
    onRead(page.length);
    yield page.filter((r) => holds(r.key));
  }
}

async function* sliceRecords(
  deps: Deps,
  slice: NonNullable<VerifyItem['targetSlice']>,
): AsyncIterable<TargetSnapshotRecord[]> {
  for (let n = 0; n < slice.chunks; n++) {
    const records = await getJsonObject<SliceRecord[]>(
      deps.clients.s3,
      deps.config.dataBucket,
      `${slice.prefix}${n}.json`,
    );
    yield records.map(([key, version, hash]) => ({ key, version, hash }));
  }
}

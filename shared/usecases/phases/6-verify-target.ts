import type { z } from 'zod';
/**
 * What a Verify partition reads of the target, besides the keys it looks up one by one: the
 * live records of its key range, to find the keys the source no longer has (`deletes.mode:
 * verify`) and, for an S3 lake (no per-key state), to compare with.
 *
 * - A PostgreSQL target reads the range itself (`WHERE key > after AND key <= upTo`, text by
 *   code point as the SQL sources cut ranges, typed key columns by value in their own type; see
 *   `targets/postgres/key-order.ts`).
 * - A DynamoDB table is keyed by a hash key alone: no index keeps its keys sorted, and a Scan
 *   with a filter on the key still reads (and is billed for) the whole table. An S3 lake is laid
 *   out by change day and queue message, not by key. For these a run reads the target once,
 *   split into segments (a parallel Scan; the lake's object list split by object name) that
 *   parallel invocations read, each going on from where the last stopped before its time ran
 *   out; each writes what it reads into one slice per partition in S3, and each partition reads
 *   its own slice: one target read per run, not one per partition, and none in one invocation.
 *
 * Slice objects, under `reports/<pipeline>/<run>/verify/target/`: `ranges.json` (the items' key
 * ranges, written by the plan), `<item>/<segment>-<seq>-<n>.json` (changes `[key, version,
 * hash|null, tie]`), and `segments/<segment>/<seq>.json` (per invocation: whether the segment is
 * done and how many chunks it wrote for each item), written after its chunks.
 */
import { getJsonObject, putJsonObject } from '../../aws/s3-json.ts';
import { keepNewest, liveRecordsOf } from '../../connectors/targets/support/target-changes.ts';
import type {
  Partition,
  TargetChange,
  TargetConnector,
  TargetSegment,
  TargetSize,
  TargetSnapshotRecord,
} from '../../connectors/types.ts';
import { sizeSampleBudget, wholeReadCostsLess } from '../../cost/units.ts';
import {
  compareKeyTuples,
  inKeyRange,
  type KeyPart,
  type KeyRange,
  type KeyTuple,
} from '../../domain/key-range.ts';
import { ConnectorError } from '../../errors.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import type { verifyTargetSegmentInputSchema, verifyTargetSegmentOutputSchema } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import type { VerifyItem } from './6-verify-partition.ts';

export type VerifyTargetSegmentInput = z.infer<typeof verifyTargetSegmentInputSchema>;
export type VerifyTargetSegmentOutput = z.infer<typeof verifyTargetSegmentOutputSchema>;

/** Sources whose partitions are ranges of the `source.key` fields. */
const KEY_RANGED_SOURCES: ReadonlySet<string> = new Set(['postgres', 'mysql']);
/** Targets that read one key range by themselves. */
const RANGE_READING_TARGETS: ReadonlySet<string> = new Set(['postgres']);
/** Slice records an invocation holds in memory; past it, they go to S3. */
const SLICE_FLUSH_RECORDS = 50_000;
/** Records (or lake objects) a segment reads per page, so it checks its time often. */
export const SEGMENT_PAGE = 1000;
/** Records of the target one segment is sized for, when the target tells how many it holds. */
export const RECORDS_PER_SEGMENT = 250_000;
/** Segments of one read at most (the Map over them runs inline, its list in the state). */
export const MAX_TARGET_SEGMENTS = 100;

type SliceRecord = [key: string, version: string, hash: string | null, tie: string];
/** What one segment invocation wrote: whether the segment is done, and its chunks per item. */
interface SegmentIndex {
  readonly done: boolean;
  readonly chunks: Record<string, number>;
}

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

/**
 * Records of the target one partition's slice of a whole read holds at most, as planned: a
 * partition holds its slice in memory while it compares (about 320 bytes a record once read,
 * measured: 75 MB for 250,000, in a function of 1024 MB). A bigger target is read whole all the
 * same, its partitions cut finer (see {@link planTargetRead}).
 */
export const MAX_SLICE_RECORDS = 250_000;

/** Whether every item is a key range of the record key, and so has a slice of its own. */
const ranged = (pipeline: Pipeline, items: readonly VerifyItem[]) =>
  items.every((item) => keyRangeOf(pipeline, item.partition as Partition) !== undefined);

/**
 * Whether the run's partitions compare with one whole read of the target rather than by key,
 * because a Scan of the table costs fewer read units than reading the run's keys
 * ({@link wholeReadCostsLess}; the keys are the run's extracted records, sampled as Verify
 * samples), with the size the target told, if it was asked. `forced` (a test's or operator's
 * override) decides instead. Not for an S3 lake (always read whole) nor a target that reads key
 * ranges itself, nor for a table above `sliceRecords` when the items are not key ranges: each
 * would hold the whole read.
 */
async function readsWholeForCost(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  target: TargetConnector,
  plan: { readonly items: readonly VerifyItem[]; readonly sliceRecords: number; readonly forced?: boolean },
): Promise<{ whole: boolean; size?: TargetSize }> {
  if (pipeline.target.type === 's3' || RANGE_READING_TARGETS.has(pipeline.target.type))
    return { whole: false };
  if (!target.segmented) return { whole: false };
  if (plan.forced !== undefined) return { whole: plan.forced };
  const { counts } = await deps.state.runs.get(runId);
  const rate = pipeline.verify.mode === 'sample' ? pipeline.verify.sampleRate : 1;
  const keysToCheck = Math.ceil(counts.extracted * rate);
  // With no key to check, no read is cheaper than none: the size sample (a Scan) is not sent;
  // with few, the sample may spend no more than reading them by key would.
  if (keysToCheck === 0) return { whole: false };
  const size = await target.segmented.approximateSize?.(sizeSampleBudget(keysToCheck));
  if (!size) return { whole: false };
  if (size.records > plan.sliceRecords && !ranged(pipeline, plan.items)) return { whole: false, size };
  return { whole: wholeReadCostsLess(keysToCheck, size), size };
}

/** Whether the plan reads the target once for all partitions: more than one reads it, none by range. */
function sharesTargetRead(
  pipeline: Pipeline,
  items: readonly VerifyItem[],
  target: TargetConnector,
): boolean {
  if (RANGE_READING_TARGETS.has(pipeline.target.type) || !target.segmented) return false;
  return items.filter((item) => readsTarget(pipeline, item)).length > 1;
}

/** The index of the item whose key range holds the key (items of a plan are in key order). */
function sliceIndexOf(ranges: readonly (KeyRange | null)[], width: number): (key: string) => number {
  if (ranges.some((r) => r === null)) return () => 0;
  return (key) => {
    const tuple = keyTuple(key, width);
    let low = 0;
    let high = ranges.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      const { upTo, kinds } = ranges[middle] as KeyRange;
      if (upTo === null || compareKeyTuples(tuple, upTo, kinds) <= 0) high = middle;
      else low = middle + 1;
    }
    return low;
  };
}

const slicesPrefix = (pipeline: string, runId: string) => `reports/${pipeline}/${runId}/verify/target/`;
const segmentIndexKey = (prefix: string, segment: number, seq: number) =>
  `${prefix}segments/${segment}/${seq}.json`;

/**
 * How many segments read the target: one per partition, more when the target holds more records
 * than that many segments of {@link RECORDS_PER_SEGMENT} hold, at most {@link MAX_TARGET_SEGMENTS};
 * `requested` (a test's or operator's override) within 1 and that cap.
 */
export function targetSegmentCount(partitions: number, records: number, requested?: number): number {
  const wanted =
    requested !== undefined
      ? Math.trunc(requested)
      : Math.max(partitions, Math.ceil(records / RECORDS_PER_SEGMENT));
  return Math.min(MAX_TARGET_SEGMENTS, Math.max(1, wanted));
}

/**
 * Records the target holds, as far as the run tells: the size it told when asked ({@link
 * readsWholeForCost}, DescribeTable's ItemCount among its figures), else its ItemCount (one
 * DescribeTable), and at least the records the run extracted.
 */
async function targetRecords(
  deps: Deps,
  runId: string,
  target: TargetConnector,
  size: TargetSize | undefined,
): Promise<number> {
  const told = size ? size.records : await target.segmented?.approximateRecords();
  const { counts } = await deps.state.runs.get(runId);
  return Math.max(told ?? 0, counts.extracted);
}

/** How {@link planTargetRead} plans, where a test or an operator overrides it. */
export interface TargetReadOverride {
  /** Segments of the read, instead of the count sized from the target. */
  readonly segments?: number;
  /** Whether partitions compare with one whole read, instead of the choice by cost. */
  readonly whole?: boolean;
  /** Records one slice holds at most. @default MAX_SLICE_RECORDS */
  readonly sliceRecords?: number;
}

/**
 * The plan's items, each told where its slice of the run's one read of the target will lie, and
 * the segments of that read, when the pipeline's partitions share it (see the module comment);
 * else the items as they are and no segment. The segments run before any partition reads the
 * source, as finding hard deletes needs. When the target holds more records than the items'
 * slices should (`sliceRecords` each), the items are those of `finer`, a split of the window in
 * as many key ranges as the slices need, so no partition holds more than its share in memory.
 */
export async function planTargetRead(
  deps: Deps,
  pipeline: Pipeline,
  runId: string,
  planned: readonly VerifyItem[],
  finer: (parts: number) => Promise<VerifyItem[]>,
  override: TargetReadOverride = {},
): Promise<{ items: VerifyItem[]; segments: TargetSegment[] }> {
  const sliceRecords = override.sliceRecords ?? MAX_SLICE_RECORDS;
  const target = deps.createTarget(pipeline);
  try {
    const cost = await readsWholeForCost(deps, pipeline, runId, target, {
      items: planned,
      sliceRecords,
      ...(override.whole === undefined ? {} : { forced: override.whole }),
    });
    if (!cost.whole && !sharesTargetRead(pipeline, planned, target))
      return { items: [...planned], segments: [] };
    const records = await targetRecords(deps, runId, target, cost.size);
    const parts = Math.ceil(records / sliceRecords);
    const items = parts > planned.length && ranged(pipeline, planned) ? await finer(parts) : planned;
    const total = targetSegmentCount(items.length, records, override.segments);
    const ranges = items.map((item) => keyRangeOf(pipeline, item.partition as Partition) ?? null);
    const prefix = slicesPrefix(pipeline.name, runId);
    await putJsonObject(deps.clients.s3, deps.config.dataBucket, `${prefix}ranges.json`, ranges);
    const shared = ranges.some((r) => r === null);
    return {
      items: items.map((item, i) => ({
        ...item,
        targetSlice: { prefix, slice: shared ? 0 : i, segments: total },
      })),
      segments: Array.from({ length: total }, (_, index) => ({ index, total })),
    };
  } finally {
    await target.close();
  }
}

export interface TargetSegmentOptions {
  /** Milliseconds left before the function times out. */
  readonly remainingMs: () => number;
  /** Stop reading when less than this is left, so what was read is always stored. @default 30000 */
  readonly safetyMs?: number;
  /** Records or objects read per page. @default 1000 */
  readonly pageSize?: number;
}

/** The chunks of one segment invocation, held per item and written to S3 as they fill. */
class SliceWriter {
  readonly #held = new Map<number, SliceRecord[]>();
  readonly #chunks = new Map<number, number>();
  #buffered = 0;

  constructor(
    private readonly deps: Deps,
    private readonly prefix: string,
    private readonly name: string,
  ) {}

  async add(index: number, change: TargetChange): Promise<void> {
    const records = this.#held.get(index) ?? [];
    if (records.length === 0) this.#held.set(index, records);
    records.push([change.key, change.version, change.hash, change.tie]);
    if (++this.#buffered >= SLICE_FLUSH_RECORDS) await this.flush();
  }

  async flush(): Promise<void> {
    for (const [index, records] of this.#held) {
      const n = this.#chunks.get(index) ?? 0;
      const key = `${this.prefix}${index}/${this.name}-${n}.json`;
      await putJsonObject(this.deps.clients.s3, this.deps.config.dataBucket, key, records);
      this.#chunks.set(index, n + 1);
    }
    this.#held.clear();
    this.#buffered = 0;
  }

  get chunks(): Record<string, number> {
    return Object.fromEntries(this.#chunks);
  }
}

/**
 * Reads one segment of the target into the items' slices, page by page, until it is read or the
 * invocation's time runs short; then writes the invocation's index and hands back where the next
 * invocation goes on. A retried invocation writes the same objects again.
 */
export async function readTargetSegment(
  deps: Deps,
  input: VerifyTargetSegmentInput,
  options: TargetSegmentOptions,
): Promise<VerifyTargetSegmentOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const prefix = slicesPrefix(pipeline.name, input.runId);
  const seq = input.continuation?.seq ?? 0;
  const ranges = await getJsonObject<(KeyRange | null)[]>(
    deps.clients.s3,
    deps.config.dataBucket,
    `${prefix}ranges.json`,
  );
  const indexOf = sliceIndexOf(ranges, pipeline.source.key.length);
  const slices = new SliceWriter(deps, prefix, `${input.segment.index}-${seq}`);
  const target = deps.createTarget(pipeline);
  let from = input.continuation?.from ?? null;
  let read = 0;
  try {
    const segmented = target.segmented;
    if (!segmented)
      throw new ConnectorError(pipeline.target.type, 'this target cannot read its records by segment');
    do {
      const page = await segmented.readSegment(input.segment, from, options.pageSize ?? SEGMENT_PAGE);
      for (const change of page.changes) await slices.add(indexOf(change.key), change);
      read += page.changes.length;
      from = page.next;
    } while (from !== null && options.remainingMs() >= (options.safetyMs ?? 30_000));
  } finally {
    await target.close();
  }
  await slices.flush();
  const index: SegmentIndex = { done: from === null, chunks: slices.chunks };
  await putJsonObject(
    deps.clients.s3,
    deps.config.dataBucket,
    segmentIndexKey(prefix, input.segment.index, seq),
    index,
  );
  return { done: from === null, continuation: from === null ? null : { from, seq: seq + 1 }, read };
}

/**
 * The target's live records a partition reads: its slice of the run's read, its key range read
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
    ? [await sliceRecords(deps, item.targetSlice)]
    : target.snapshot(
        RANGE_READING_TARGETS.has(pipeline.target.type) ? keyRangeOf(pipeline, partition) : undefined,
      );
  for await (const page of pages) {
    onRead(page.length);
    yield page.filter((r) => holds(r.key));
  }
}

/**
 * The newest change of each of the partition's keys in its slice of the run's target read,
 * deletes included: what reading those keys one by one would find. `onRead` counts the slice's
 * live records, as {@link partitionTargetRecords} does.
 */
export async function partitionTargetChanges(
  deps: Deps,
  pipeline: Pipeline,
  slice: NonNullable<VerifyItem['targetSlice']>,
  partition: Partition,
  onRead: (records: number) => void,
): Promise<Map<string, TargetChange>> {
  const holds = keysOfPartition(pipeline, partition);
  const newest = await sliceChanges(deps, slice);
  onRead(liveRecordsOf(newest).length);
  for (const key of newest.keys()) if (!holds(key)) newest.delete(key);
  return newest;
}

/** The live records of a slice: the newest change per key of what every segment wrote into it. */
async function sliceRecords(
  deps: Deps,
  slice: NonNullable<VerifyItem['targetSlice']>,
): Promise<TargetSnapshotRecord[]> {
  return liveRecordsOf(await sliceChanges(deps, slice));
}

/** The newest change per key of what every segment wrote into a slice. */
async function sliceChanges(
  deps: Deps,
  slice: NonNullable<VerifyItem['targetSlice']>,
): Promise<Map<string, TargetChange>> {
  const get = <T>(key: string) => getJsonObject<T>(deps.clients.s3, deps.config.dataBucket, key);
  const newest = new Map<string, TargetChange>();
  for (let segment = 0; segment < slice.segments; segment++)
    for (let seq = 0, done = false; !done; seq++) {
      const index = await get<SegmentIndex>(segmentIndexKey(slice.prefix, segment, seq));
      for (let n = 0; n < (index.chunks[slice.slice] ?? 0); n++) {
        const records = await get<SliceRecord[]>(`${slice.prefix}${slice.slice}/${segment}-${seq}-${n}.json`);
        keepNewest(
          newest,
          records.map(([key, version, hash, tie]) => ({ key, version, hash, tie })),
        );
      }
      done = index.done;
    }
  return newest;
}

/**
 * Verify of one partition of a run's plan. It re-reads the partition's rows of the window from
 * the source and compares each with the target by content hash, reading the target by key (or,
 * for an S3 lake, which keeps no per-key state, from its snapshot restricted to the partition).
 * With `deletes.mode: verify` it then looks for target keys of its key range that the source no
 * longer has. Like Extract it stops before its time runs out and hands back a continuation, so
 * no partition has to be verified inside one invocation; each invocation stores what it found,
 * and the summary step adds the partitions' results up (verify.ts).
 */
import type { z } from 'zod';
import { getJsonObject } from '../../aws/s3-json.ts';
import { liveRecordsOf } from '../../connectors/targets/support/target-changes.ts';
import type {
  ChangeWindow,
  Cursor,
  Partition,
  SourceConnector,
  SourceRow,
  TargetConnector,
  TargetSnapshotRecord,
} from '../../connectors/types.ts';
import { createRecordExpressions } from '../../domain/expressions.ts';
import { keysOfPage, type RecordKey, recordKeyOf } from '../../domain/record-key.ts';
import { discardFields } from '../../domain/schema-drift.ts';
import { createTransform } from '../../domain/transform.ts';
import { createValidator } from '../../domain/validation.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../../records/envelope.ts';
import { contentHash } from '../../records/hash.ts';
import { compareVersions, versionAfter } from '../../records/version.ts';
import { keys } from '../../state/keys.ts';
import type { Mismatch } from '../../state/verify-results.ts';
import type {
  verifyItemSchema,
  verifyPartitionInputSchema,
  verifyPartitionOutputSchema,
} from '../contracts.ts';
import { type Deps, validatorsOf } from '../deps.ts';
import { enqueueRecords } from '../enqueue.ts';
import { maskKey } from '../load-runtime.ts';
import { hardDeleteEnvelope } from '../vanished.ts';
import { searchDeletes } from './6-verify-deletes.ts';
import { partitionsAreKeyRanges, partitionTargetChanges, partitionTargetRecords } from './6-verify-target.ts';

export type VerifyItem = z.infer<typeof verifyItemSchema>;
export type VerifyPartitionInput = z.infer<typeof verifyPartitionInputSchema>;
export type VerifyPartitionOutput = z.infer<typeof verifyPartitionOutputSchema>;
type Continuation = NonNullable<VerifyPartitionInput['continuation']>;

export interface VerifyPartitionOptions {
  /** Milliseconds left before the function times out. */
  readonly remainingMs: () => number;
  /** Stop reading when less than this is left, so what was found is always stored. @default 30000 */
  readonly safetyMs?: number;
}

/** Mismatches one invocation keeps for the report; the summary keeps the first 1000 of all. */
const SAMPLE_PER_INVOCATION = 100;

/** The data bucket key of the keys the run left different on purpose (written by the Verify plan). */
export const excludedKeysObject = (pipeline: string, runId: string) =>
  `reports/${pipeline}/${runId}/verify/excluded.json`;

/** The part each partition takes in finding hard deletes; see {@link verifyItemSchema}. */
export function deletesPartOf(pipeline: Pipeline, index: number): VerifyItem['findDeletes'] {
  if (pipeline.source.deletes.mode !== 'verify') return 'none';
  if (partitionsAreKeyRanges(pipeline)) return 'range';
  return index === 0 ? 'all' : 'none';
}

/** Sampling by key hash: the same keys are picked on every run, so a sample is repeatable. */
function sampled(key: string, rate: number): boolean {
  if (rate >= 1) return true;
  const h = Buffer.from(contentHash(key), 'base64url').readUInt32BE(0);
  return h / 0x1_0000_0000 < rate;
}

/** What an invocation found so far. */
interface Findings {
  compared: number;
  mismatches: number;
  readonly sample: Mismatch[];
  readonly toRepair: RecordEnvelope[];
  vanished: ReadonlyMap<string, string>;
  /** Records read from the target (or its slice) as a whole, not key by key. */
  targetRead: number;
  /** The partition's live target records, when comparing read them whole (an S3 lake). */
  targetRecords?: TargetSnapshotRecord[];
}

/** Verifies one partition, or as much of it as the invocation's time allows. */
export async function verifyPartition(
  deps: Deps,
  input: VerifyPartitionInput,
  options: VerifyPartitionOptions,
): Promise<VerifyPartitionOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const at: Continuation = input.continuation ?? { stage: 'compare', cursor: null, seq: 0 };
  const found: Findings = {
    compared: 0,
    mismatches: 0,
    sample: [],
    toRepair: [],
    vanished: new Map(),
    targetRead: 0,
  };
  const safetyMs = options.safetyMs ?? 30_000;
  const source = deps.createSource(pipeline);
  const target = deps.createTarget(pipeline);
  let next: Continuation | null = null;
  try {
    if (at.stage === 'compare') {
      const stoppedAt = await compareRows(
        deps,
        pipeline,
        input,
        { source, target, resumeAfter: at.cursor },
        found,
        () => options.remainingMs() < safetyMs,
      );
      if (stoppedAt)
        next = {
          stage: 'compare',
          cursor: { values: [...stoppedAt.values], key: stoppedAt.key },
          seq: at.seq + 1,
        };
      else if (input.item.findDeletes !== 'none' && options.remainingMs() < safetyMs * 2)
        next = { stage: 'deletes', cursor: null, seq: at.seq + 1 };
    }
    if (!next && input.item.findDeletes !== 'none') {
      const search = await searchDeletes(
        deps,
        { pipeline, runId: input.runId, item: input.item, seq: at.seq, search: at.search },
        { source, target },
        found,
        () => options.remainingMs() < safetyMs,
      );
      if ('search' in search)
        next = { stage: 'deletes', cursor: null, seq: at.seq + 1, search: search.search };
      else found.vanished = search.vanished;
    }
  } finally {
    await source.close();
    await target.close();
  }
  await storeFindings(deps, pipeline, input, at.seq, found);
  return { done: next === null, continuation: next, compared: found.compared, mismatches: found.mismatches };
}

async function excludedKeys(deps: Deps, pipeline: string, runId: string): Promise<Set<string>> {
  const key = excludedKeysObject(pipeline, runId);
  return new Set(await getJsonObject<string[]>(deps.clients.s3, deps.config.dataBucket, key));
}

type Held = { version: string; hash: string | null };

/** Lookups in the target's newest changes (deletes included) of the partition's slice of the run's read. */
async function sliceLookup(
  deps: Deps,
  pipeline: Pipeline,
  item: VerifyItem,
  slice: NonNullable<VerifyItem['targetSlice']>,
  found: Findings,
) {
  const newest = await partitionTargetChanges(deps, pipeline, slice, item.partition as Partition, (n) => {
    found.targetRead += n;
  });
  found.targetRecords = liveRecordsOf(newest);
  return async (keyList: string[]): Promise<Map<string, Held>> => {
    const held = new Map<string, Held>();
    for (const key of keyList) {
      const change = newest.get(key);
      if (change) held.set(key, { version: change.version, hash: change.hash });
    }
    return held;
  };
}

/**
 * The target's state of the partition's keys: by key through readState; from the partition's
 * slice of the run's one read of the target, when the plan read it whole (6-verify-target.ts);
 * or, for an S3 lake (no per-key state), from its live records of the partition's keys, read once.
 */
async function targetLookup(
  deps: Deps,
  pipeline: Pipeline,
  item: VerifyItem,
  target: TargetConnector,
  found: Findings,
) {
  if (pipeline.target.type !== 's3' && item.targetSlice)
    return sliceLookup(deps, pipeline, item, item.targetSlice, found);
  if (pipeline.target.type !== 's3')
    return async (keyList: string[]): Promise<Map<string, Held>> => {
      const state = await target.readState(keyList, { withData: true });
      return new Map(
        [...state].map(([k, s]) => [
          k,
          { version: s.version, hash: s.deleted || !s.data ? null : contentHash(s.data) },
        ]),
      );
    };
  const lake = new Map<string, Held>();
  const records = partitionTargetRecords(deps, pipeline, item, target, (n) => {
    found.targetRead += n;
  });
  found.targetRecords = [];
  for await (const page of records) found.targetRecords.push(...page);
  for (const r of found.targetRecords) lake.set(r.key, { version: r.version, hash: r.hash });
  return async (keyList: string[]) =>
    new Map(keyList.flatMap((k) => (lake.has(k) ? [[k, lake.get(k) as Held]] : [])));
}

/**
 * Compares the partition's rows of the window after `resumeAfter` with the target, page by page.
 * Returns the cursor of the last row compared when `timeIsShort` stopped it, nothing when done.
 */
async function compareRows(
  deps: Deps,
  pipeline: Pipeline,
  input: VerifyPartitionInput,
  from: {
    readonly source: SourceConnector;
    readonly target: TargetConnector;
    readonly resumeAfter: Cursor | null;
  },
  found: Findings,
  timeIsShort: () => boolean,
): Promise<Cursor | undefined> {
  const run = await deps.state.runs.get(input.runId);
  const window = (run.window ?? { from: null, to: null }) as ChangeWindow;
  const excluded = await excludedKeys(deps, pipeline.name, input.runId);
  const validate = createValidator(pipeline.validation, validatorsOf(deps));
  const transform = createTransform(pipeline.transform, { hashKey: await maskKey(deps, pipeline) });
  const rate = pipeline.verify.mode === 'sample' ? pipeline.verify.sampleRate : 1;
  const expressions = createRecordExpressions(pipeline.transform);
  const discard = run.schema?.discarded ?? [];
  const problemOf = async (
    row: SourceRow,
    held: Held | undefined,
  ): Promise<Mismatch['problem'] | undefined> => {
    if (held && compareVersions(held.version, row.version) > 0) return undefined;
    if (row.deleted) return held && held.hash !== null ? 'not-deleted' : undefined;
    // A row the filter leaves out, or an expression fails on, is never loaded: nothing to compare.
    const staged =
      expressions === undefined ? { kind: 'kept' as const, data: row.data } : await expressions(row.data);
    if (staged.kind !== 'kept') return undefined;
    if (!held || held.hash === null) return 'missing';
    return held.hash !== contentHash(transform(staged.data)) ? 'content' : undefined;
  };
  const partition = input.item.partition as Partition;
  const lookup = await targetLookup(deps, pipeline, input.item, from.target, found);
  const keyOf = recordKeyOf(pipeline.source);
  for await (const page of from.source.read(window, partition, from.resumeAfter ?? undefined)) {
    const pageKeys = await keysOfPage(keyOf, page);
    // Extract left these fields out (schema.onDrift discard): the target was never meant to hold them.
    if (discard.length > 0) for (const row of page) if (!row.deleted) discardFields(row.data, discard);
    // A row its key expression fails on is quarantined by Load, never loaded: nothing to compare.
    const keyed = page.flatMap((row, i) => {
      const { key, keyError } = pageKeys[i] as RecordKey;
      return keyError ? [] : [{ row, key }];
    });
    const rows = keyed.filter(
      ({ row, key }) =>
        !excluded.has(key) && sampled(key, rate) && (row.deleted || validate(row.data).length === 0),
    );
    const state = await lookup(rows.map((r) => r.key));
    for (const { row, key } of rows) {
      found.compared++;
      const held = state.get(key);
      const problem = await problemOf(row, held);
      if (problem) noteMismatch(pipeline, input.runId, found, row, key, problem, held);
    }
    if (timeIsShort()) return (page[page.length - 1] as SourceRow).cursor;
  }
  return undefined;
}

function noteMismatch(
  pipeline: Pipeline,
  runId: string,
  found: Findings,
  row: SourceRow,
  key: string,
  problem: Mismatch['problem'],
  held: Held | undefined,
): void {
  found.mismatches++;
  if (found.sample.length < SAMPLE_PER_INVOCATION)
    found.sample.push({
      key,
      problem,
      sourceVersion: row.version,
      ...(held ? { targetVersion: held.version } : {}),
    });
  if (pipeline.verify.onMismatch !== 'repair') return;
  found.toRepair.push(
    makeEnvelope({
      key,
      op: row.deleted ? 'delete' : 'upsert',
      // The target may hold this very version with other content (a write behind ESync's
      // back): the repair must win over it, and still lose to the next change at the source.
      version: held?.version === row.version ? versionAfter(row.version) : row.version,
      ts: row.ts,
      data: row.deleted ? null : row.data,
      provenance: { pipeline: pipeline.name, runId },
    }),
  );
}

/**
 * Sends the deletes of the keys the source no longer has and, when the pipeline repairs, the
 * source records of the mismatches, then stores what this invocation found. Message keys are
 * deterministic, so a retried invocation sends the same messages again, not new ones.
 */
async function storeFindings(
  deps: Deps,
  pipeline: Pipeline,
  input: VerifyPartitionInput,
  seq: number,
  found: Findings,
): Promise<void> {
  const provenance = { pipeline: pipeline.name, runId: input.runId };
  if (found.vanished.size > 0)
    await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfStream(pipeline.name, `deletes-${input.runId}`),
      [...found.vanished].map(([key, version]) => hardDeleteEnvelope(key, version, provenance, deps.now())),
    );
  if (found.toRepair.length > 0)
    await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfStream(pipeline.name, `repair-${input.runId}`),
      found.toRepair,
    );
  const vanished = [...found.vanished]
    .slice(0, SAMPLE_PER_INVOCATION)
    .map(([key, version]): Mismatch => ({ key, problem: 'not-in-source', targetVersion: version }));
  await deps.state.verifyResults.put(input.runId, {
    partitionId: input.item.partition.id,
    seq,
    compared: found.compared,
    mismatches: found.mismatches,
    deleted: found.vanished.size,
    targetRead: found.targetRead,
    sample: [...found.sample, ...vanished],
  });
}

import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import type { ChangeWindow, SourceRow, TargetConnector } from '../connectors/types.ts';
import { createTransform } from '../domain/transform.ts';
import { createValidator } from '../domain/validation.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { buildKey, makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import { contentHash } from '../records/hash.ts';
import { compareVersions, versionAfter } from '../records/version.ts';
import { keys } from '../state/keys.ts';
import type { RunRef, verifyOutputSchema } from './contracts.ts';
import type { Deps } from './deps.ts';
import { enqueueRecords } from './enqueue.ts';
import { maskKey } from './load.ts';
import { inPhase, VerifyFailedError } from './phases.ts';
import { forgetPlan } from './resume.ts';
import { hardDeleteEnvelope, VanishedKeys } from './vanished.ts';

export type VerifyOutput = z.infer<typeof verifyOutputSchema>;

export interface Mismatch {
  readonly key: string;
  /** `not-in-source`: a live target key the source no longer has (a hard delete). */
  readonly problem: 'missing' | 'content' | 'not-deleted' | 'not-in-source';
  readonly sourceVersion?: string;
  readonly targetVersion?: string;
}

const MAX_REPORTED = 1000;

/** Sampling by key hash: the same keys are picked on every run, so a sample is repeatable. */
function sampled(key: string, rate: number): boolean {
  if (rate >= 1) return true;
  const h = Buffer.from(contentHash(key), 'base64url').readUInt32BE(0);
  return h / 0x1_0000_0000 < rate;
}

type Held = { version: string; hash: string | null };

/**
 * A full-window verify of a DynamoDB target holding at most this many records scans the table
 * instead of reading each key: a Scan bills 4 KB of items per read unit, a BatchGetItem a whole
 * unit per item, so 1 KB records cost a quarter. The scanned keys are held in memory.
 */
const SCAN_VERIFY_MAX_RECORDS = 1_000_000;

/**
 * Target state per key: through readState; for an append-only lake by reducing its snapshot;
 * when `scan` is set, from one scan of the table (live items only), `byKeys` re-reading what the
 * scan lacks or disagrees with (tombstones, writes that landed after the scan).
 */
async function targetLookup(target: TargetConnector, pipeline: Pipeline, scan: boolean) {
  const byKeys = async (keyList: string[]): Promise<Map<string, Held>> => {
    const state = await target.readState(keyList, { withData: true });
    return new Map(
      [...state].map(([k, s]) => [
        k,
        { version: s.version, hash: s.deleted || !s.data ? null : contentHash(s.data) },
      ]),
    );
  };
  if (pipeline.target.type !== 's3' && !scan) return { lookup: byKeys, byKeys, scanned: false };
  const all = new Map<string, Held>();
  for await (const page of target.snapshot())
    for (const r of page) all.set(r.key, { version: r.version, hash: r.hash });
  const lookup = async (keyList: string[]) =>
    new Map(keyList.flatMap((k) => (all.has(k) ? [[k, all.get(k) as Held]] : [])));
  return { lookup, byKeys, scanned: pipeline.target.type !== 's3' };
}

/**
 * Verify: re-reads the run's window from the source and compares each record with the target
 * by content hash (all keys, or a repeatable sample). Keys whose target content differs on
 * purpose (quarantined, parked as conflicts, kept by target-wins) and keys the target holds at a
 * newer version are not mismatches. Mismatches go to an S3 report; the pipeline decides whether
 * they fail the run, only warn, or are repaired by sending the source records again.
 */
export async function verifyRun(deps: Deps, input: RunRef): Promise<VerifyOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  return inPhase(deps, input.runId, 'Verify', async () => {
    const result = await compareWindow(deps, pipeline, input);
    await deps.state.runs.update(input.runId, { verify: result });
    if (result.status === 'failed') {
      const { planId } = await deps.state.runs.get(input.runId);
      if (planId) await forgetPlan(deps, pipeline.name, planId);
      throw new VerifyFailedError(
        `verify found ${result.mismatches} of ${result.compared} records different in the target; report s3://${deps.config.dataBucket}/${result.reportKey}`,
      );
    }
    return result;
  });
}

async function compareWindow(deps: Deps, pipeline: Pipeline, input: RunRef): Promise<VerifyOutput> {
  const mode = pipeline.verify.mode;
  // Pushed changes have no window to re-read, and an HTTP API that cannot be read back
  // (readState: none) has nothing to compare against.
  const unreadable = pipeline.target.type === 'http' && pipeline.target.readState === 'none';
  if (mode === 'off' || pipeline.source.type === 'webhook' || pipeline.source.type === 'cdc' || unreadable)
    return { status: 'skipped', compared: 0, mismatches: 0 };
  const run = await deps.state.runs.get(input.runId);
  const window = (run.window ?? { from: null, to: null }) as ChangeWindow;
  const totals = await deps.state.ledger.totals(keys.ledgerScopeOfRun(input.runId));
  const excluded = new Set(totals.excludedKeys);
  // A resumed plan's earlier runs loaded part of the window: what they quarantined or parked too.
  for (const earlier of run.earlierRuns ?? [])
    for (const key of (await deps.state.ledger.totals(keys.ledgerScopeOfRun(earlier))).excludedKeys)
      excluded.add(key);
  const validate = createValidator(pipeline.validation);
  const transform = createTransform(pipeline.transform, { hashKey: await maskKey(deps, pipeline) });
  const source = deps.createSource(pipeline);
  const target = deps.createTarget(pipeline);
  const { lookup, byKeys, scanned } = await targetLookup(
    target,
    pipeline,
    pipeline.target.type === 'dynamodb' &&
      mode === 'full' &&
      window.from === null &&
      totals.extracted <= SCAN_VERIFY_MAX_RECORDS,
  );
  // Read before the source, so a key inserted meanwhile is not taken for a deleted one.
  const vanishing = pipeline.source.deletes.mode === 'verify' ? await VanishedKeys.start(target) : undefined;
  const problemOf = (row: SourceRow, held: Held | undefined): Mismatch['problem'] | undefined => {
    if (held && compareVersions(held.version, row.version) > 0) return undefined;
    if (row.deleted) return held && held.hash !== null ? 'not-deleted' : undefined;
    if (!held || held.hash === null) return 'missing';
    return held.hash !== contentHash(transform(row.data)) ? 'content' : undefined;
  };
  const mismatches: Mismatch[] = [];
  const toRepair: RecordEnvelope[] = [];
  let compared = 0;
  let mismatchCount = 0;
  let vanished: Map<string, string>;
  try {
    const partitions = await source.planPartitions(window, 1);
    for (const partition of partitions)
      for await (const page of source.read(window, partition)) {
        for (const row of page) vanishing?.seen(buildKey(row.data, pipeline.source.key));
        const rows = page
          .map((row) => ({ row, key: buildKey(row.data, pipeline.source.key) }))
          .filter(
            ({ key }) =>
              !excluded.has(key) && sampled(key, mode === 'sample' ? pipeline.verify.sampleRate : 1),
          );
        const state = await lookup(rows.map((r) => r.key));
        // The scan saw live items only, and before this page was read: what it disagrees with is
        // read again by key; what it agrees with is settled.
        const doubtful = new Set<string>();
        if (scanned) {
          for (const { row, key } of rows)
            if (
              (row.deleted || validate(row.data).length === 0) &&
              problemOf(row, state.get(key)) !== undefined
            )
              doubtful.add(key);
          const fresh = doubtful.size > 0 ? await byKeys([...doubtful]) : new Map<string, Held>();
          for (const key of doubtful) {
            const held = fresh.get(key);
            if (held) state.set(key, held);
            else state.delete(key);
          }
        }
        for (const { row, key } of rows) {
          if (!row.deleted && validate(row.data).length > 0) continue;
          compared++;
          const held = state.get(key);
          const problem = scanned && !doubtful.has(key) ? undefined : problemOf(row, held);
          if (!problem) continue;
          mismatchCount++;
          if (mismatches.length < MAX_REPORTED)
            mismatches.push({
              key,
              problem,
              sourceVersion: row.version,
              ...(held ? { targetVersion: held.version } : {}),
            });
          if (pipeline.verify.onMismatch === 'repair')
            toRepair.push(
              makeEnvelope({
                key,
                op: row.deleted ? 'delete' : 'upsert',
                // The target may hold this very version with other content (a write behind ESync's
                // back): the repair must win over it, and still lose to the next change at the source.
                version: held?.version === row.version ? versionAfter(row.version) : row.version,
                ts: row.ts,
                data: row.deleted ? null : row.data,
                provenance: { pipeline: pipeline.name, runId: input.runId },
              }),
            );
        }
      }
    vanished = vanishing ? await vanishing.finish(source, pipeline) : new Map();
  } finally {
    await source.close();
  }
  return settle(deps, pipeline, input.runId, { compared, mismatchCount, mismatches, toRepair, vanished });
}

interface Comparison {
  readonly compared: number;
  readonly mismatchCount: number;
  /** The first {@link MAX_REPORTED} mismatches. */
  readonly mismatches: readonly Mismatch[];
  readonly toRepair: readonly RecordEnvelope[];
  /** Live target keys the source no longer has (`deletes.mode: verify`), with the target's version. */
  readonly vanished: ReadonlyMap<string, string>;
}

/**
 * Writes the report of a comparison that found anything, sends the delete of every key the source
 * no longer has, and repairs or fails as the pipeline says. Deletes found this way are the
 * pipeline's chosen way of propagating hard deletes, not mismatches: they never fail the run.
 */
async function settle(deps: Deps, pipeline: Pipeline, runId: string, c: Comparison): Promise<VerifyOutput> {
  const { compared, mismatchCount } = c;
  const deleted = c.vanished.size;
  const counts = { compared, mismatches: mismatchCount, ...(deleted > 0 ? { deleted } : {}) };
  if (mismatchCount === 0 && deleted === 0) return { status: 'passed', ...counts };
  const vanished = [...c.vanished].map(
    ([key, version]): Mismatch => ({ key, problem: 'not-in-source', targetVersion: version }),
  );
  const reportKey = `reports/${pipeline.name}/${runId}/verify.json`;
  await deps.clients.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.dataBucket,
      Key: reportKey,
      Body: JSON.stringify(
        {
          pipeline: pipeline.name,
          runId,
          ...counts,
          sample: [...c.mismatches, ...vanished].slice(0, MAX_REPORTED),
        },
        null,
        2,
      ),
      ContentType: 'application/json',
    }),
  );
  const provenance = { pipeline: pipeline.name, runId };
  if (deleted > 0)
    await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfStream(pipeline.name, `deletes-${runId}`),
      [...c.vanished].map(([key, version]) => hardDeleteEnvelope(key, version, provenance, deps.now())),
    );
  if (mismatchCount === 0) return { status: 'passed', ...counts, reportKey };
  if (pipeline.verify.onMismatch === 'repair') {
    await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfStream(pipeline.name, `repair-${runId}`),
      c.toRepair,
    );
    return { status: 'repaired', ...counts, reportKey };
  }
  return { status: pipeline.verify.onMismatch === 'warn' ? 'warned' : 'failed', ...counts, reportKey };
}

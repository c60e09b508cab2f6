import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import type { ChangeWindow, SourceRow, TargetConnector } from '../connectors/types.ts';
import { createTransform } from '../domain/transform.ts';
import { createValidator } from '../domain/validation.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { buildKey, makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import { contentHash } from '../records/hash.ts';
import { compareVersions } from '../records/version.ts';
import { keys } from '../state/keys.ts';
import type { RunRef, verifyOutputSchema } from './contracts.ts';
import type { Deps } from './deps.ts';
import { enqueueRecords } from './enqueue.ts';
import { maskKey } from './load.ts';
import { inPhase, VerifyFailedError } from './phases.ts';

export type VerifyOutput = z.infer<typeof verifyOutputSchema>;

export interface Mismatch {
  readonly key: string;
  readonly problem: 'missing' | 'content' | 'not-deleted';
  readonly sourceVersion: string;
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
    if (result.status === 'failed')
      throw new VerifyFailedError(
        `verify found ${result.mismatches} of ${result.compared} records different in the target; report s3://${deps.config.dataBucket}/${result.reportKey}`,
      );
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
  try {
    const partitions = await source.planPartitions(window, 1);
    for (const partition of partitions)
      for await (const page of source.read(window, partition)) {
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
                version: row.version,
                ts: row.ts,
                data: row.deleted ? null : row.data,
                provenance: { pipeline: pipeline.name, runId: input.runId },
              }),
            );
        }
      }
  } finally {
    await source.close();
  }
  if (mismatchCount === 0) return { status: 'passed', compared, mismatches: 0 };
  const reportKey = `reports/${pipeline.name}/${input.runId}/verify.json`;
  await deps.clients.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.dataBucket,
      Key: reportKey,
      Body: JSON.stringify(
        {
          pipeline: pipeline.name,
          runId: input.runId,
          compared,
          mismatches: mismatchCount,
          sample: mismatches,
        },
        null,
        2,
      ),
      ContentType: 'application/json',
    }),
  );
  if (pipeline.verify.onMismatch === 'repair') {
    await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfStream(pipeline.name, `repair-${input.runId}`),
      toRepair,
    );
    return { status: 'repaired', compared, mismatches: mismatchCount, reportKey };
  }
  return {
    status: pipeline.verify.onMismatch === 'warn' ? 'warned' : 'failed',
    compared,
    mismatches: mismatchCount,
    reportKey,
  };
}

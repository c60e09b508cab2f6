import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, startDemoDatabase } from '../../../demo/demo-db.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import { parseExactJson } from '../../../shared/records/exact-json.ts';
import {
  connectionSecret,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../../support/system-servers.ts';
import { batchSteps } from './batch-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from './harness.ts';

/**
 * Keys built by `source.keyExpression` through whole batch runs (the phase functions over the
 * local servers) into each kind of target: accounts read from PostgreSQL by their id are keyed
 * by their email address, lowercased; an account whose email has no @ cannot be keyed and is
 * quarantined; a soft delete reaches the target under the key the expression made.
 */

const KEY_EXPRESSION = '$contains(email, "@") ? $lowercase(email) : $error("the email has no @")';
const ACCOUNTS = [
  [1, 'Ada@Example.com'],
  [2, 'grace@example.com'],
  [3, 'Linus@Example.org'],
  [4, 'no-at-sign.example.com'],
  [5, 'KEN@example.net'],
] as const;
const LIVE_KEYS = ['ada@example.com', 'grace@example.com', 'ken@example.net', 'linus@example.org'];
const updatedAt = (minute: number) => new Date(Date.UTC(2026, 10, 1, 0, minute)).toISOString();

const postgresql = requireSystemServer('postgresql');

const accountsPipeline = (name: string, target: Record<string, unknown>) => ({
  name,
  source: {
    type: 'postgres',
    connection: { secret: 'accounts-db', ssl: 'disable' },
    table: 'accounts',
    key: ['id'],
    keyExpression: KEY_EXPRESSION,
    cursor: ['updated_at'],
    deletes: { mode: 'soft', column: 'deleted' },
    // PGlite serves one connection at a time.
    poolSize: 1,
  },
  target,
});

const PIPELINES = {
  'accounts-ddb': { type: 'dynamodb' },
  'accounts-lake': { type: 's3' },
  'accounts-pg': {
    type: 'postgres',
    connection: { secret: 'pg-target', ssl: 'disable' },
    table: 'accounts',
    mode: 'jsonb',
  },
};
type TargetPipeline = keyof typeof PIPELINES;

let h: FunctionsHarness;
let db: DemoDatabase;
let pg: RunningServer | undefined;
const steps = batchSteps(() => h);

beforeAll(async () => {
  db = await startDemoDatabase();
  await db.db.exec(
    'CREATE TABLE accounts (id integer PRIMARY KEY, email text NOT NULL, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL)',
  );
  for (const [id, email] of ACCOUNTS)
    await db.db.query('INSERT INTO accounts (id, email, updated_at) VALUES ($1, $2, $3)', [
      id,
      email,
      updatedAt(id),
    ]);
  if (postgresql.available) pg = await startPostgres();
  const names = Object.keys(PIPELINES).filter((name) => pg !== undefined || name !== 'accounts-pg');
  h = await startFunctionsHarness({
    secrets: {
      'accounts-db': db.secretValue,
      ...(pg ? { 'pg-target': connectionSecret(pg) } : {}),
    },
    pipelines: names.map((name) => accountsPipeline(name, PIPELINES[name as TargetPipeline])),
  });
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await pg?.stop();
  await db?.stop();
});

/** The keys of the live records the pipeline's target holds, as Verify reads them. */
async function liveKeys(pipeline: string): Promise<string[]> {
  const config = h.deps.catalog.get(pipeline);
  const target = await TARGET_CONNECTORS.loadAndCreate(config.target, h.deps.connectorContext(config));
  const found: string[] = [];
  try {
    for await (const page of target.snapshot()) found.push(...page.map((r) => r.key));
  } finally {
    await target.close();
  }
  return found.sort();
}

/** The quarantine entries the pipeline's Load wrote, with each record's key and reasons. */
async function quarantined(pipeline: string): Promise<{ key: string; reasons: unknown[] }[]> {
  const listed = await h.clients.s3.send(
    new ListObjectsV2Command({ Bucket: h.dataBucket, Prefix: `quarantine/${pipeline}/` }),
  );
  const entries: { key: string; reasons: unknown[] }[] = [];
  for (const object of listed.Contents ?? []) {
    const got = await h.clients.s3.send(new GetObjectCommand({ Bucket: h.dataBucket, Key: object.Key }));
    const report = parseExactJson(await (got.Body?.transformToString('utf8') ?? '{}')) as {
      entries: { record: { key: string }; reasons: unknown[] }[];
    };
    entries.push(...report.entries.map((e) => ({ key: e.record.key, reasons: e.reasons })));
  }
  return entries;
}

/** A whole run: Discover to Load, Verify, then Cleanup (which advances the checkpoint). */
async function verifiedRun(pipeline: string) {
  const run = await steps.syncedRun(pipeline);
  const verified = await steps.verify(run);
  await steps.cleanup(run);
  return { verified, counts: (await h.deps.state.runs.get(run.runId)).counts };
}

describe.each(Object.keys(PIPELINES) as TargetPipeline[])('source.keyExpression into %s', (pipeline) => {
  const runnable = pipeline !== 'accounts-pg' || postgresql.available;

  it.runIf(runnable)(
    'keys each record by its expression, quarantines the one it fails on and verifies what it loaded',
    async () => {
      const { verified, counts } = await verifiedRun(pipeline);

      expect(await liveKeys(pipeline)).toEqual(LIVE_KEYS);
      expect(counts).toMatchObject({ extracted: 5, loaded: 4, quarantined: 1, skipped: 0 });
      expect(verified).toEqual({ status: 'passed', compared: 4, mismatches: 0 });
      expect(await quarantined(pipeline)).toEqual([
        {
          key: '4',
          reasons: [
            {
              field: 'source.keyExpression',
              rule: 'expression',
              message: expect.stringMatching(/^\$contains\(email, "@"\).*: the email has no @/),
            },
          ],
        },
      ]);
    },
  );

  it.runIf(runnable)('deletes a soft-deleted record under the key its expression made', async () => {
    await db.db.query('UPDATE accounts SET deleted = true, updated_at = $1 WHERE id = 3', [updatedAt(30)]);
    try {
      const { verified, counts } = await verifiedRun(pipeline);

      expect(await liveKeys(pipeline)).toEqual(LIVE_KEYS.filter((k) => k !== 'linus@example.org'));
      expect(counts).toMatchObject({ extracted: 1, loaded: 1, quarantined: 0 });
      expect(verified).toMatchObject({ status: 'passed', mismatches: 0 });
    } finally {
      await db.db.query('UPDATE accounts SET deleted = false, updated_at = $1 WHERE id = 3', [updatedAt(3)]);
    }
  });
});

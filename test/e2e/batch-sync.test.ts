import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, startDemoDatabase } from '../../demo/demo-db.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  eventually,
  examplePipeline,
  listKeys,
  type RunReport,
  readObject,
  scanTable,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';
import { INVALID_USERS, maskedHash, seedE2eUsers, type UserRow } from '../support/e2e-users.ts';

const PIPELINE = 'users-sync';
const USERS = 240;
const TARGET = ownedTargetTableName('dev', PIPELINE);
/** ESync's meta attributes on a DynamoDB target item; everything else is the record's data. */
const META = new Set(['pk', '_v', '_h', '_d', '_k', '_ts', '_m']);

/** Every extracted record must end in exactly one of the outcomes. */
const accountedFor = (c: RunReport['counts']) =>
  c.loaded + c.skipped + c.filtered + c.conflicts + c.quarantined + c.deadLettered;

const dataOf = (item: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(item).filter(([name]) => !META.has(name)));

/** What users-sync must write for a source row: phone hashed, internal_notes dropped. */
function expectedData(row: UserRow, maskKey: string): Record<string, unknown> {
  const { internal_notes: _dropped, phone, ...rest } = row;
  return { ...rest, phone: maskedHash(phone, maskKey, PIPELINE) };
}

interface CheckpointAnswer {
  readonly checkpoint: { readonly cursor: unknown; readonly setBy: string } | null;
}

describe('batch runs of users-sync from PostgreSQL (PGlite) into DynamoDB', () => {
  let db: DemoDatabase;
  let project: E2eProject;
  let e2e: E2eStack;
  let rows: UserRow[];
  let firstRun: RunReport;

  beforeAll(async () => {
    db = await startDemoDatabase();
    rows = await seedE2eUsers(db.db, USERS);
    project = createProject({ [PIPELINE]: examplePipeline(PIPELINE) });
    e2e = await startE2eStack(project, { 'esync/demo/users-db': db.secretValue });
  });

  afterAll(async () => {
    await e2e?.stop();
    await db?.stop();
    project?.remove();
  });

  it('loads every valid row transformed on a scheduled run and quarantines each invalid row with its reason', async () => {
    // Prepare
    const schedule = e2e.stack.scheduler.list().find((s) => s.id.includes(PIPELINE));
    expect(schedule?.expression).toBe('rate(15 minutes)');

    // Act
    expect(await e2e.stack.scheduler.trigger(schedule?.id ?? '')).toBe(true);
    const runId = await eventually('the scheduled run to be recorded', async () => {
      const list = await callApi<{ runs: { runId: string; trigger: string }[] }>(
        e2e.stack,
        'GET',
        `/runs?pipeline=${PIPELINE}`,
      );
      return list.body.runs.find((r) => r.trigger === 'schedule')?.runId;
    });
    firstRun = await waitForRun(e2e.stack, runId);

    // Assess
    const invalidIds = Object.keys(INVALID_USERS).map(Number);
    const valid = rows.filter((r) => !invalidIds.includes(r.id));
    expect(firstRun, JSON.stringify(firstRun.failure)).toMatchObject({
      status: 'succeeded',
      trigger: 'schedule',
    });
    expect(firstRun.counts).toEqual({
      extracted: USERS,
      loaded: valid.length,
      skipped: 0,
      filtered: 0,
      conflicts: 0,
      quarantined: invalidIds.length,
      deadLettered: 0,
    });
    expect(accountedFor(firstRun.counts)).toBe(firstRun.counts.extracted);
    expect(firstRun.phases.map((p) => `${p.name}:${p.status}`)).toEqual([
      'Discover:succeeded',
      'Plan:succeeded',
      'Execute:succeeded',
      'AwaitLoad:succeeded',
      'Verify:succeeded',
      'Cleanup:succeeded',
    ]);
    expect(firstRun.verify.status).toBe('passed');

    const items = await scanTable(e2e.clients, TARGET);
    expect([...items.keys()].sort()).toEqual(valid.map((r) => String(r.id)).sort());
    const maskKey = await e2e.secret(e2e.stack.env.ESYNC_MASK_KEY_SECRET ?? '');
    for (const row of valid)
      expect(dataOf(items.get(String(row.id)) ?? {})).toEqual(expectedData(row, maskKey));
    expect([...items.values()].some((i) => 'internal_notes' in i)).toBe(false);

    const quarantined = new Map<string, string[]>();
    for (const key of await listKeys(e2e.clients, e2e.dataBucket, `quarantine/${PIPELINE}/`)) {
      const object = JSON.parse(await readObject(e2e.clients, e2e.dataBucket, key)) as {
        entries: { record: { key: string }; reasons: { field: string }[] }[];
      };
      for (const entry of object.entries)
        quarantined.set(
          entry.record.key,
          entry.reasons.map((r) => r.field),
        );
    }
    expect(Object.fromEntries(quarantined)).toEqual(
      Object.fromEntries(Object.entries(INVALID_USERS).map(([id, field]) => [id, [field]])),
    );

    const checkpoint = await callApi<CheckpointAnswer>(e2e.stack, 'GET', `/pipelines/${PIPELINE}/checkpoint`);
    expect(checkpoint.status).toBe(200);
    expect(checkpoint.body.checkpoint?.setBy).toBe(runId);
    expect(checkpoint.body.checkpoint?.cursor).toBeTruthy();
  });

  it('moves only the changed rows on a manual run, applying updates, a fixed row and soft deletes as tombstones', async () => {
    // Prepare
    const before = await scanTable(e2e.clients, TARGET);
    const checkpointBefore = await callApi<CheckpointAnswer>(
      e2e.stack,
      'GET',
      `/pipelines/${PIPELINE}/checkpoint`,
    );
    const renamed = [3, 30, 60, 90, 120, 121, 122, 180, 200, 239];
    const deleted = [11, 111, 222];
    const changedAt = new Date().toISOString();
    await db.db.query(`UPDATE users SET name = name || ' (renamed)', updated_at = $2 WHERE id = ANY($1)`, [
      renamed,
      changedAt,
    ]);
    await db.db.query('UPDATE users SET deleted = true, updated_at = $2 WHERE id = ANY($1)', [
      deleted,
      changedAt,
    ]);
    await db.db.query(`UPDATE users SET email = 'user7@example.com', updated_at = $1 WHERE id = 7`, [
      changedAt,
    ]);
    const changed = renamed.length + deleted.length + 1;

    // Act
    const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {
      reason: 'e2e incremental run',
    });
    const run = await waitForRun(e2e.stack, started.body.runId);

    // Assess
    expect(started.status).toBe(202);
    expect(run, JSON.stringify(run.failure)).toMatchObject({ status: 'succeeded', trigger: 'api' });
    expect(run.verify.status).toBe('passed');
    // The 60 s lookback re-reads at most the last few rows of the first window (10 s apart).
    expect(run.counts.extracted).toBeGreaterThanOrEqual(changed);
    expect(run.counts.extracted).toBeLessThanOrEqual(changed + 7);
    expect(run.counts).toMatchObject({ loaded: changed, conflicts: 0, quarantined: 0, deadLettered: 0 });
    expect(run.counts.skipped).toBe(run.counts.extracted - changed);
    expect(accountedFor(run.counts)).toBe(run.counts.extracted);

    const after = await scanTable(e2e.clients, TARGET);
    for (const id of renamed) expect(after.get(String(id))?.name).toBe(`User ${id} (renamed)`);
    for (const id of deleted) {
      const tombstone = after.get(String(id));
      expect(tombstone?._d).toBe(true);
      expect(tombstone?._v).not.toBe(before.get(String(id))?._v);
    }
    expect(after.get('7')).toMatchObject({ email: 'user7@example.com', name: 'User 7' });
    const untouched = [...before.keys()].filter((k) => ![...renamed, ...deleted].includes(Number(k)));
    for (const key of untouched) expect(after.get(key)).toEqual(before.get(key));
    expect(after.size).toBe(before.size + 1);

    const checkpointAfter = await callApi<CheckpointAnswer>(
      e2e.stack,
      'GET',
      `/pipelines/${PIPELINE}/checkpoint`,
    );
    expect(checkpointAfter.body.checkpoint?.setBy).toBe(run.runId);
    expect(JSON.stringify(checkpointAfter.body.checkpoint?.cursor)).not.toBe(
      JSON.stringify(checkpointBefore.body.checkpoint?.cursor),
    );
  });

  it('shows a run’s Step Functions execution history, every phase entered and exited in order', async () => {
    // Act
    const answer = await callApi<{ events: { type: string; state: string | null }[] }>(
      e2e.stack,
      'GET',
      `/runs/${encodeURIComponent(firstRun.runId)}/history`,
    );

    // Assess
    expect(answer.status).toBe(200);
    const entered = answer.body.events.filter((e) => e.type.endsWith('StateEntered')).map((e) => e.state);
    const phases = [
      'Discover',
      'Plan',
      'Execute',
      'AwaitLoad',
      'VerifyPlan',
      'VerifyPartitions',
      'VerifyPartition',
      'VerifySummary',
      'Cleanup',
    ];
    expect(phases.map((p) => entered.indexOf(p))).toEqual(
      [...phases.map((p) => entered.indexOf(p))].sort((a, b) => a - b),
    );
    for (const phase of phases) expect(entered).toContain(phase);
    expect(answer.body.events.at(-1)?.type).toBe('ExecutionSucceeded');
  });
});

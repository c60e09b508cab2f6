import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, startDemoDatabase } from '../../demo/demo-db.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { perPartition } from '../../shared/usecases/phases/6-verify.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  eventually,
  readObject,
  scanTable,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';

const PIPELINE = 'items-verified';
const ROWS = 400;
const PARTITIONS = 4;
const TARGET = ownedTargetTableName('dev', PIPELINE);
/** Row 7 lies in the first key range, row 390 in the last: two different partitions. */
const TAMPERED = 7;
const DELETED = 390;

// Four key-range partitions, over the manifest threshold: Execute and Verify both run as
// Distributed Maps over S3 manifests. Differences are repaired.
const PIPELINE_YAML = `
name: ${PIPELINE}
source:
  type: postgres
  connection:
    secret: e2e/items-db
    ssl: disable
  table: items
  key: [id]
  cursor: [updated_at]
  pageSize: 50
  deletes:
    mode: verify
target:
  type: dynamodb
extract:
  partitions: ${PARTITIONS}
  manifestThreshold: 2
verify:
  onMismatch: repair
`;

const at = (id: number) => new Date(Date.parse('2026-11-01T00:00:00.000Z') + id * 1000).toISOString();

async function startRun(e2e: E2eStack, reason: string): Promise<string> {
  const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {
    reason,
  });
  expect(started.status).toBe(202);
  return started.body.runId;
}

describe('Verify per partition on the local stack', () => {
  let db: DemoDatabase;
  let project: E2eProject;
  let e2e: E2eStack;

  beforeAll(async () => {
    db = await startDemoDatabase();
    await db.db.query(
      'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)',
    );
    for (let id = 1; id <= ROWS; id++)
      await db.db.query('INSERT INTO items VALUES ($1, $2, $3)', [id, `item ${id}`, at(id)]);
    project = createProject({ [PIPELINE]: PIPELINE_YAML });
    e2e = await startE2eStack(project, { 'e2e/items-db': db.secretValue });
  }, 180_000);

  afterAll(async () => {
    await e2e?.stop();
    await db?.stop();
    project?.remove();
  });

  it('verifies each partition on its own, finds a tampered row and a hard-deleted row in different partitions, and repairs both', async () => {
    // Prepare: a verified first load, then a target row changed behind ESync's back and a source
    // row deleted, and the checkpoint reset so the next run reads the whole table again.
    const first = await waitForRun(e2e.stack, await startRun(e2e, 'first load'), 180_000);
    expect(first, JSON.stringify(first.failure)).toMatchObject({ status: 'succeeded' });
    expect(first.verify).toMatchObject({ status: 'passed', compared: ROWS, mismatches: 0 });
    await e2e.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: TARGET,
        Key: { pk: { S: String(TAMPERED) } },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': { S: 'changed by hand' } },
      }),
    );
    await db.db.query('DELETE FROM items WHERE id = $1', [DELETED]);
    const reset = await callApi(e2e.stack, 'PUT', `/pipelines/${PIPELINE}/checkpoint`, {
      cursor: null,
      reason: 'e2e: verify the whole table again',
    });
    expect(reset.status).toBe(200);

    // Act
    const runId = await startRun(e2e, 'full verify');
    const second = await waitForRun(e2e.stack, runId, 180_000);

    // Assess: every partition verified its own rows; the two differences came from two of them.
    expect(second, JSON.stringify(second.failure)).toMatchObject({ status: 'succeeded' });
    expect(second.verify).toMatchObject({
      status: 'repaired',
      compared: ROWS - 1,
      mismatches: 1,
      deleted: 1,
    });
    const partitions = perPartition(await e2e.state.verifyResults.list(runId));
    expect(partitions).toHaveLength(PARTITIONS);
    for (const p of partitions) expect(p.compared, p.partitionId).toBeLessThan(ROWS / 2);
    expect(partitions.find((p) => p.mismatches === 1)?.partitionId).toBe(`range-1-of-${PARTITIONS}`);
    expect(partitions.find((p) => p.deleted === 1)?.partitionId).toBe(`range-${PARTITIONS}-of-${PARTITIONS}`);
    // DynamoDB was read once for the run and each partition took its own slice of it.
    for (const p of partitions) expect(p.targetRead, p.partitionId).toBeLessThan(ROWS / 2);
    expect(partitions.reduce((n, p) => n + p.targetRead, 0)).toBe(ROWS);
    const report = JSON.parse(
      await readObject(e2e.clients, e2e.dataBucket, String(second.verify.reportKey)),
    ) as { sample: { key: string; problem: string }[] };
    expect(report.sample).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: String(TAMPERED), problem: 'content' }),
        expect.objectContaining({ key: String(DELETED), problem: 'not-in-source' }),
      ]),
    );
    const repaired = await eventually('the repair and the delete to be loaded', async () => {
      const items = await scanTable(e2e.clients, TARGET);
      return items.get(String(TAMPERED))?.name === `item ${TAMPERED}` &&
        items.get(String(DELETED))?._d === true
        ? items
        : undefined;
    });
    const live = [...repaired.values()].filter((item) => item._d !== true);
    expect(live).toHaveLength(ROWS - 1);
  }, 400_000);
});

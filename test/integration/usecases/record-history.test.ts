import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pipeline, type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { RecordEnvelope } from '../../../shared/records/envelope.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { handleManagementRequest } from '../../../shared/usecases/api/routes.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { applyUnit } from '../../../shared/usecases/phases/4-load.ts';
import {
  connectionSecret,
  queryPostgres,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../../support/system-servers.ts';
import { type ApiHarness, depsWithSecrets, startApiHarness } from '../api/harness.ts';

const webhookPipeline = (name: string, target: PipelineInput['target'], keepHistory: boolean): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target,
    triggers: { webhook: { signature: 'github', secret: 'webhook-secret' } },
    retention: { keepHistory },
  } satisfies PipelineInput);

const at = (minute: number) => `2025-03-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

function change(pipeline: string, position: number, data: Record<string, unknown> | null): RecordEnvelope {
  return {
    key: '1',
    op: data === null ? 'delete' : 'upsert',
    version: positionVersion(position),
    ts: at(position),
    data,
    hash: data === null ? 'deleted' : contentHash(data),
    provenance: { pipeline, deliveryId: `d-${position}` },
  };
}

async function history(deps: Deps, pipeline: string, when?: string) {
  return handleManagementRequest(deps, {
    method: 'GET',
    path: `/pipelines/${pipeline}/records/1/history`,
    query: when === undefined ? {} : { at: when },
    principal: 'local:test',
  });
}

/** Three changes of key 1 in three messages (created, renamed, deleted), the rename delivered twice. */
async function loadThreeChanges(deps: Deps, pipeline: Pipeline): Promise<void> {
  const units = [
    change(pipeline.name, 1, { id: 1, name: 'Ada' }),
    change(pipeline.name, 2, { id: 1, name: 'Ada Lovelace' }),
    change(pipeline.name, 2, { id: 1, name: 'Ada Lovelace' }),
    change(pipeline.name, 3, null),
  ];
  for (const [i, record] of units.entries())
    await applyUnit(deps, pipeline, {
      scope: `STREAM#${pipeline.name}#2025-03-01`,
      messageKey: `m${i}`,
      records: [record],
    });
}

/** What every target that keeps history must answer after {@link loadThreeChanges}. */
async function expectHistoryOfThreeChanges(deps: Deps, pipeline: string): Promise<void> {
  const all = await history(deps, pipeline);
  const between = await history(deps, pipeline, '2025-03-01T10:02:30Z');
  const beforeRename = await history(deps, pipeline, '2025-03-01T10:01:30Z');
  const afterDelete = await history(deps, pipeline, '2025-03-01T10:05:00Z');

  expect(all.status).toBe(200);
  const versions = all.body.versions as { op: string; version: string; data: unknown }[];
  expect(versions.map((v) => [v.op, v.version, v.data])).toEqual([
    ['upsert', positionVersion(1), { id: 1, name: 'Ada' }],
    ['upsert', positionVersion(2), { id: 1, name: 'Ada Lovelace' }],
    ['delete', positionVersion(3), null],
  ]);
  expect(between.body.state).toMatchObject({ exists: true, data: { id: 1, name: 'Ada Lovelace' } });
  expect(beforeRename.body.state).toMatchObject({
    exists: true,
    version: positionVersion(1),
    data: { id: 1, name: 'Ada' },
  });
  expect(afterDelete.body.state).toMatchObject({ exists: false, version: positionVersion(3), data: null });
}

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('record history of a dynamodb target', () => {
  it('rebuilds a record at any time from the changes Load archived, a redelivered change once', async () => {
    // The harness's owned target table is users-sync's.
    const pipeline = webhookPipeline('users-sync', { type: 'dynamodb' }, true);
    const deps = depsWithSecrets(h, [pipeline], {});

    await loadThreeChanges(deps, pipeline);

    await expectHistoryOfThreeChanges(deps, 'users-sync');
  });

  it('answers 400 naming retention.keepHistory for a pipeline that keeps no history', async () => {
    const deps = depsWithSecrets(h, [webhookPipeline('users-sync', { type: 'dynamodb' }, false)], {});

    const response = await history(deps, 'users-sync');

    expect(response.status).toBe(400);
    expect(String(response.body.error)).toMatch(
      /dynamodb target, which keeps only the current version.*retention\.keepHistory: true/,
    );
  });
});

const postgresql = requireSystemServer('postgresql');

describe.runIf(postgresql.available)('record history of a postgres target', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startPostgres();
    await queryPostgres(server, 'CREATE TABLE users (id integer PRIMARY KEY, name text)');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rebuilds a record at any time from the changes Load archived, a redelivered change once', async () => {
    const pipeline = webhookPipeline(
      'pg-sync',
      { type: 'postgres', connection: { secret: 'pg-target', ssl: 'disable' }, table: 'users' },
      true,
    );
    const deps = depsWithSecrets(h, [pipeline], { 'pg-target': connectionSecret(server) });

    await loadThreeChanges(deps, pipeline);

    await expectHistoryOfThreeChanges(deps, 'pg-sync');
  });
});

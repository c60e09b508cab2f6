import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeChangeEvent } from '../../../shared/cdc/index.ts';
import { mergeFields } from '../../../shared/domain/conflict.ts';
import { addSeconds, formatInstant, parseIsoInstant } from '../../../shared/domain/instant.ts';
import { createTransform } from '../../../shared/domain/transform.ts';
import {
  connectsToDatabase,
  plaintextDatabaseConnections,
} from '../../../shared/pipeline/database-connections.ts';
import { formatProblem, loadPipelineFiles } from '../../../shared/pipeline/load.ts';
import type { Pipeline } from '../../../shared/pipeline/schema.ts';
import { parseExactJson } from '../../../shared/records/exact-json.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The sample change events in events/cdc that a pipeline's CDC trigger takes, by its detail-type. */
async function sampleEventsOf(pipeline: Pipeline): Promise<unknown[]> {
  const detailTypes = (pipeline.triggers.cdc?.pattern['detail-type'] ?? []) as unknown[];
  const dir = path.join(repoRoot, 'events/cdc');
  const events = await Promise.all(
    (await readdir(dir)).map(async (file) => parseExactJson(await readFile(path.join(dir, file), 'utf8'))),
  );
  return events.filter((e) => detailTypes.includes((e as Record<string, unknown>)['detail-type']));
}

/** The data a sample event syncs into the target (its upserts, transformed as Load does). */
function syncedData(pipeline: Pipeline, event: unknown): Record<string, unknown>[] {
  const decoding = decodeChangeEvent(pipeline, event);
  const transform = createTransform(pipeline.transform, { hashKey: 'examples-test' });
  if (decoding.kind !== 'changes') return [];
  return decoding.records.flatMap((r) => (r.data === null ? [] : [transform(r.data)]));
}

/** A field's value as someone editing it changes it: a later time, a larger number, other text. */
function edited(value: unknown): unknown {
  const instant = typeof value === 'string' ? parseIsoInstant(value) : undefined;
  if (instant) return formatInstant(addSeconds(instant, 3600));
  if (typeof value === 'number') return value + 1000;
  return typeof value === 'string' ? `${value} (edited)` : [value];
}

describe('example pipelines in pipelines/', () => {
  it('all validate, with unique names', async () => {
    // Act
    const { pipelines, problems } = await loadPipelineFiles(['pipelines'], { cwd: repoRoot });

    // Assess
    expect(problems.map(formatProblem)).toEqual([]);
    expect(pipelines.map((p) => p.name)).toEqual([
      'github-issues',
      'inventory-cdc',
      'orders-sync',
      'users-sync',
    ]);
  });

  it('connect to every database with TLS verified, so cdk deploy ships no plaintext connection', async () => {
    const { pipelines } = await loadPipelineFiles(['pipelines'], { cwd: repoRoot });

    const databases = pipelines.flatMap((p) =>
      [p.source, p.target].filter(connectsToDatabase).map((part) => `${p.name} ${part.connection.ssl}`),
    );

    expect(databases).toEqual(['orders-sync verify-full', 'users-sync verify-full']);
    expect(plaintextDatabaseConnections(pipelines)).toEqual([]);
  });

  it('declare what the demo relies on', async () => {
    // Act
    const { pipelines } = await loadPipelineFiles(['pipelines'], { cwd: repoRoot });
    const byName = new Map(pipelines.map((p) => [p.name, p]));

    // Assess
    expect(byName.get('users-sync')).toMatchObject({
      source: { type: 'postgres', table: 'users', key: ['id'], cursor: ['updated_at'], lookbackSeconds: 60 },
      target: { type: 'dynamodb' },
      triggers: { schedule: 'rate(15 minutes)' },
      conflict: { strategy: 'latest-timestamp', timestampField: 'updated_at' },
      transform: { mask: { phone: 'hash' }, drop: ['internal_notes'] },
    });
    expect(byName.get('orders-sync')).toMatchObject({
      source: { type: 's3', prefix: 'incoming/orders/', key: ['order_id'], cursor: [] },
      target: { type: 'postgres', table: 'orders', mode: 'jsonb' },
      triggers: { schedule: 'cron(0 * * * ? *)' },
    });
    expect(byName.get('github-issues')).toMatchObject({
      source: { type: 'webhook', mapping: 'github' },
      triggers: { webhook: { signature: 'github', secret: 'esync/demo/github-webhook' } },
      target: { type: 's3', prefix: 'lake/' },
    });
    expect(byName.get('inventory-cdc')).toMatchObject({
      source: { type: 'cdc', format: 'debezium', key: ['sku'] },
      conflict: {
        strategy: 'field-merge',
        fields: { quantity: 'source', price: 'latest', location: 'manual' },
      },
    });
  });

  it('users-sync email format accepts an address and rejects a non-address', async () => {
    // Prepare
    const { pipelines } = await loadPipelineFiles(['pipelines/users-sync.yaml'], { cwd: repoRoot });
    const format = pipelines[0]?.validation.find((rule) => rule.field === 'email')?.format ?? '';

    // Act
    const pattern = new RegExp(format);

    // Assess
    expect(pattern.test('ada@example.com')).toBe(true);
    expect(pattern.test('not an address')).toBe(false);
  });

  it('field-merge examples have a rule for every field they sync, so only manual fields are parked', async () => {
    // Prepare
    const { pipelines } = await loadPipelineFiles(['pipelines'], { cwd: repoRoot });
    const merging = pipelines.filter((p) => p.conflict.strategy === 'field-merge');

    // Act: every synced field changed on both sides since the base, the target's edit the later one.
    const outcomes = await Promise.all(
      merging.map(async (p) => {
        const synced = (await sampleEventsOf(p)).flatMap((e) => syncedData(p, e));
        const rules = p.conflict.fields ?? {};
        const parked = synced.map((source) => {
          const base = Object.fromEntries(
            Object.entries(source).map(([f, v]) => [f, p.source.key.includes(f) ? v : `${String(v)} (base)`]),
          );
          const target = Object.fromEntries(
            Object.entries(source).map(([f, v]) => [f, p.source.key.includes(f) ? v : edited(v)]),
          );
          return mergeFields(source, target, base, rules, p.conflict.timestampField).conflicts;
        });
        return {
          pipeline: p.name,
          samples: synced.length > 0,
          uncovered: [
            ...new Set(
              synced.flatMap((d) => Object.keys(d).filter((f) => !p.source.key.includes(f) && !(f in rules))),
            ),
          ],
          parked: [...new Set(parked.flat())].sort(),
        };
      }),
    );

    // Assess
    expect(outcomes).toEqual(
      merging.map((p) => ({
        pipeline: p.name,
        samples: true,
        uncovered: [],
        parked: Object.entries(p.conflict.fields ?? {})
          .filter(([, rule]) => rule === 'manual')
          .map(([field]) => field)
          .sort(),
      })),
    );
    expect(merging.map((p) => p.name)).toEqual(['inventory-cdc']);
  });
});

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  connectsToDatabase,
  plaintextDatabaseConnections,
} from '../../../shared/pipeline/database-connections.ts';
import { formatProblem, loadPipelineFiles } from '../../../shared/pipeline/load.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

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
});

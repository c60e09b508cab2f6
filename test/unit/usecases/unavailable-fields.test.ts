import { describe, expect, it } from 'vitest';
import type { TargetConnector, TargetState } from '../../../shared/connectors/types.ts';
import { createTransform, loadedFieldName } from '../../../shared/domain/transform.ts';
import { createValidator } from '../../../shared/domain/validation.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData } from '../../../shared/records/envelope.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { createUnavailableFields } from '../../../shared/usecases/unavailable-fields.ts';
import { GITHUB_UNAVAILABLE_VALUE } from '../../../shared/webhooks/github.ts';

const PLACEHOLDER = '__debezium_unavailable_value';

const pipeline = (overrides: Partial<PipelineInput> = {}) =>
  pipelineSchema.parse({
    name: 'items',
    source: { type: 'cdc', key: ['id'] },
    triggers: { cdc: { pattern: { source: ['esync.cdc'] } } },
    target: { type: 'dynamodb' },
    ...overrides,
  });

/** A target holding `stored` data per key, read through readState. */
function targetHolding(stored: Record<string, RecordData>): TargetConnector {
  return {
    readState: async (keys: readonly string[]) =>
      new Map<string, TargetState>(
        keys.flatMap((k) => {
          const data = stored[k];
          return data ? [[k, { version: 'p:1', hash: 'h', deleted: false, data }] as const] : [];
        }),
      ),
  } as unknown as TargetConnector;
}

const record = (key: string, data: RecordData) =>
  makeEnvelope({
    key,
    op: 'upsert',
    version: 'p:2',
    ts: '2026-01-01T00:00:00.000Z',
    data,
    provenance: { pipeline: 'items' },
  });

describe('unavailable fields', () => {
  it('fills a renamed, masked field from the target under its loaded name and recomputes the hash', async () => {
    // Prepare
    const p = pipeline({
      transform: { rename: { body: 'text' }, mask: { text: 'redact' } },
      validation: [{ field: 'body', required: true, format: '^[a-z ]+$' }],
    });
    const unavailable = createUnavailableFields(p);
    const validate = unavailable.validating(createValidator(p.validation));
    const transform = unavailable.transforming(createTransform(p.transform, { hashKey: 'k' }));
    const source = { id: 1, title: 'new', body: PLACEHOLDER };
    const data = transform(source);
    const prepared = [{ record: record('1', source), data, hash: contentHash(data) }];

    // Act
    const reasons = validate(source);
    const count = await unavailable.fill(
      targetHolding({ 1: { id: 1, title: 'old', text: '[REDACTED]' } }),
      prepared,
    );

    // Assess
    expect(reasons).toEqual([]);
    expect(count).toBe(1);
    expect(prepared[0]?.data).toEqual({ id: 1, title: 'new', text: '[REDACTED]' });
    expect(prepared[0]?.hash).toBe(contentHash({ id: 1, title: 'new', text: '[REDACTED]' }));
  });

  it('leaves the field absent when the target holds nothing for the key, and still counts it', async () => {
    // Prepare
    const unavailable = createUnavailableFields(pipeline());
    const transform = unavailable.transforming((d) => ({ ...d }));
    const data = transform({ id: 2, body: PLACEHOLDER });
    const prepared = [{ record: record('2', { id: 2 }), data, hash: '' }];

    // Act
    const count = await unavailable.fill(targetHolding({}), prepared);

    // Assess
    expect(count).toBe(1);
    expect(prepared[0]?.data).toEqual({ id: 2 });
  });

  it('fills from the state Load already read instead of reading the target again', async () => {
    // Prepare
    const unavailable = createUnavailableFields(pipeline());
    const transform = unavailable.transforming((d) => ({ ...d }));
    const data = transform({ id: 3, body: PLACEHOLDER });
    const prepared = [{ record: record('3', { id: 3 }), data, hash: '' }];
    let reads = 0;
    const target = {
      readState: async () => {
        reads++;
        return new Map<string, TargetState>();
      },
    } as unknown as TargetConnector;
    const known = new Map<string, TargetState>([
      ['3', { version: 'p:1', hash: 'h', deleted: false, data: { id: 3, body: 'kept' } }],
    ]);

    // Act
    const count = await unavailable.fill(target, prepared, known);

    // Assess
    expect(reads).toBe(0);
    expect(count).toBe(1);
    expect(prepared[0]?.data).toEqual({ id: 3, body: 'kept' });
  });

  it('fills the fields a partial GitHub payload left unavailable from the target', async () => {
    // Prepare
    const unavailable = createUnavailableFields(
      pipeline({
        source: { type: 'webhook', mapping: 'github', key: ['kind', 'id'] },
        triggers: { webhook: { signature: 'github', secret: 'esync/s' } },
      }),
    );
    const data = unavailable.transforming((d) => ({ ...d }))({
      kind: 'issue',
      id: 4,
      title: 'pinned',
      state: GITHUB_UNAVAILABLE_VALUE,
    });
    const prepared = [{ record: record('issue#4', { id: 4 }), data, hash: '' }];

    // Act
    const count = await unavailable.fill(
      targetHolding({ 'issue#4': { kind: 'issue', id: 4, title: 'old', state: 'open' } }),
      prepared,
    );

    // Assess
    expect(count).toBe(1);
    expect(prepared[0]?.data).toEqual({ kind: 'issue', id: 4, title: 'pinned', state: 'open' });
  });

  it('treats the placeholder as data for a pipeline whose source is not Debezium', () => {
    // Prepare
    const unavailable = createUnavailableFields(
      pipeline({
        source: { type: 'webhook', key: ['id'] },
        triggers: { webhook: { signature: 'hmac', secret: 'esync/s' } },
      }),
    );

    // Act
    const data = unavailable.transforming((d) => ({ ...d }))({ id: 3, body: PLACEHOLDER });

    // Assess
    expect(data).toEqual({ id: 3, body: PLACEHOLDER });
  });

  it('names a field as loaded: renamed, itself, or nothing when dropped or overwritten by a rename', () => {
    // Act
    const config = { rename: { a: 'b', c: 'd' }, drop: ['d'] };

    // Assess
    expect(['a', 'c', 'b', 'e'].map((f) => loadedFieldName(config, f))).toEqual([
      'b',
      undefined,
      undefined,
      'e',
    ]);
  });
});

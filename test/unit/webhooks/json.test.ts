import { describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../../shared/errors.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { compareVersions, positionVersion, timestampVersion } from '../../../shared/records/version.ts';
import { mapJsonDelivery } from '../../../shared/webhooks/json.ts';
import { mapDelivery } from '../../../shared/webhooks/map-delivery.ts';

const receivedAt = new Date('2025-05-01T08:00:00.000Z');

function source(overrides: Record<string, unknown> = {}) {
  const pipeline = pipelineSchema.parse({
    name: 'orders',
    source: { type: 'webhook', key: ['id'], ...overrides },
    target: { type: 'dynamodb' },
    triggers: { webhook: { signature: 'hmac', secret: 'shop' } },
  } as PipelineInput);
  return pipeline.source;
}

/** The error `act` throws. */
function thrown(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

const map = (body: unknown, src = source(), deliveryId = 'dlv-1') =>
  mapJsonDelivery({ body, deliveryId, receivedAt }, { pipeline: 'orders', source: src });

describe('JSON deliveries', () => {
  it('maps one object to an upsert versioned by its cursor timestamp', () => {
    // Act
    const records = map(
      { id: 7, total: 10, updated_at: '2025-04-30T10:00:00.123456Z' },
      source({ cursor: ['updated_at'] }),
    );

    // Assess
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      key: '7',
      op: 'upsert',
      version: timestampVersion('2025-04-30T10:00:00.123Z', '7', 'webhook'),
      ts: '2025-04-30T10:00:00.123Z',
      data: { id: 7, total: 10, updated_at: '2025-04-30T10:00:00.123456Z' },
      provenance: { pipeline: 'orders', deliveryId: 'dlv-1' },
    });
  });

  it('versions records by a numeric cursor as a position', () => {
    // Act
    const [record] = map({ id: 1, seq: 42 }, source({ cursor: ['seq'] }));

    // Assess
    expect(record?.version).toBe(positionVersion(42));
  });

  it('versions records without a cursor by arrival, keeping the order of an array', () => {
    // Act
    const records = map([
      { id: 1, status: 'paid' },
      { id: 1, status: 'shipped' },
    ]);

    // Assess
    expect(records.map((r) => r.ts)).toEqual([receivedAt.toISOString(), receivedAt.toISOString()]);
    expect(compareVersions(records[1]?.version ?? '', records[0]?.version ?? '')).toBeGreaterThan(0);
    expect(records[0]?.version.startsWith(`t:${receivedAt.toISOString()}|1|dlv-1|`)).toBe(true);
  });

  it('builds composite keys from the pipeline key fields', () => {
    // Act
    const [record] = map({ shop: 'eu', id: 9 }, source({ key: ['shop', 'id'] }));

    // Assess
    expect(record?.key).toBe('eu#9');
  });

  it('turns a record marked deleted by a soft-delete column into a delete', () => {
    // Act
    const [record] = map({ id: 3, deleted: true }, source({ deletes: { mode: 'soft', column: 'deleted' } }));

    // Assess
    expect(record).toMatchObject({ key: '3', op: 'delete', data: null });
  });

  it('names the record and the field when a key is missing', () => {
    // Act
    const error = thrown(() => map([{ id: 1 }, { total: 5 }]));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe('body[1]: key field "id" is missing or empty');
    expect((error as ValidationError).issues).toEqual([{ path: 'body[1].id', message: 'missing or empty' }]);
  });

  it('refuses an element that is not an object, and a body that is a bare value', () => {
    // Act
    const element = thrown(() => map([{ id: 1 }, 'two']));
    const bare = thrown(() => map(42));

    // Assess
    expect(element.message).toBe('body[1] is not a JSON object');
    expect(bare.message).toBe('body is not a JSON object');
  });

  it('refuses a cursor value that is neither a timestamp nor a position', () => {
    // Act
    const error = thrown(() =>
      map({ id: 1, updated_at: 'last tuesday' }, source({ cursor: ['updated_at'] })),
    );

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/^body: .*updated_at/);
  });

  it('maps through mapDelivery for a json pipeline and refuses a pipeline without a webhook source', () => {
    // Prepare
    const pipeline = pipelineSchema.parse({
      name: 'orders',
      source: { type: 'webhook', key: ['id'] },
      target: { type: 'dynamodb' },
      triggers: { webhook: { signature: 'hmac', secret: 'shop' } },
    } as PipelineInput);
    const cdc = pipelineSchema.parse({
      name: 'orders',
      source: { type: 'cdc', key: ['id'] },
      target: { type: 'dynamodb' },
      triggers: { cdc: { pattern: { source: ['x'] } } },
    } as PipelineInput);

    // Act
    const records = mapDelivery(pipeline, {
      headers: {},
      body: [{ id: 1 }, { id: 2 }],
      deliveryId: 'd',
      receivedAt,
    });
    const refused = thrown(() => mapDelivery(cdc, { headers: {}, body: {}, deliveryId: 'd', receivedAt }));

    // Assess
    expect(records.map((r) => r.key)).toEqual(['1', '2']);
    expect(refused).toBeInstanceOf(ConfigError);
  });
});

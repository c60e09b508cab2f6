import { describe, expect, it } from 'vitest';
import { decodeEsyncChange, esyncChangeDetail } from '../../../shared/cdc/esync-change.ts';
import { type DebeziumDecoding, decodeChangeEvent, isChangeEvent } from '../../../shared/cdc/index.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion, streamVersion } from '../../../shared/records/version.ts';

const detail = {
  pipeline: 'customers',
  key: 'c-1',
  op: 'upsert',
  version: positionVersion(10),
  ts: '2025-02-01T10:00:00Z',
  data: { id: 'c-1', name: 'Ada' },
};
const event = (d: unknown, detailType = 'esync.change') => ({
  version: '0',
  id: 'evt-9',
  'detail-type': detailType,
  source: 'my.app',
  account: '000000000000',
  time: '2025-02-01T10:00:01Z',
  region: 'us-east-1',
  resources: [],
  detail: d,
});

/** The error `act` throws. */
function thrown(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

const cdcPipeline = (format: 'debezium' | 'esync') =>
  pipelineSchema.parse({
    name: 'customers',
    source: { type: 'cdc', format, key: ['id'] },
    target: { type: 'dynamodb' },
    triggers: { cdc: { pattern: { source: ['my.app'] } } },
  } satisfies PipelineInput);

describe('esync.change events', () => {
  it('decodes an event into a record whose provenance is the event id', () => {
    // Act
    const record = decodeEsyncChange(event(detail), { pipeline: 'customers' });

    // Assess
    expect(record).toEqual({
      key: 'c-1',
      op: 'upsert',
      version: positionVersion(10),
      ts: '2025-02-01T10:00:00.000Z',
      data: { id: 'c-1', name: 'Ada' },
      hash: contentHash({ id: 'c-1', name: 'Ada' }),
      provenance: { pipeline: 'customers', deliveryId: 'evt-9' },
    });
  });

  it('decodes a bare detail, and a delete without data', () => {
    // Act
    const record = decodeEsyncChange(
      { ...detail, op: 'delete', data: undefined },
      { pipeline: 'customers', deliveryId: 'd' },
    );

    // Assess
    expect(record).toMatchObject({
      op: 'delete',
      data: null,
      hash: 'deleted',
      provenance: { deliveryId: 'd' },
    });
  });

  it('refuses an upsert without data, and a timestamp that is not one, naming the field', () => {
    // Act
    const noData = thrown(() => decodeEsyncChange({ ...detail, data: null }, { pipeline: 'customers' }));
    const badTs = thrown(() => decodeEsyncChange({ ...detail, ts: 'tomorrow' }, { pipeline: 'customers' }));

    // Assess
    expect(noData).toBeInstanceOf(ValidationError);
    expect((noData as ValidationError).issues[0]).toEqual({
      path: 'detail.data',
      message: 'an upsert needs data',
    });
    expect((badTs as ValidationError).issues[0]?.path).toBe('detail.ts');
  });

  it('refuses an event naming another pipeline', () => {
    // Act
    const error = thrown(() =>
      decodeEsyncChange(event({ ...detail, pipeline: 'orders' }), { pipeline: 'customers' }),
    );

    // Assess
    expect(error.message).toBe('esync.change event for pipeline "orders" was routed to pipeline "customers"');
  });

  it('builds a detail that decodes back to the same record', () => {
    // Prepare
    const original = decodeEsyncChange(detail, { pipeline: 'customers' });

    // Act
    const again = decodeEsyncChange(esyncChangeDetail('customers', original), { pipeline: 'customers' });

    // Assess
    expect(again).toEqual(original);
  });
});

const recordsOf = (decoding: DebeziumDecoding) => (decoding.kind === 'changes' ? decoding.records : []);

describe('decodeChangeEvent', () => {
  it('decodes esync.change events by detail-type and other events as Debezium', () => {
    // Prepare
    const debezium = { op: 'c', before: null, after: { id: 5 }, source: { lsn: 10, ts_ms: 1 }, ts_ms: 2 };

    // Act
    const esync = decodeChangeEvent(cdcPipeline('debezium'), event(detail));
    const dbz = decodeChangeEvent(cdcPipeline('debezium'), event(debezium, 'customers.change'));

    // Assess
    expect(recordsOf(esync).map((r) => r.key)).toEqual(['c-1']);
    expect(recordsOf(dbz).map((r) => [r.key, r.version])).toEqual([['5', streamVersion(1, 10)]]);
  });

  it('decodes a custom detail-type as esync.change when the pipeline format says esync', () => {
    // Act
    const records = decodeChangeEvent(cdcPipeline('esync'), event(detail, 'customers.changed'));

    // Assess
    expect(recordsOf(records).map((r) => r.key)).toEqual(['c-1']);
  });

  it('tells routed events from packed record batches', () => {
    // Act
    const routed = isChangeEvent(event(detail));
    const packed = isChangeEvent({
      kind: 'records',
      v: 1,
      pipeline: 'customers',
      messageKey: 'm',
      scope: 's',
      records: [],
    });

    // Assess
    expect([routed, packed]).toEqual([true, false]);
  });
});

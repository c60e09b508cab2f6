import { describe, expect, it } from 'vitest';
import { decodePlainKafkaEvent } from '../../../shared/kafka/records.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { isExactNumber } from '../../../shared/records/exact-json.ts';

const pipelineWith = (cursor: string[]) =>
  pipelineSchema.parse({
    name: 'orders',
    source: { type: 'kafka', key: ['id'], cursor },
    target: { type: 'dynamodb' },
    triggers: { kafka: { bootstrapServers: ['b-1.example.com:9096'], topics: ['orders'] } },
  });

function event(values: (string | null)[], timestamp?: number) {
  return {
    eventSource: 'SelfManagedKafka',
    bootstrapServers: 'b-1.example.com:9096',
    records: {
      'orders-0': values.map((value, i) => ({
        topic: 'orders',
        partition: 0,
        offset: 9 + i,
        ...(timestamp === undefined ? {} : { timestamp }),
        key: null,
        value: value === null ? null : Buffer.from(value).toString('base64'),
      })),
    },
  };
}

const decode = (values: (string | null)[], cursor: string[] = [], timestamp?: number) => {
  const pipeline = pipelineWith(cursor);
  if (pipeline.source.type !== 'kafka') throw new Error('not a kafka source');
  return decodePlainKafkaEvent(event(values, timestamp), {
    pipeline: 'orders',
    source: pipeline.source,
    now: new Date('2026-12-07T12:00:00Z'),
  });
};

const recordsOf = (result: ReturnType<typeof decode>[number]) =>
  result.ok && result.decoding.kind === 'records' ? result.decoding.records : [];

describe('decodePlainKafkaEvent', () => {
  it('keys and versions a value by the pipeline’s key and cursor, keeping numbers exact', () => {
    const [result] = decode(
      ['{"id":7,"amount":0.1000000000000000055511151231257827,"updated_at":"2026-12-07T10:00:00Z"}'],
      ['updated_at'],
    );

    const [record] = recordsOf(result as ReturnType<typeof decode>[number]);
    expect(record).toMatchObject({ key: '7', op: 'upsert', version: 't:2026-12-07T10:00:00.000Z|1|7' });
    expect(isExactNumber(record?.data?.amount)).toBe(true);
    expect(String(record?.data?.amount)).toBe('0.1000000000000000055511151231257827');
    expect(record?.provenance).toMatchObject({
      pipeline: 'orders',
      deliveryId: 'orders:0:00000000000000000009',
    });
  });

  it('without a cursor, versions by the record timestamp and orders records of one millisecond by offset', () => {
    const results = decode(['{"id":1}', '{"id":1}'], [], Date.parse('2026-12-07T10:00:00Z'));

    const versions = results.flatMap(recordsOf).map((r) => r.version);
    expect(versions).toEqual([
      't:2026-12-07T10:00:00.000Z|1|orders:0:00000000000000000009|000000',
      't:2026-12-07T10:00:00.000Z|1|orders:0:00000000000000000010|000000',
    ]);
    expect([...versions].sort()).toEqual(versions);
  });

  it('takes a null value as an ignored tombstone, and refuses a value that is not JSON or lacks its key, naming the record', () => {
    const [tombstone, notJson, noKey] = decode([null, '{"id":', '{"name":"x"}']);

    expect(tombstone).toMatchObject({ ok: true, decoding: { kind: 'ignored', ignored: 'tombstone' } });
    expect(notJson).toMatchObject({ ok: false, deliveryId: 'orders:0:10' });
    expect(notJson?.ok === false && notJson.error.message).toBe(
      'kafka record orders/0@10: the value is not JSON',
    );
    expect(noKey?.ok === false && noKey.error.message).toMatch(/^kafka record orders\/0@11: value: .*id/);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeKafkaEvent } from '../../../shared/cdc/kafka.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { streamVersion } from '../../../shared/records/version.ts';

const base64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

const change = (id: number, lsn: number, op = 'u') => ({
  schema: { type: 'struct', name: 'dbserver1.public.customers.Envelope' },
  payload: {
    before: op === 'd' ? { id } : null,
    after: op === 'd' ? null : { id, email: `${id}@example.com` },
    source: { connector: 'postgresql', lsn, ts_ms: 1700000000000, table: 'customers' },
    op,
    ts_ms: 1700000000500,
  },
});

/** A Lambda MSK event, as the event source mapping delivers it. */
function mskEvent(values: (string | null)[]) {
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/cdc/abcd',
    bootstrapServers: 'b-1.cdc.kafka.us-east-1.amazonaws.com:9092',
    records: {
      'dbserver1.public.customers-0': values.map((value, offset) => ({
        topic: 'dbserver1.public.customers',
        partition: 0,
        offset: 100 + offset,
        timestamp: 1700000000600,
        timestampType: 'CREATE_TIME',
        key: base64({ id: 1 }),
        value,
        headers: [{ origin: [100, 98] }],
      })),
    },
  };
}

describe('Kafka events', () => {
  it('decodes each record value as a Debezium event, one result per record', () => {
    // Act
    const results = decodeKafkaEvent(mskEvent([base64(change(1, 500)), base64(change(2, 510, 'd'))]), {
      pipeline: 'customers',
      keyFields: ['id'],
    });

    // Assess
    expect(results.map((r) => [r.deliveryId, r.ok])).toEqual([
      ['dbserver1.public.customers:0:100', true],
      ['dbserver1.public.customers:0:101', true],
    ]);
    const records = results.flatMap((r) => (r.ok && r.decoding.kind === 'changes' ? r.decoding.records : []));
    expect(records.map((r) => [r.key, r.op, r.version])).toEqual([
      ['1', 'upsert', streamVersion(1700000000000, 500)],
      ['2', 'delete', streamVersion(1700000000000, 510)],
    ]);
    expect(records[0]?.provenance).toEqual({
      pipeline: 'customers',
      deliveryId: 'dbserver1.public.customers:0:100',
    });
  });

  it('counts a null value as a tombstone and fails only the record that cannot be decoded', () => {
    // Act
    const results = decodeKafkaEvent(
      mskEvent([null, base64('not json'), '***', base64({ op: 'c' }), base64(change(3, 520))]),
      {
        pipeline: 'customers',
        keyFields: ['id'],
      },
    );

    // Assess
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false, true]);
    expect(results[0]).toMatchObject({ ok: true, decoding: { kind: 'ignored', ignored: 'tombstone' } });
    const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
    expect(errors.every((e) => e instanceof ValidationError)).toBe(true);
    expect(errors.map((e) => e.message)).toEqual([
      'kafka record dbserver1.public.customers/0@101: the value is not JSON',
      'kafka record dbserver1.public.customers/0@102: the value is not base64',
      expect.stringMatching(
        /^kafka record dbserver1\.public\.customers\/0@103: debezium event is malformed: source/,
      ),
    ]);
  });

  it('refuses an event that is not a Kafka event', () => {
    // Act
    const decoding = () => decodeKafkaEvent({ Records: [] }, { pipeline: 'customers', keyFields: ['id'] });

    // Assess
    expect(decoding).toThrow(ValidationError);
    expect(decoding).toThrow(/kafka event is malformed: eventSource/);
  });
});

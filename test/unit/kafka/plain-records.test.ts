import { describe, expect, it } from 'vitest';
import { decodePlainKafkaEvent } from '../../../shared/kafka/records.ts';
import { formatProblem, parsePipelineText } from '../../../shared/pipeline/load.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { isExactNumber } from '../../../shared/records/exact-json.ts';
import { avroOrder, ORDER_AVRO_SCHEMA, ORDER_PROTO, protobufOrder } from '../../support/kafka-values.ts';

const kafkaPipeline = (source: Record<string, unknown>) => ({
  name: 'orders',
  source: { type: 'kafka', key: ['id'], ...source },
  target: { type: 'dynamodb' },
  triggers: { kafka: { bootstrapServers: ['b-1.example.com:9096'], topics: ['orders'] } },
});

const pipelineWith = (cursor: string[]) => pipelineSchema.parse(kafkaPipeline({ cursor }));

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

const decode = async (values: (string | null)[], cursor: string[] = [], timestamp?: number) => {
  const pipeline = pipelineWith(cursor);
  if (pipeline.source.type !== 'kafka') throw new Error('not a kafka source');
  return decodePlainKafkaEvent(event(values, timestamp), {
    pipeline: 'orders',
    source: pipeline.source,
    now: new Date('2026-12-07T12:00:00Z'),
  });
};

type Result = Awaited<ReturnType<typeof decode>>[number];

const recordsOf = (result: Result | undefined) =>
  result?.ok && result.decoding.kind === 'records' ? result.decoding.records : [];

describe('decodePlainKafkaEvent', () => {
  it('keys and versions a value by the pipeline’s key and cursor, keeping numbers exact', async () => {
    const [result] = await decode(
      ['{"id":7,"amount":0.1000000000000000055511151231257827,"updated_at":"2026-12-07T10:00:00Z"}'],
      ['updated_at'],
    );

    const [record] = recordsOf(result);
    expect(record).toMatchObject({ key: '7', op: 'upsert', version: 't:2026-12-07T10:00:00.000Z|1|7' });
    expect(isExactNumber(record?.data?.amount)).toBe(true);
    expect(String(record?.data?.amount)).toBe('0.1000000000000000055511151231257827');
    expect(record?.provenance).toMatchObject({
      pipeline: 'orders',
      deliveryId: 'orders:0:00000000000000000009',
    });
  });

  it('without a cursor, versions by the record timestamp and orders records of one millisecond by offset', async () => {
    const results = await decode(['{"id":1}', '{"id":1}'], [], Date.parse('2026-12-07T10:00:00Z'));

    const versions = results.flatMap(recordsOf).map((r) => r.version);
    expect(versions).toEqual([
      't:2026-12-07T10:00:00.000Z|1|orders:0:00000000000000000009|000000',
      't:2026-12-07T10:00:00.000Z|1|orders:0:00000000000000000010|000000',
    ]);
    expect([...versions].sort()).toEqual(versions);
  });

  it('takes a null value as an ignored tombstone, and refuses a value that is not JSON or lacks its key, naming the record', async () => {
    const [tombstone, notJson, noKey] = await decode([null, '{"id":', '{"name":"x"}']);

    expect(tombstone).toMatchObject({ ok: true, decoding: { kind: 'ignored', ignored: 'tombstone' } });
    expect(notJson).toMatchObject({ ok: false, deliveryId: 'orders:0:10' });
    expect(notJson?.ok === false && notJson.error.message).toBe(
      'kafka record orders/0@10: the value is not JSON',
    );
    expect(noKey?.ok === false && noKey.error.message).toMatch(/^kafka record orders\/0@11: value: .*id/);
  });

  const schemaSource = (source: Record<string, unknown>) => {
    const p = pipelineSchema.parse({
      name: 'orders',
      source: { type: 'kafka', key: ['id'], cursor: ['updated_at'], ...source },
      target: { type: 'dynamodb' },
      triggers: { kafka: { bootstrapServers: ['b-1.example.com:9096'], topics: ['orders'] } },
    });
    if (p.source.type !== 'kafka') throw new Error('not a kafka source');
    return p.source;
  };
  const binaryEvent = (values: Buffer[], metadata?: { dataFormat: string; schemaId: string }) => ({
    eventSource: 'aws:kafka',
    eventSourceArn:
      'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
    records: {
      'orders-0': values.map((value, i) => ({
        topic: 'orders',
        partition: 0,
        offset: i,
        timestamp: 1,
        value: value.toString('base64'),
        ...(metadata ? { valueSchemaMetadata: metadata } : {}),
      })),
    },
  });
  const options = (source: Record<string, unknown>) => ({
    pipeline: 'orders',
    source: schemaSource(source),
    now: new Date(),
  });

  it('decodes Avro values by the schema: a long beyond a double exact, decimals, timestamps, unions unwrapped', async () => {
    const value = avroOrder({
      id: 'o-1',
      qty: 9_007_199_254_740_993n,
      priceCents: 123_456_789_012_345_678n,
      note: 'gift',
      updatedAtMs: Date.parse('2026-12-07T10:00:00.123Z'),
      ratio: Number.NaN,
    });

    const [result] = await decodePlainKafkaEvent(
      binaryEvent([value]),
      options({ format: 'avro', schema: ORDER_AVRO_SCHEMA }),
    );

    const [record] = recordsOf(result);
    expect(String(record?.data?.qty)).toBe('9007199254740993');
    expect(isExactNumber(record?.data?.qty)).toBe(true);
    expect(String(record?.data?.price)).toBe('1234567890123456.78');
    expect(record?.data).toMatchObject({
      id: 'o-1',
      note: 'gift',
      updated_at: '2026-12-07T10:00:00.123Z',
      ratio: 'NaN',
    });
    expect(record?.version).toBe('t:2026-12-07T10:00:00.123Z|1|o-1');
  });

  it('decodes Protobuf values by the message type, as produced and behind a Confluent registry’s message index', async () => {
    const order = {
      id: 'o-2',
      qty: '9007199254740993',
      updated_at: '2026-12-07T10:00:00Z',
      ratio: 0.5,
      lines: [{ sku: 's-1', units: '18446744073709551' }],
      tag: Buffer.from('hi'),
    };
    const source = { format: 'protobuf', schema: ORDER_PROTO, messageType: 'shop.Order' };

    const [plain] = await decodePlainKafkaEvent(binaryEvent([protobufOrder(order)]), options(source));
    const [registry] = await decodePlainKafkaEvent(
      binaryEvent([Buffer.concat([Buffer.from([0]), protobufOrder(order)])], {
        dataFormat: 'PROTOBUF',
        schemaId: '7',
      }),
      options(source),
    );

    for (const result of [plain, registry]) {
      const [record] = recordsOf(result);
      expect(String(record?.data?.qty)).toBe('9007199254740993');
      expect(isExactNumber(record?.data?.qty)).toBe(true);
      expect(record?.data).toMatchObject({ id: 'o-2', ratio: 0.5, tag: 'aGk=' });
      expect(String(((record?.data?.lines ?? []) as { units: unknown }[])[0]?.units)).toBe(
        '18446744073709551',
      );
    }
  });

  it('refuses a value that is not of the schema, naming the record and the format but not the value', async () => {
    const [result] = await decodePlainKafkaEvent(
      binaryEvent([Buffer.from('secret-value')]),
      options({ format: 'avro', schema: ORDER_AVRO_SCHEMA }),
    );

    expect(result).toMatchObject({ ok: false });
    const message = result?.ok === false ? result.error.message : '';
    expect(message).toBe('kafka record orders/0@0: the value does not decode as avro of source.schema');
  });

  it('refuses a pipeline that lacks what its format needs, naming the field', () => {
    const problems = (source: Record<string, unknown>) => {
      const result = pipelineSchema.safeParse(kafkaPipeline(source));
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };

    expect(problems({ format: 'avro' })).toEqual(['source.schema: avro values need their schema']);
    expect(problems({ format: 'protobuf', schema: ORDER_PROTO })).toEqual([
      'source.messageType: protobuf values need their message type (e.g. shop.Order)',
    ]);
    expect(problems({ format: 'json', schema: ORDER_PROTO })).toEqual([
      'source.schema: is for avro and protobuf values',
    ]);
    expect(problems({ format: 'avro', schema: ORDER_AVRO_SCHEMA, messageType: 'shop.Order' })).toEqual([
      'source.messageType: is for protobuf values',
    ]);
  });

  it('refuses a pipeline file whose schema does not compile, at source.schema', () => {
    const problems = (source: Record<string, unknown>) =>
      parsePipelineText(JSON.stringify(kafkaPipeline(source), null, 2), 'p.yaml').problems.map(formatProblem);

    expect(problems({ format: 'avro', schema: '{"type":"record"}' })).toEqual([
      expect.stringMatching(/^p\.yaml:\d+:\d+ source\.schema the avro schema does not compile: /),
    ]);
    expect(problems({ format: 'protobuf', schema: ORDER_PROTO, messageType: 'shop.Nope' })).toEqual([
      expect.stringMatching(
        /^p\.yaml:\d+:\d+ source\.schema the protobuf schema does not compile: .*shop\.Nope/,
      ),
    ]);
    expect(problems({ format: 'avro', schema: ORDER_AVRO_SCHEMA })).toEqual([]);
  });

  it('leaves the schema compile to the loader: the pipeline schema the functions parse accepts it', () => {
    const result = pipelineSchema.safeParse(kafkaPipeline({ format: 'avro', schema: '{"type":"record"}' }));

    expect(result.success).toBe(true);
  });
});

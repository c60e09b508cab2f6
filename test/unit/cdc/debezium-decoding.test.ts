import { describe, expect, it } from 'vitest';
import { type DebeziumOptions, decodeDebeziumMessage } from '../../../shared/cdc/debezium.ts';
import {
  type DebeziumSettings,
  defaultDebeziumSettings,
} from '../../../shared/connectors/sources/cdc/config.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { ExactNumber, parseExactJson, stringifyExactJson } from '../../../shared/records/exact-json.ts';
import { streamVersion } from '../../../shared/records/version.ts';

const PLACEHOLDER = '__debezium_unavailable_value';

function settings(overrides: Partial<DebeziumSettings> = {}): DebeziumSettings {
  return { ...defaultDebeziumSettings(), ...overrides };
}

const options = (overrides: Partial<DebeziumSettings> = {}): DebeziumOptions => ({
  pipeline: 'items',
  keyFields: ['id'],
  settings: settings(overrides),
});

/** One column: its Connect field schema and the value Debezium's JSON converter writes for it. */
interface Column {
  readonly schema: Record<string, unknown>;
  readonly wire: unknown;
}

/** A create event of one row, with or without the JSON converter's schema, as JSON text. */
function createEvent(columns: Record<string, Column>, withSchema: boolean): string {
  const after: Record<string, unknown> = { id: 1 };
  const fields: Record<string, unknown>[] = [{ type: 'int32', optional: false, field: 'id' }];
  for (const [field, column] of Object.entries(columns)) {
    after[field] = column.wire;
    fields.push({ ...column.schema, optional: true, field });
  }
  const payload = {
    before: null,
    after,
    source: { connector: 'postgresql', lsn: 500, ts_ms: 1700000000000, table: 'items' },
    op: 'c',
    ts_ms: 1700000000100,
  };
  const schema = {
    type: 'struct',
    name: 'pg.public.items.Envelope',
    fields: [
      { type: 'struct', optional: true, name: 'pg.public.items.Value', field: 'before', fields },
      { type: 'struct', optional: true, name: 'pg.public.items.Value', field: 'after', fields },
    ],
  };
  return stringifyExactJson(withSchema ? { schema, payload } : { schema: null, payload });
}

/** The data of the one record a message decodes to. */
function dataOf(text: string, opts: DebeziumOptions): Record<string, unknown> {
  const decoding = decodeDebeziumMessage(parseExactJson(text), opts);
  if (decoding.kind !== 'changes') throw new Error(`decoded a ${decoding.kind}`);
  return decoding.records[0]?.data ?? {};
}

const named = (type: string, name: string, parameters?: Record<string, string>) => ({
  type,
  name,
  ...(parameters ? { parameters } : {}),
});

/** Every logical type Debezium's PostgreSQL and MySQL connectors emit, with the canonical value expected. */
const LOGICAL_TYPES: Record<string, Column & { readonly expected: unknown }> = {
  price: {
    schema: named('bytes', 'org.apache.kafka.connect.data.Decimal', {
      scale: '2',
      'connect.decimal.precision': '10',
    }),
    wire: 'EtaH',
    expected: 12345.67,
  },
  debt: {
    schema: named('bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '2' }),
    wire: '/2o=',
    expected: -1.5,
  },
  big: {
    schema: named('bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '10' }),
    wire: 'F8bjv9cP3ursQXFy3LrA',
    expected: new ExactNumber('12345678901234567890123456.7890123456'),
  },
  ratio: {
    schema: named('struct', 'io.debezium.data.VariableScaleDecimal'),
    wire: { scale: 3, value: 'BNI=' },
    expected: 1.234,
  },
  born: { schema: named('int32', 'io.debezium.time.Date'), wire: 19000, expected: '2022-01-08' },
  opens: { schema: named('int32', 'io.debezium.time.Time'), wire: 3723004, expected: '01:02:03.004' },
  closes: {
    schema: named('int64', 'io.debezium.time.MicroTime'),
    wire: 3723004005,
    expected: '01:02:03.004005',
  },
  ticks: {
    schema: named('int64', 'io.debezium.time.NanoTime'),
    wire: 3723004005006,
    expected: '01:02:03.004005006',
  },
  seen: {
    schema: named('int64', 'io.debezium.time.Timestamp'),
    wire: 1700000000123,
    expected: '2023-11-14T22:13:20.123Z',
  },
  updated: {
    schema: named('int64', 'io.debezium.time.MicroTimestamp'),
    wire: 1700000000123456,
    expected: '2023-11-14T22:13:20.123456Z',
  },
  measured: {
    schema: named('int64', 'io.debezium.time.NanoTimestamp'),
    wire: new ExactNumber('1700000000123456789'),
    expected: '2023-11-14T22:13:20.123456789Z',
  },
  zoned: {
    schema: named('string', 'io.debezium.time.ZonedTimestamp'),
    wire: '2023-11-14T22:13:20.123456Z',
    expected: '2023-11-14T22:13:20.123456Z',
  },
  // Debezium drops trailing zeros; polling the same value prints 6 digits (3 on a whole ms).
  zonedTrimmed: {
    schema: named('string', 'io.debezium.time.ZonedTimestamp'),
    wire: '2023-11-14T22:13:20.1234Z',
    expected: '2023-11-14T22:13:20.123400Z',
  },
  zonedWhole: {
    schema: named('string', 'io.debezium.time.ZonedTimestamp'),
    wire: '2023-11-14T22:13:20Z',
    expected: '2023-11-14T22:13:20.000Z',
  },
  updatedOnMilli: {
    schema: named('int64', 'io.debezium.time.MicroTimestamp'),
    wire: 1700000000123000,
    expected: '2023-11-14T22:13:20.123Z',
  },
  zonedTime: {
    schema: named('string', 'io.debezium.time.ZonedTime'),
    wire: '22:13:20.123456Z',
    expected: '22:13:20.123456Z',
  },
  connectDate: {
    schema: named('int32', 'org.apache.kafka.connect.data.Date'),
    wire: 19000,
    expected: '2022-01-08',
  },
  connectTime: {
    schema: named('int32', 'org.apache.kafka.connect.data.Time'),
    wire: 3723004,
    expected: '01:02:03.004',
  },
  connectTimestamp: {
    schema: named('int64', 'org.apache.kafka.connect.data.Timestamp'),
    wire: 1700000000123,
    expected: '2023-11-14T22:13:20.123Z',
  },
  forever: {
    schema: named('int64', 'io.debezium.time.MicroTimestamp'),
    wire: new ExactNumber('9223372036854775807'),
    expected: 'infinity',
  },
  never: {
    schema: named('int64', 'io.debezium.time.MicroTimestamp'),
    wire: new ExactNumber('-9223372036854775808'),
    expected: '-infinity',
  },
  jdbcForever: {
    schema: named('int64', 'io.debezium.time.Timestamp'),
    wire: new ExactNumber('9223372036825200000'),
    expected: 'infinity',
  },
  zonedForever: {
    schema: named('string', 'io.debezium.time.ZonedTimestamp'),
    wire: 'infinity',
    expected: 'infinity',
  },
  photo: { schema: { type: 'bytes' }, wire: '3q2+7w==', expected: '3q2+7w==' },
  counter: {
    schema: { type: 'int64' },
    wire: new ExactNumber('9007199254740993'),
    expected: new ExactNumber('9007199254740993'),
  },
  name: { schema: { type: 'string' }, wire: 'Ünïcødé 🚀', expected: 'Ünïcødé 🚀' },
  score: { schema: { type: 'float64' }, wire: new ExactNumber('1e300'), expected: 1e300 },
  doc: {
    schema: named('string', 'io.debezium.data.Json'),
    wire: '{"big": 12345678901234567890, "list": [0.1, "x"]}',
    expected: { big: new ExactNumber('12345678901234567890'), list: [0.1, 'x'] },
  },
  amounts: {
    schema: { type: 'array', items: named('bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '2' }) },
    wire: ['EtaH', null],
    expected: [12345.67, null],
  },
};

/** The column types a pipeline names for the same fields when events carry no schema. */
const COLUMN_TYPES: Record<string, string> = {
  price: 'numeric(10,2)',
  debt: 'numeric(10,2)',
  big: 'numeric(38,10)',
  ratio: 'numeric',
  born: 'date',
  opens: 'time(3)',
  closes: 'time(6)',
  seen: 'timestamp(3)',
  updated: 'timestamp(6)',
  zoned: 'timestamptz',
  zonedTrimmed: 'timestamptz',
  zonedWhole: 'timestamptz',
  updatedOnMilli: 'timestamp(6)',
  zonedTime: 'timetz',
  forever: 'timestamp(6)',
  never: 'timestamp',
  jdbcForever: 'timestamp(3)',
  zonedForever: 'timestamptz',
  photo: 'bytea',
  doc: 'jsonb',
};

describe('Debezium values', () => {
  it('decodes every logical type by the schema the JSON converter carries', () => {
    // Prepare
    const text = createEvent(LOGICAL_TYPES, true);

    // Act
    const data = dataOf(text, options());

    // Assess
    for (const [field, column] of Object.entries(LOGICAL_TYPES))
      expect({ field, value: data[field] }).toEqual({ field, value: column.expected });
  });

  it('decodes the same values without a schema by the column types the pipeline names', () => {
    // Prepare
    const columns = Object.fromEntries(Object.entries(LOGICAL_TYPES).filter(([f]) => f in COLUMN_TYPES));
    const text = createEvent(columns, false);

    // Act
    const data = dataOf(text, options({ fields: COLUMN_TYPES }));

    // Assess
    for (const [field, column] of Object.entries(columns))
      expect({ field, value: data[field] }).toEqual({ field, value: column.expected });
  });

  it('keeps values as they arrived when there is neither a schema nor a column type, exact beyond 2^53', () => {
    // Prepare
    const text = createEvent(LOGICAL_TYPES, false);

    // Act
    const data = dataOf(text, options());

    // Assess
    expect(data.updated).toBe(1700000000123456);
    expect(data.price).toBe('EtaH');
    expect(data.counter).toEqual(new ExactNumber('9007199254740993'));
  });

  it('keys a record by a 64-bit integer without rounding it', () => {
    // Prepare
    const text = `{"op":"c","after":{"id":9007199254740993},"source":{"lsn":1,"ts_ms":1}}`;

    // Act
    const decoding = decodeDebeziumMessage(parseExactJson(text), options());

    // Assess
    expect(decoding.kind === 'changes' && decoding.records[0]?.key).toBe('9007199254740993');
  });

  it('reads decimals sent as text or numbers (decimal.handling.mode string, double) as exact numbers', () => {
    // Prepare
    const text = createEvent(
      {
        price: { schema: { type: 'string' }, wire: '12345678901234567890.12' },
        rate: { schema: { type: 'float64' }, wire: 0.5 },
      },
      true,
    );

    // Act
    const data = dataOf(
      text,
      options({ decimalHandlingMode: 'string', fields: { price: 'numeric(22,2)', rate: 'numeric' } }),
    );

    // Assess
    expect(data.price).toEqual(new ExactNumber('12345678901234567890.12'));
    expect(data.rate).toBe(0.5);
  });

  it('reads times and timestamps in milliseconds under time.precision.mode connect', () => {
    // Prepare
    const text = createEvent(
      {
        seen: { schema: { type: 'int64' }, wire: 1700000000123 },
        at: { schema: { type: 'int32' }, wire: 3723004 },
      },
      false,
    );

    // Act
    const data = dataOf(
      text,
      options({ timePrecisionMode: 'connect', fields: { seen: 'timestamp(6)', at: 'time(6)' } }),
    );

    // Assess
    expect(data).toMatchObject({ seen: '2023-11-14T22:13:20.123Z', at: '01:02:03.004' });
  });

  it('reads every time in microseconds under time.precision.mode adaptive_time_microseconds', () => {
    // Prepare
    const text = createEvent({ at: { schema: { type: 'int64' }, wire: 3723004005 } }, false);

    // Act
    const data = dataOf(
      text,
      options({ timePrecisionMode: 'adaptive_time_microseconds', fields: { at: 'time(3)' } }),
    );

    // Assess
    expect(data.at).toBe('01:02:03.004005');
  });

  it('recognizes a placeholder the connector was configured with, in its bytes forms too', () => {
    // Prepare
    const bytes = Buffer.from('<toasted>');
    const text = createEvent(
      {
        blob: { schema: { type: 'bytes' }, wire: bytes.toString('base64') },
        hexBlob: { schema: { type: 'string' }, wire: bytes.toString('hex') },
      },
      true,
    );

    // Act
    const data = dataOf(
      text,
      options({
        unavailableValuePlaceholder: '<toasted>',
        binaryHandlingMode: 'hex',
        fields: { hexBlob: 'bytea' },
      }),
    );

    // Assess
    expect(data).toMatchObject({ blob: '<toasted>', hexBlob: '<toasted>' });
  });

  it('stores bytes as base64 whatever binary.handling.mode sent', () => {
    // Prepare
    const hex = createEvent({ photo: { schema: { type: 'string' }, wire: 'deadbeef' } }, true);
    const urlSafe = createEvent({ photo: { schema: { type: 'string' }, wire: '-_8' } }, false);

    // Act
    const fromHex = dataOf(hex, options({ binaryHandlingMode: 'hex', fields: { photo: 'bytea' } }));
    const fromUrlSafe = dataOf(
      urlSafe,
      options({ binaryHandlingMode: 'base64-url-safe', fields: { photo: 'bytea' } }),
    );

    // Assess
    expect(fromHex.photo).toBe('3q2+7w==');
    expect(fromUrlSafe.photo).toBe('+/8=');
  });

  it('turns the unavailable-value placeholder into its text in every form Debezium sends it', () => {
    // Prepare
    const bytes = Buffer.from(PLACEHOLDER);
    const text = createEvent(
      {
        body: { schema: { type: 'string' }, wire: PLACEHOLDER },
        blob: { schema: { type: 'bytes' }, wire: bytes.toString('base64') },
        hexBlob: { schema: { type: 'string' }, wire: bytes.toString('hex') },
        tags: { schema: { type: 'array', items: { type: 'string' } }, wire: [PLACEHOLDER] },
      },
      true,
    );

    // Act
    const data = dataOf(text, options({ fields: { hexBlob: 'bytea' }, binaryHandlingMode: 'hex' }));

    // Assess
    expect(data).toMatchObject({
      body: PLACEHOLDER,
      blob: PLACEHOLDER,
      hexBlob: PLACEHOLDER,
      tags: PLACEHOLDER,
    });
  });

  it('refuses a value that does not fit its type, naming the field and the type', () => {
    // Prepare
    const date = createEvent(
      { born: { schema: named('int32', 'io.debezium.time.Date'), wire: 'yesterday' } },
      true,
    );
    const json = createEvent(
      { doc: { schema: named('string', 'io.debezium.data.Json'), wire: '{"a":' } },
      true,
    );

    // Act
    const act = (text: string) => () => dataOf(text, options());

    // Assess
    expect(act(date)).toThrow(ValidationError);
    expect(act(date)).toThrow(/after\.born \(io\.debezium\.time\.Date\): a date in days must be an integer/);
    expect(act(json)).toThrow(/after\.doc \(io\.debezium\.data\.Json\): the text is not JSON/);
  });
});

/** An EventBridge event carrying `detail`. */
const onBus = (detail: unknown) => ({
  version: '0',
  id: 'evt-1',
  'detail-type': 'items.change',
  source: 'esync.cdc',
  detail,
});

describe('Debezium event kinds', () => {
  it('counts the wrapped and the bare null value as tombstones', () => {
    // Act
    const kinds = [onBus({ schema: null, payload: null }), { schema: null, payload: null }, null].map(
      (value) => decodeDebeziumMessage(value, options()),
    );

    // Assess
    expect(kinds).toEqual(Array(3).fill({ kind: 'ignored', ignored: 'tombstone' }));
  });

  it('ignores heartbeats, transaction BEGIN/END and schema changes, each counted as its kind', () => {
    // Prepare
    const heartbeat = {
      schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' },
      payload: { ts_ms: 1 },
    };
    const begin = {
      status: 'BEGIN',
      id: '571:53195829',
      ts_ms: 1,
      event_count: null,
      data_collections: null,
    };
    const end = {
      status: 'END',
      id: '571:53195829',
      ts_ms: 2,
      event_count: 2,
      data_collections: [{ data_collection: 'public.items', event_count: 2 }],
    };
    const ddl = {
      source: { ts_ms: 1 },
      databaseName: 'shop',
      ddl: 'ALTER TABLE items ADD c INT',
      tableChanges: [],
    };

    // Act
    const kinds = [onBus(heartbeat), onBus(begin), end, ddl].map((v) => decodeDebeziumMessage(v, options()));

    // Assess
    expect(kinds.map((k) => (k.kind === 'ignored' ? k.ignored : k.kind))).toEqual([
      'heartbeat',
      'transaction',
      'transaction',
      'schema-change',
    ]);
  });

  it('accepts a flattened record, versioned by __lsn and __source_ts_ms, a rewritten delete as a delete', () => {
    // Prepare
    const upsert = {
      id: 7,
      name: 'x',
      __op: 'u',
      __lsn: 900,
      __source_ts_ms: 1700000000000,
      __deleted: 'false',
    };
    const deleted = {
      id: 7,
      name: 'x',
      __op: 'd',
      __lsn: 901,
      __source_ts_ms: 1700000000001,
      __deleted: 'true',
    };

    // Act
    const [a, b] = [upsert, deleted].map((v) => decodeDebeziumMessage(onBus(v), options()));

    // Assess
    expect(a).toMatchObject({
      kind: 'changes',
      records: [
        { key: '7', op: 'upsert', version: streamVersion(1700000000000, 900), data: { id: 7, name: 'x' } },
      ],
    });
    expect(b).toMatchObject({ kind: 'changes', records: [{ key: '7', op: 'delete', data: null }] });
  });

  it('decodes a flattened record by its schema and takes a MySQL position from __file, __pos and __row', () => {
    // Prepare
    const value = {
      schema: {
        type: 'struct',
        fields: [
          { type: 'int32', field: 'id' },
          { type: 'int32', name: 'io.debezium.time.Date', field: 'born' },
        ],
      },
      payload: {
        id: 3,
        born: 19000,
        __op: 'c',
        __file: 'mysql-bin.000004',
        __pos: 1200,
        __row: 0,
        __source_ts_ms: 5,
      },
    };

    // Act
    const decoding = decodeDebeziumMessage(value, options());

    // Assess
    expect(decoding).toMatchObject({
      kind: 'changes',
      records: [
        { data: { id: 3, born: '2022-01-08' }, version: streamVersion(5, 4n * 10n ** 12n + 1200n, 0) },
      ],
    });
  });

  it('refuses a flattened record without the fields it needs, naming them and never `undefined`', () => {
    // Prepare
    const cases = [
      { id: 1, name: 'x' },
      { id: 1, __op: 'c', __source_ts_ms: 1 },
      { id: 1, __op: 'c', __lsn: 5 },
    ];

    // Act
    const errors = cases.map((c) => {
      try {
        decodeDebeziumMessage(onBus(c), options());
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    });

    // Assess
    expect(errors[0]).toMatch(
      /carries neither __op nor __deleted, no __source_ts_ms \(or __ts_ms\), no source position \(__lsn; __file, __pos and __row; or __source_sequence\); set add\.fields=op,lsn,source\.ts_ms/,
    );
    expect(errors[1]).toMatch(/carries no source position \(__lsn;[^)]*\); set add\.fields/);
    expect(errors[2]).toMatch(/carries no __source_ts_ms \(or __ts_ms\); set add\.fields/);
    expect(errors.join(' ')).not.toMatch(/undefined/);
  });

  it('names missing members of a malformed envelope as required, never as `undefined`', () => {
    // Act
    let message = '';
    try {
      decodeDebeziumMessage(onBus({ op: 'c', after: { id: 1 } }), options());
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    expect(message).toBe('debezium event is malformed: source: is required');
  });
});

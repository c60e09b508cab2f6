import { kafkaConsumer, SchemaType } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecords, MSKEvent, SchemaConfigValue } from '@aws-lambda-powertools/kafka/types';
import avro from 'avro-js';
import type { Context } from 'aws-lambda';
import protobuf from 'protobufjs';
import { dateFromEpochDays, decimalFromBytes, timestampFromEpoch } from '../cdc/debezium-values.ts';
import { ValidationError } from '../errors.ts';
import { exactNumber, isExactNumber } from '../records/exact-json.ts';
import type { KafkaEvent } from './event.ts';

/**
 * Avro and Protobuf record values, decoded by Powertools' Kafka utility
 * (`@aws-lambda-powertools/kafka`, with avro-js and protobufjs) from the binary the event source
 * hands on: the plain encoding, or, where the event source's schema registry integration
 * (`triggers.kafka.schemaRegistry`, event record format SOURCE) removed a registry's framing and
 * put the schema id in `valueSchemaMetadata`, what remains (the utility skips a Confluent
 * Protobuf value's message indexes).
 *
 * What the utility gives is made canonical record data (`records/exact-json.ts`): an Avro long
 * or a Protobuf 64-bit integer beyond a double stays exact (avro-js refuses such a long and
 * protobufjs gives an object, so the schemas are compiled here with their own long type); Avro
 * unions are unwrapped; bytes become base64; NaN and infinities become their strings; Avro
 * decimals, timestamps (millis, micros) and dates take their canonical forms.
 */

export type SchemaFormat = 'avro' | 'protobuf';

export interface ValueSchema {
  readonly format: SchemaFormat;
  /** The Avro schema (JSON) or the .proto text. */
  readonly schema: string;
  /** Protobuf: the message type of the values. */
  readonly messageType?: string;
}

/** A compiled value schema: what the utility decodes with, and how its output becomes record data. */
interface CompiledSchema {
  readonly config: SchemaConfigValue;
  readonly toData: (value: unknown) => unknown;
}

const compiled = new Map<string, CompiledSchema>();

/**
 * Compiles a value schema once per process.
 * @throws ValidationError naming the problem when the schema does not compile.
 */
export function compileValueSchema(schema: ValueSchema): CompiledSchema {
  const id = `${schema.format}\u0000${schema.messageType ?? ''}\u0000${schema.schema}`;
  let found = compiled.get(id);
  if (!found) {
    try {
      found = schema.format === 'avro' ? compileAvro(schema.schema) : compileProtobuf(schema);
    } catch (error) {
      throw new ValidationError(`the ${schema.format} schema does not compile: ${(error as Error).message}`, [
        { path: 'schema', message: (error as Error).message },
      ]);
    }
    compiled.set(id, found);
  }
  return found;
}

/**
 * The values of every record of `event`, by `<topic>:<partition>:<offset>`: each decoded when
 * read, so one that does not decode throws (a ValidationError naming the format, never the
 * value) for its record alone.
 */
export async function schemaValuesOf(
  event: KafkaEvent,
  schema: ValueSchema,
): Promise<Map<string, () => unknown>> {
  const { config, toData } = compileValueSchema(schema);
  const records = Object.values(event.records).flat();
  const consume = kafkaConsumer(async (consumed: ConsumerRecords<unknown, unknown>) => consumed.records, {
    value: config,
  });
  // The utility reads the value's schema metadata even without a registry.
  const withMetadata = records.map((r) => ({
    ...r,
    key: r.key ?? '',
    value: r.value ?? null,
    headers: r.headers ?? null,
    timestamp: r.timestamp ?? 0,
    timestampType: r.timestampType ?? 'CREATE_TIME',
    valueSchemaMetadata: r.valueSchemaMetadata ?? { dataFormat: schema.format.toUpperCase() },
    keySchemaMetadata: r.keySchemaMetadata ?? { dataFormat: 'STRING' },
  }));
  const mskEvent = { ...event, records: { batch: withMetadata } } as unknown as MSKEvent;
  // The wrapped handler reads no context.
  const consumed = (await consume(mskEvent, {} as Context)) as ConsumerRecords<unknown, unknown>['records'];
  const values = new Map<string, () => unknown>();
  for (const record of consumed)
    values.set(`${record.topic}:${record.partition}:${record.offset}`, () => {
      try {
        return toData(record.value);
      } catch {
        // The utility's message holds the raw value: it is not passed on.
        throw new ValidationError(`the value does not decode as ${schema.format} of source.schema`, [
          { path: 'value', message: `not ${schema.format} of source.schema` },
        ]);
      }
    });
  return values;
}

/**
 * Why a kafka source's schema does not compile (with its message type), or nothing: checked where
 * pipeline files are loaded (`esync validate`, synth, the local stack), not by the pipeline
 * schema the functions parse, so only Load's Kafka path carries avro-js and protobufjs. What the
 * format needs besides is the pipeline schema's rule (`kafkaValueShapeIssues`).
 */
export function kafkaSchemaCompileIssue(source: {
  readonly format: 'json' | SchemaFormat;
  readonly schema?: string | undefined;
  readonly messageType?: string | undefined;
}): string | undefined {
  const { format, schema, messageType } = source;
  if (format === 'json' || schema === undefined) return undefined;
  if (format === 'protobuf' && messageType === undefined) return undefined;
  try {
    compileValueSchema({ format, schema, ...(messageType === undefined ? {} : { messageType }) });
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/** Canonical forms of a float: NaN and the infinities as their strings. */
function floatOf(value: unknown): unknown {
  if (typeof value !== 'number' || Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/**
 * avro-js's type classes, taken from types of each kind: its `types` export names them by their
 * class names, which a minifying bundler changes.
 */
const AVRO = {
  Long: avro.parse({ type: 'long' }).constructor as typeof avro.types.LongType,
  Record: avro.parse({ type: 'record', name: 'esync.Kind', fields: [] })
    .constructor as typeof avro.types.RecordType,
  Union: avro.parse(['null', 'string']).constructor as typeof avro.types.UnionType,
  Array: avro.parse({ type: 'array', items: 'string' }).constructor as typeof avro.types.ArrayType,
  Map: avro.parse({ type: 'map', values: 'string' }).constructor as typeof avro.types.MapType,
  Logical: avro.types.LogicalType,
};

/** An Avro long as the exact number of its 8 little-endian bytes (avro-js refuses one beyond a double). */
const EXACT_LONG = AVRO.Long.using({
  fromBuffer: (buffer) => exactNumber(buffer.readBigInt64LE(0).toString()),
  toBuffer: (value) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(isExactNumber(value) ? value.value : String(value)));
    return buffer;
  },
  fromJSON: (value) => value,
  toJSON: (value) => value,
  isValid: (value) => typeof value === 'number' || isExactNumber(value),
  compare: (a, b) => Number(BigInt(String(a)) - BigInt(String(b))),
});

/** An Avro logical type decoded to its canonical form by `decode`. */
function logicalType(decode: (value: unknown, attrs: Record<string, unknown>) => unknown) {
  return class extends AVRO.Logical {
    readonly #attrs: Record<string, unknown>;
    constructor(attrs: Record<string, unknown>, opts: avro.ParseOptions) {
      super(attrs, opts);
      this.#attrs = attrs;
    }
    override _fromValue(value: unknown): unknown {
      return decode(value, this.#attrs);
    }
    override _toValue(value: unknown): unknown {
      return value;
    }
  };
}

const AVRO_LOGICAL_TYPES = {
  decimal: logicalType((value, attrs) => decimalFromBytes(value as Buffer, Number(attrs.scale ?? 0))),
  'timestamp-millis': logicalType((value) => timestampFromEpoch(value, 'millis')),
  'timestamp-micros': logicalType((value) => timestampFromEpoch(value, 'micros')),
  date: logicalType((value) => dateFromEpochDays(value)),
};

function compileAvro(schema: string): CompiledSchema {
  const type = avro.parse(JSON.parse(schema) as Record<string, unknown>, {
    registry: { long: EXACT_LONG },
    logicalTypes: AVRO_LOGICAL_TYPES,
  });
  // avro-js's parse, which the utility calls with the schema, takes a compiled type as it is: the
  // utility's type says string.
  return {
    config: { type: SchemaType.AVRO, schema: type as unknown as string },
    toData: (v) => avroData(type, v),
  };
}

/** What avro-js decoded, as plain record data: records and maps as objects, unions unwrapped. */
function avroData(type: avro.Type, value: unknown): unknown {
  if (value === null || value === undefined || type instanceof AVRO.Logical) return value;
  if (type instanceof AVRO.Record)
    return Object.fromEntries(
      type
        .getFields()
        .map((f) => [f.getName(), avroData(f.getType(), (value as Record<string, unknown>)[f.getName()])]),
    );
  if (type instanceof AVRO.Union) return avroData(...unionBranch(type, value as Record<string, unknown>));
  if (type instanceof AVRO.Array) return (value as unknown[]).map((v) => avroData(type.getItemsType(), v));
  if (type instanceof AVRO.Map)
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        avroData(type.getValuesType(), v),
      ]),
    );
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return floatOf(value);
}

/** The branch of a union value avro-js wraps as `{<branch name>: value}`. */
function unionBranch(
  type: InstanceType<typeof avro.types.UnionType>,
  wrapped: Record<string, unknown>,
): [avro.Type, unknown] {
  const [name, value] = Object.entries(wrapped)[0] ?? ['', undefined];
  const branches = type.getTypes();
  const branch =
    branches.find((t) => t.getName() === name) ??
    branches.find((t) => t.getName() === undefined && !(t instanceof AVRO.Record)) ??
    branches[0];
  if (!branch) return [type, undefined];
  return [branch, value];
}

const LONGS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function compileProtobuf(schema: ValueSchema): CompiledSchema {
  if (!schema.messageType) throw new Error('name the message type (source.messageType)');
  const type = protobuf.parse(schema.schema, { keepCase: true }).root.lookupType(schema.messageType);
  return {
    config: { type: SchemaType.PROTOBUF, schema: type },
    toData: (message) =>
      protobufData(
        type,
        type.toObject(message as protobuf.Message, {
          longs: String,
          enums: String,
          bytes: String,
          defaults: true,
          json: true,
        }),
      ),
  };
}

/** A message as `toObject` gives it, its 64-bit integers (decimal text) made exact numbers. */
function protobufData(type: protobuf.Type, object: Record<string, unknown>): Record<string, unknown> {
  const data: Record<string, unknown> = { ...object };
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === null || value === undefined) continue;
    const convert = (v: unknown): unknown =>
      field.resolvedType instanceof protobuf.Type
        ? protobufData(field.resolvedType, v as Record<string, unknown>)
        : LONGS.has(field.type)
          ? exactNumber(String(v))
          : v;
    data[field.name] =
      field instanceof protobuf.MapField
        ? Object.fromEntries(
            Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, convert(v)]),
          )
        : field.repeated
          ? (value as unknown[]).map(convert)
          : convert(value);
  }
  return data;
}

import * as z from 'zod';

/** The Debezium placeholder for a value the connector did not read (an unchanged TOASTed column). */
export const DEFAULT_UNAVAILABLE_PLACEHOLDER = '__debezium_unavailable_value';

/**
 * Column types ESync decodes a schemaless field by (see `source.debezium.fields`): a SQL type,
 * with precision and scale where the encoding depends on them.
 */
export const DEBEZIUM_FIELD_TYPE =
  /^(?:(?:numeric|decimal)(?:\(\d{1,3}(?:,\s*\d{1,3})?\))?|date|time(?:\([0-9]\))?|timetz|timestamp(?:\([0-9]\))?|timestamptz|json|jsonb|bytea|binary|varbinary|blob)$/;

export const debeziumSettingsSchema = z
  .strictObject({
    decimalHandlingMode: z
      .enum(['precise', 'string', 'double'])
      .default('precise')
      .describe(
        "The connector's decimal.handling.mode. precise: decimals arrive as base64 bytes (Decimal, VariableScaleDecimal) and are decoded to exact numbers; string: as text, made exact numbers for the fields named in `fields`; double: as JSON numbers, already rounded by the connector.",
      ),
    timePrecisionMode: z
      .enum(['adaptive', 'adaptive_time_microseconds', 'connect'])
      .default('adaptive')
      .describe(
        "The connector's time.precision.mode: the unit of epoch numbers for the time and timestamp fields named in `fields` (adaptive: by the column's precision; connect: milliseconds).",
      ),
    binaryHandlingMode: z
      .enum(['bytes', 'base64', 'base64-url-safe', 'hex'])
      .default('bytes')
      .describe(
        "The connector's binary.handling.mode. Binary values are stored as base64; bytes and base64 arrive so, hex and base64-url-safe are converted for the binary fields named in `fields`.",
      ),
    unavailableValuePlaceholder: z
      .string()
      .min(1)
      .default(DEFAULT_UNAVAILABLE_PLACEHOLDER)
      .describe(
        "The connector's unavailable.value.placeholder: a field carrying it (as text, base64 or hex) is not written, the target keeps its stored value.",
      ),
    fields: z
      .record(
        z.string().min(1),
        z
          .string()
          .regex(
            DEBEZIUM_FIELD_TYPE,
            'a column type such as numeric(10,2), timestamp(6), date, jsonb, bytea',
          ),
      )
      .default({})
      .describe(
        'Column types of fields, for events without a schema (JSON converter with schemas.enable=false): numeric(p,s), numeric, date, time(p), timetz, timestamp(p), timestamptz, json, jsonb, bytea. A field whose event carries a schema is decoded by the schema.',
      ),
  })
  .describe("How the Debezium connector encodes values; the defaults are Debezium's own.");

export type DebeziumSettings = z.infer<typeof debeziumSettingsSchema>;

/** Debezium's own defaults, for decoding outside a pipeline. */
export const defaultDebeziumSettings = (): DebeziumSettings => debeziumSettingsSchema.parse({});

/** Changes arriving as events on the ESync bus (see triggers.cdc). */
export const cdcSourceConfigSchema = z.strictObject({
  type: z.literal('cdc'),
  format: z
    .enum(['debezium', 'esync'])
    .default('debezium')
    .describe('debezium: {before, after, op, source, ts_ms}; esync: our own esync.change event.'),
  debezium: debeziumSettingsSchema.prefault({}),
  truncate: z
    .enum(['delete', 'quarantine'])
    .default('delete')
    .describe(
      'A Debezium truncate event (op: t). delete: every live target record of the pipeline is deleted through the versioned path (a record written by a later change stays); quarantine: the event is quarantined and the target kept.',
    ),
});

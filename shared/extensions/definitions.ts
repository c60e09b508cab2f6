import * as z from 'zod';
import type { ConnectorContext, SourceConnector, TargetConnector } from '../connectors/types.ts';
import type { CustomValidator } from '../domain/validation.ts';

/** Marks the values `define*` return, so a module's other exports (helpers, constants) are passed over. */
export const EXTENSION_MARK: unique symbol = Symbol.for('esync.extension');

/** What an extension adds; each kind is bundled into the functions that run it. */
export type ExtensionKind = 'validator' | 'source' | 'target';

/** A named validator, as {@link defineValidator} returns it. */
export interface ValidatorDefinition {
  readonly [EXTENSION_MARK]: 'validator';
  /** The name a pipeline's `validation[].custom` gives. */
  readonly name: string;
  readonly validate: CustomValidator;
}

/** One problem of a pipeline's connector `options`: the path inside `options`, and what is wrong. */
export interface OptionsProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** A connector (source or target), as {@link defineSource} and {@link defineTarget} return it. */
export interface ConnectorDefinition<K extends 'source' | 'target', C> {
  readonly [EXTENSION_MARK]: K;
  /** The name a pipeline's `source.connector` or `target.connector` gives. */
  readonly type: string;
  /** One line for `esync connectors`. */
  readonly summary: string;
  /** The problems of a pipeline's `options`; empty when they are valid. */
  checkOptions(options: unknown): OptionsProblem[];
  /** Creates the connector from a pipeline's `options` (parsed by the options schema) and context. */
  create(options: unknown, context: ConnectorContext): C;
}

export type SourceDefinition = ConnectorDefinition<'source', SourceConnector>;
export type TargetDefinition = ConnectorDefinition<'target', TargetConnector>;
export type ExtensionDefinition = ValidatorDefinition | SourceDefinition | TargetDefinition;

const NO_OPTIONS = z.strictObject({});

/** What {@link defineSource} and {@link defineTarget} take. */
export interface ConnectorSpec<S extends z.ZodType, C> {
  /** Lower-kebab-case name, e.g. `orders-api`; unique among the extensions' connectors of its kind. */
  readonly type: string;
  /** @default - "<kind> registered by an extension" */
  readonly summary?: string;
  /**
   * The schema of the pipeline's `options`: `esync validate` and synth report its problems at
   * `source.options` (or `target.options`) with line and column, and `create` gets its output.
   * @default - no options: `options` must be empty
   */
  readonly options?: S;
  /** Opens nothing: connect on first use and release in `close()`, as the built-in connectors do. */
  create(options: z.output<S>, context: ConnectorContext): C;
}

const CONNECTOR_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function connectorDefinition<K extends 'source' | 'target', S extends z.ZodType, C>(
  kind: K,
  spec: ConnectorSpec<S, C>,
): ConnectorDefinition<K, C> {
  const definer = kind === 'source' ? 'defineSource' : 'defineTarget';
  if (!CONNECTOR_NAME.test(spec.type))
    throw new TypeError(`${definer}: type "${spec.type}" is not lower-kebab-case (e.g. orders-api)`);
  const schema: z.ZodType = spec.options ?? NO_OPTIONS;
  return Object.freeze({
    [EXTENSION_MARK]: kind,
    type: spec.type,
    summary: spec.summary ?? `${kind} registered by an extension`,
    checkOptions: (options: unknown): OptionsProblem[] => {
      const result = schema.safeParse(options);
      return result.success ? [] : result.error.issues.map(({ path, message }) => ({ path, message }));
    },
    create: (options: unknown, context: ConnectorContext): C =>
      spec.create(schema.parse(options) as z.output<S>, context),
  });
}

/**
 * A validator a pipeline names in `validation[].custom`. It gets a present, non-null value and the
 * whole record, and returns what is wrong (stored with the quarantined record: describe the rule,
 * never repeat the value) or `undefined` when the value passes. A validator that throws fails the
 * record with the error's message. Export the result from a module in `extensions/`.
 */
export function defineValidator(name: string, validate: CustomValidator): ValidatorDefinition {
  if (name.trim() === '') throw new TypeError('defineValidator: the name must not be empty');
  return Object.freeze({ [EXTENSION_MARK]: 'validator' as const, name, validate });
}

/**
 * A source a pipeline names with `source: { type: custom, connector: <type>, options: {...} }`.
 * `create` returns the {@link SourceConnector} the built-in sources implement: discover,
 * planPartitions, read (pages of rows in cursor order), currentHighWatermark, close. The
 * pipeline's `key`, `cursor` and `deletes` are in `context.pipeline.source`; `RowMapper` makes
 * rows (key, cursor, version) of records by them. Export the result from a module in `extensions/`.
 */
export function defineSource<S extends z.ZodType = typeof NO_OPTIONS>(
  spec: ConnectorSpec<S, SourceConnector>,
): SourceDefinition {
  return connectorDefinition('source', spec);
}

/**
 * A target a pipeline names with `target: { type: custom, connector: <type>, options: {...} }`.
 * `create` returns the {@link TargetConnector} the built-in targets implement: `write` answers one
 * outcome per record (applied; stale when the target holds a version as new or newer; failed),
 * `readState` and `snapshot` serve the version gate and Verify. Export the result from a module in
 * `extensions/`.
 */
export function defineTarget<S extends z.ZodType = typeof NO_OPTIONS>(
  spec: ConnectorSpec<S, TargetConnector>,
): TargetDefinition {
  return connectorDefinition('target', spec);
}

/** Whether an exported value is a definition one of the `define*` functions returned. */
export function isExtensionDefinition(value: unknown): value is ExtensionDefinition {
  return typeof value === 'object' && value !== null && EXTENSION_MARK in value;
}

import * as z from 'zod';
import { pipelineSchema, stageAlertsSchema } from './schema.ts';

type Schema = z.core.$ZodType;

/** One documented field of a schema, as the reference docs and `esync connectors` show it. */
export interface FieldDoc {
  /** Dotted path; `[]` marks the items of a list, `<name>` the keys of a map (`transform.mask.<field>`). */
  readonly path: string;
  /** Human-readable type with its bounds, e.g. `integer, 1 to 1000` or ``one of `jsonl`, `csv` ``. */
  readonly type: string;
  /** Whether the field must be written: no default and not optional. */
  readonly required: boolean;
  /** The default value as YAML text (`1000`, `[]`, `""`), when the schema has one. */
  readonly default: string | undefined;
  /** What happens when the field is left out, when that is a behaviour (from `@default - ...`). */
  readonly defaultBehaviour: string | undefined;
  readonly description: string;
  /** For a field of one variant of a union, the condition selecting it, e.g. `mode: soft`. */
  readonly when: string | undefined;
}

interface Unwrapped {
  readonly schema: Schema;
  readonly optional: boolean;
  readonly defaultValue: unknown;
  readonly hasDefault: boolean;
  readonly description: string | undefined;
}

/**
 * Strips optional/default/pipe wrappers, keeping what they say: whether the field may be left out,
 * its default, and the outermost description (a `.describe()` on the wrapper wins over the inner one).
 */
export function unwrapSchema(schema: Schema): Unwrapped {
  let current = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  let description = z.globalRegistry.get(current)?.description;
  for (;;) {
    if (current instanceof z.ZodOptional) {
      optional = true;
      current = current.unwrap();
    } else if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      if (!hasDefault) defaultValue = current.def.defaultValue;
      hasDefault = true;
      current = current.def.innerType;
    } else if (current instanceof z.ZodNullable || current instanceof z.ZodReadonly) {
      current = current.def.innerType;
    } else if (current instanceof z.ZodPipe) {
      current = current.def.in;
    } else break;
    description ??= z.globalRegistry.get(current)?.description;
  }
  return { schema: current, optional: optional || hasDefault, defaultValue, hasDefault, description };
}

/** Values of a literal schema's discriminator, e.g. `['postgres']` for `type: z.literal('postgres')`. */
function literalValues(schema: Schema | undefined): string[] {
  if (schema === undefined) return [];
  const inner = unwrapSchema(schema).schema;
  if (inner instanceof z.ZodLiteral) return [...inner.values].map(String);
  if (inner instanceof z.ZodEnum) return inner.options.map(String);
  return [];
}

function objectShape(schema: Schema): Record<string, Schema> | undefined {
  return schema instanceof z.ZodObject ? schema.shape : undefined;
}

/** The variant of a discriminated union that `value` selects, if any. */
function selectVariant(union: z.ZodDiscriminatedUnion, value: unknown): Schema | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const tag = (value as Record<string, unknown>)[union.def.discriminator];
  return union.options.find((option) => {
    const shape = objectShape(unwrapSchema(option).schema);
    return literalValues(shape?.[union.def.discriminator]).includes(String(tag));
  });
}

/**
 * The schema that validates the value at `path` inside `input`, following the variants `input` selects.
 * Undefined when the path leaves the schema (an unknown key, an unknown `type`).
 */
export function schemaAtPath(
  root: Schema,
  path: readonly PropertyKey[],
  input: unknown,
): z.core.$ZodType | undefined {
  let schema: Schema | undefined = root;
  let value = input;
  for (const segment of path) {
    if (schema === undefined) return undefined;
    schema = resolveVariant(schema, value);
    if (schema instanceof z.ZodObject) schema = schema.shape[String(segment)];
    else if (schema instanceof z.ZodArray) schema = schema.element;
    else if (schema instanceof z.ZodRecord) schema = schema.valueType;
    else return undefined;
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<PropertyKey, unknown>)[segment]
        : undefined;
  }
  return schema;
}

function resolveVariant(schema: Schema, value: unknown): Schema | undefined {
  const inner = unwrapSchema(schema).schema;
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const variant = selectVariant(inner, value);
    return variant === undefined ? undefined : unwrapSchema(variant).schema;
  }
  return inner;
}

/** Keys an object at this point may have (for "did you mean" hints); empty when it is not an object. */
export function knownKeys(schema: Schema | undefined, value: unknown): string[] {
  const resolved = schema === undefined ? undefined : resolveVariant(schema, value);
  return resolved instanceof z.ZodObject ? Object.keys(resolved.shape) : [];
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => `\`${String(v)}\``).join(', ');
}

interface Bound {
  readonly value: number;
  readonly inclusive: boolean;
}

interface Bounds {
  readonly min?: Bound;
  readonly max?: Bound;
}

/** The JSON Schema keywords that bound a number, a string's length or a list's items. */
interface BoundKeywords {
  readonly minimum?: number;
  readonly exclusiveMinimum?: number;
  readonly maximum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
}

/** A bound worth showing: zod gives every integer the safe-integer range, which says nothing. */
function bound(inclusive: number | undefined, exclusive: number | undefined): Bound | undefined {
  if (inclusive !== undefined && Math.abs(inclusive) !== Number.MAX_SAFE_INTEGER)
    return { value: inclusive, inclusive: true };
  return exclusive === undefined ? undefined : { value: exclusive, inclusive: false };
}

/** A schema's bounds, as zod's own JSON Schema conversion states them. */
function boundsOf(schema: Schema): Bounds {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as BoundKeywords;
  const min = bound(json.minimum ?? json.minLength ?? json.minItems, json.exclusiveMinimum);
  const max = bound(json.maximum ?? json.maxLength ?? json.maxItems, json.exclusiveMaximum);
  return { ...(min ? { min } : {}), ...(max ? { max } : {}) };
}

/** `, 1 to 1000`, `, ≥ 1`, `, > 0 and ≤ 1` (with a unit for lengths), or nothing. */
function renderBounds({ min, max }: Bounds, unit: string): string {
  if (min && max && min.inclusive && max.inclusive) return `, ${min.value} to ${max.value}${unit}`;
  const parts: string[] = [];
  if (min) parts.push(`${min.inclusive ? '≥' : '>'} ${min.value}${unit}`);
  if (max) parts.push(`${max.inclusive ? '≤' : '<'} ${max.value}${unit}`);
  return parts.length === 0 ? '' : `, ${parts.join(' and ')}`;
}

/** A short human type for a schema that is not expanded into sub-fields. */
export function describeType(schema: Schema, withBounds = true): string {
  const inner = unwrapSchema(schema).schema;
  const limits = (unit: string) => (withBounds ? renderBounds(boundsOf(inner), unit) : '');
  if (inner instanceof z.ZodString) {
    const format = inner.format !== null && inner.format !== 'regex' ? ` (${inner.format})` : '';
    const { min, max } = boundsOf(inner);
    if (withBounds && min?.value === 1 && max === undefined) return `non-empty string${format}`;
    return `string${format}${limits(' chars')}`;
  }
  if (inner instanceof z.ZodNumber) return `${inner.isInt ? 'integer' : 'number'}${limits('')}`;
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodEnum) return `one of ${quoteList(inner.options)}`;
  if (inner instanceof z.ZodLiteral) return quoteList([...inner.values]);
  if (inner instanceof z.ZodArray) {
    const element = describeType(inner.element, false);
    const list = /^[a-z]+$/.test(element) ? `${element}[]` : `list of (${element})`;
    const { min, max } = boundsOf(inner);
    if (min?.value === 1 && max === undefined) return `non-empty ${list}`;
    return `${list}${limits(' items')}`;
  }
  if (inner instanceof z.ZodRecord)
    return `map of ${describeType(inner.keyType, false)} to ${describeType(inner.valueType, false)}`;
  if (inner instanceof z.ZodObject || inner instanceof z.ZodDiscriminatedUnion) return 'object';
  if (inner instanceof z.ZodUnion) return inner.options.map((o) => describeType(o, withBounds)).join(' or ');
  if (inner instanceof z.ZodUnknown || inner instanceof z.ZodAny) return 'any';
  return inner._zod.def.type;
}

function renderDefault(value: unknown): string {
  return typeof value === 'string' ? (value === '' ? '""' : value) : JSON.stringify(value);
}

/** Splits `Text. @default - behaviour` into its two halves. */
function splitDefault(description: string | undefined): { text: string; defaultText: string | undefined } {
  const match = /^(.*?)\s*@default\s*-?\s*(.*)$/s.exec(description ?? '');
  if (!match) return { text: description ?? '', defaultText: undefined };
  return { text: match[1] ?? '', defaultText: match[2] };
}

/** Options of {@link fieldDocs}. */
export interface FieldDocsOptions {
  /** Path prefix of the rows, e.g. `source`. @default - no prefix */
  readonly prefix?: string;
  /** Field names (at the top level of `schema`) to leave out. @default - none */
  readonly omit?: readonly string[];
  /**
   * Paths of discriminated unions whose variant-specific fields are left out (they are
   * documented elsewhere, e.g. connector fields in connectors.md). @default - none
   */
  readonly collapse?: readonly string[];
}

/**
 * Every field of an object schema, depth first, objects before their fields. Discriminated unions
 * show the discriminator, the fields all variants share, then each variant's own fields with `when`.
 */
export function fieldDocs(schema: Schema, options: FieldDocsOptions = {}): FieldDoc[] {
  return new FieldDocWalker(options).walk(schema);
}

const joinPath = (prefix: string, key: string): string => (prefix === '' ? key : `${prefix}.${key}`);

/** One variant of a discriminated union: its fields, its tag and what it is for. */
interface Variant {
  readonly shape: Record<string, Schema>;
  readonly tag: string;
  readonly description: string | undefined;
}

function variantsOf(union: z.ZodDiscriminatedUnion): Variant[] {
  return union.options.map((option) => {
    const unwrapped = unwrapSchema(option);
    const shape = objectShape(unwrapped.schema) ?? {};
    const tag = literalValues(shape[union.def.discriminator]).join(', ');
    return { shape, tag, description: unwrapped.description };
  });
}

/** The rows of {@link fieldDocs}, gathered by one walk of the schema. */
class FieldDocWalker {
  readonly #rows: FieldDoc[] = [];
  readonly #collapse: ReadonlySet<string>;
  readonly #omit: ReadonlySet<string>;
  readonly #root: string;

  constructor(options: FieldDocsOptions) {
    this.#collapse = new Set(options.collapse ?? []);
    this.#omit = new Set(options.omit ?? []);
    this.#root = options.prefix ?? '';
  }

  walk(schema: Schema): FieldDoc[] {
    this.#visit(schema, this.#root, undefined, false);
    return this.#rows;
  }

  #visitFields(
    shape: Record<string, Schema>,
    prefix: string,
    when: string | undefined,
    skip: ReadonlySet<string>,
  ) {
    for (const [key, child] of Object.entries(shape))
      if (!skip.has(key)) this.#visit(child, joinPath(prefix, key), when, true);
  }

  #visit(field: Schema, path: string, when: string | undefined, emitSelf: boolean): void {
    const unwrapped = unwrapSchema(field);
    const inner = unwrapped.schema;
    const isObjectList =
      inner instanceof z.ZodArray && unwrapSchema(inner.element).schema instanceof z.ZodObject;
    if (emitSelf) this.#rows.push(fieldRow(unwrapped, path, when, isObjectList));
    if (inner instanceof z.ZodObject)
      this.#visitFields(inner.shape, path, when, path === this.#root && !emitSelf ? this.#omit : new Set());
    else if (isObjectList) this.#visit(inner.element, `${path}[]`, when, false);
    else if (inner instanceof z.ZodDiscriminatedUnion) this.#visitUnion(inner, path, when);
  }

  #visitUnion(union: z.ZodDiscriminatedUnion, path: string, when: string | undefined) {
    const discriminator = union.def.discriminator;
    const variants = variantsOf(union);
    const first = variants[0]?.shape ?? {};
    // A field is shared when every variant holds the very same schema object (as `.extend(common)` does).
    const shared = Object.keys(first).filter(
      (key) => key !== discriminator && variants.every((variant) => variant.shape[key] === first[key]),
    );
    const collapsed = this.#collapse.has(path);
    this.#rows.push(discriminatorRow(path, discriminator, first[discriminator], variants, collapsed, when));
    this.#visitFields(
      Object.fromEntries(shared.map((key) => [key, first[key] as Schema])),
      path,
      when,
      new Set(),
    );
    if (collapsed) return;
    for (const variant of variants) {
      const variantWhen = `${discriminator}: ${variant.tag}`;
      const condition = when === undefined ? variantWhen : `${when}, ${variantWhen}`;
      this.#visitFields(variant.shape, path, condition, new Set([discriminator, ...shared]));
    }
  }
}

function fieldRow(
  unwrapped: Unwrapped,
  path: string,
  when: string | undefined,
  isObjectList: boolean,
): FieldDoc {
  const inner = unwrapped.schema;
  const { text, defaultText } = splitDefault(unwrapped.description);
  // An object's default is the defaults of its fields, shown on their rows; a union's default picks a variant.
  const showDefault = unwrapped.hasDefault && !(inner instanceof z.ZodObject);
  return {
    path,
    type: isObjectList ? 'list of objects' : describeType(inner),
    required: !unwrapped.optional,
    default: showDefault ? renderDefault(unwrapped.defaultValue) : undefined,
    defaultBehaviour: defaultText,
    description: text,
    when,
  };
}

/** The row of a union's discriminator: its values, and what each variant is for unless collapsed. */
function discriminatorRow(
  path: string,
  discriminator: string,
  schema: Schema | undefined,
  variants: readonly Variant[],
  collapsed: boolean,
  when: string | undefined,
): FieldDoc {
  const ownDescription = schema === undefined ? undefined : unwrapSchema(schema).description;
  const variantNotes = collapsed
    ? []
    : variants.filter((v) => v.description !== undefined).map((v) => `\`${v.tag}\`: ${v.description}`);
  return {
    path: joinPath(path, discriminator),
    type: `one of ${quoteList(variants.map((v) => v.tag))}`,
    required: true,
    default: undefined,
    defaultBehaviour: undefined,
    description: [ownDescription ?? `Selects the kind of \`${path}\`.`, ...variantNotes].join(' '),
    when,
  };
}

/**
 * Makes prose safe for Markdown: `<name>` placeholders outside code spans would be taken for HTML
 * tags and vanish. Code spans are left alone.
 */
export function escapeMarkdown(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') ? part : part.replaceAll('<', '&lt;').replaceAll('>', '&gt;')))
    .join('');
}

function escapeCell(text: string): string {
  return escapeMarkdown(text).replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A Markdown table of fields. */
export function fieldTable(rows: readonly FieldDoc[]): string {
  const lines = ['| Field | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |'];
  for (const row of rows) {
    const when = row.when === undefined ? '' : ` *(${row.when})*`;
    const cells = [
      `\`${row.path}\``,
      row.type,
      row.required ? 'yes' : 'no',
      row.default !== undefined ? `\`${row.default}\`` : (row.defaultBehaviour ?? ''),
      `${row.description}${when}`,
    ];
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`);
  }
  return lines.join('\n');
}

const PIPELINE_INTRO = `A pipeline is one YAML file under \`pipelines/\`. \`esync validate\` checks every file and
reports each problem as \`file:line:col path message\`; \`cdk deploy\` and the local stack refuse a pipeline
that does not validate. Unknown keys are errors (a typo never silently falls back to a default).

A minimal pipeline:

\`\`\`yaml
name: users-sync
source:
  type: postgres
  connection: { secret: esync/demo/users-db }
  table: users
  key: [id]
  cursor: [updated_at]
target:
  type: dynamodb
triggers:
  schedule: rate(15 minutes)
\`\`\`

Fields of each source and target type, and the webhook and CDC adapters, are in
[connectors.md](connectors.md). A field whose default is an object takes the defaults of its fields.`;

/**
 * Examples shown under a top-level section of the reference, as YAML to append to a pipeline, or
 * to stand in for its `source` (a test parses each with the minimal pipeline above).
 */
export const SECTION_EXAMPLES: Readonly<Record<string, string>> = {
  source: `source:
  type: postgres
  connection: { secret: esync/demo/orders-db }
  table: orders
  key: [tenant, id]
  cursor: [updated_at]
  # One key space for all tenants, e.g. "acme:42"; the key fields still order the reads.
  keyExpression: $lowercase(tenant) & ":" & $string(id)
`,
  schema: `schema:
  # A column added at the source reaches a PostgreSQL columns target through
  # ALTER TABLE ... ADD COLUMN; freeze would stop the run, discard would leave it out.
  onDrift: evolve
`,
  transform: `transform:
  # Load open orders only; a cancelled one is counted \`filtered\`.
  filter: status != "cancelled" and qty > 0
  compute:
    total: price * qty
    label: $uppercase(sku) & "-" & $string(qty)
    placedOn: $substring(createdAt, 0, 10)
  drop: [internalNote]
`,
};

/** The pipeline reference (docs/pipeline-reference.md), generated from {@link pipelineSchema}. */
export function renderPipelineReference(): string {
  const sections: string[] = [
    '# Pipeline reference',
    '<!-- Generated by scripts/gen-docs.ts from shared/pipeline/schema.ts. Do not edit: run `npm run docs`. -->',
    PIPELINE_INTRO,
  ];
  const rows = fieldDocs(pipelineSchema, { collapse: ['source', 'target'] });
  const topLevel = rows.filter((row) => !row.path.includes('.') && !row.path.includes('['));
  sections.push('## Top-level fields', fieldTable(topLevel));
  for (const top of topLevel) {
    const nested = rows.filter(
      (row) => row.path.startsWith(`${top.path}.`) || row.path.startsWith(`${top.path}[]`),
    );
    if (nested.length === 0) continue;
    const parts = [`## \`${top.path}\``];
    if (top.description !== '') parts.push(escapeMarkdown(top.description));
    if (top.path === 'source' || top.path === 'target')
      parts.push(`Plus the fields of the chosen \`type\`: see [connectors.md](connectors.md).`);
    parts.push(fieldTable(nested));
    const example = SECTION_EXAMPLES[top.path];
    if (example !== undefined) parts.push(`For example:\n\n\`\`\`yaml\n${example}\`\`\``);
    sections.push(parts.join('\n\n'));
  }
  sections.push(stageAlertsSection());
  return `${sections.join('\n\n')}\n`;
}

const STAGE_ALERTS_INTRO = `Not a pipeline field: a stage's \`alerts\`, in cdk.json's \`context\` by stage (or
\`-c alerts=<json>\`), name who hears about the alarms of every pipeline of that stage, beside
each pipeline's own \`alerts.notify\`. \`cdk synth\` refuses an entry that does not validate,
naming the field. The local stack (\`esync dev\`) reads the \`dev\` entry.`;

const STAGE_ALERTS_EXAMPLE = `"context": { "alerts": { "prod": { "notify": {
  "emails": ["oncall@example.com"],
  "snsTopics": ["arn:aws:sns:eu-west-1:123456789012:pager"],
  "webhooks": [{ "secret": "esync/oncall/slack" }]
} } } }`;

/** The stage's \`alerts\` (cdk.json), documented beside the pipeline's. */
function stageAlertsSection(): string {
  return [
    '## Stage settings: `alerts` (cdk.json)',
    STAGE_ALERTS_INTRO,
    `\`\`\`json\n${STAGE_ALERTS_EXAMPLE}\n\`\`\``,
    fieldTable(fieldDocs(stageAlertsSchema, { prefix: 'alerts' })),
  ].join('\n\n');
}

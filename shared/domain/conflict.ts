import Big from 'big.js';
import type { FieldMergeRule, PipelineInput } from '../pipeline/schema.ts';
import type { RecordData } from '../records/envelope.ts';
import { isExactNumber } from '../records/exact-json.ts';
import { canonicalJson } from '../records/hash.ts';
import { compileFieldPath } from './field-path.ts';
import { compareInstants, toInstant } from './instant.ts';

/**
 * A conflict section as written in a pipeline (members may be omitted). Parsed configs
 * (`ConflictConfig` from the pipeline schema) fit this type too.
 */
export type ConflictConfigInput = NonNullable<PipelineInput['conflict']>;

/** What to do with a change whose target record someone else changed since our last write. */
export type ConflictResolution =
  | { readonly decision: 'write'; readonly data: RecordData }
  | { readonly decision: 'keep-target' }
  | {
      readonly decision: 'conflict';
      /** Fields the strategy could not settle, sorted. */
      readonly fields: readonly string[];
      readonly source: RecordData;
      readonly target: RecordData;
      /** The last synced data, when known. */
      readonly base: RecordData | null;
    };

export interface ConflictInput {
  readonly config: ConflictConfigInput;
  /** The incoming change's data (validated and transformed). */
  readonly source: Readonly<RecordData>;
  /** What the target holds now. */
  readonly target: Readonly<RecordData>;
  /** The data last synced to the target: the base of the three-way merge. */
  readonly base?: Readonly<RecordData> | undefined;
}

const ABSENT = '\u0000absent';

/** A comparable identity of a field value: equal values give equal text, whatever their key order. */
function identity(value: unknown): string {
  if (value === undefined) return ABSENT;
  if (typeof value === 'string') return JSON.stringify(value);
  return canonicalJson(value);
}

function sortedUnion(...records: (Readonly<RecordData> | undefined)[]): string[] {
  const fields = new Set<string>();
  for (const record of records)
    if (record !== undefined) for (const field of Object.keys(record)) fields.add(field);
  return [...fields].sort();
}

function own(record: Readonly<RecordData> | undefined, field: string): unknown {
  return record !== undefined && Object.hasOwn(record, field) ? record[field] : undefined;
}

/** Fields whose values differ between two records, sorted. */
export function differingFields(a: Readonly<RecordData>, b: Readonly<RecordData>): string[] {
  return sortedUnion(a, b).filter((field) => identity(own(a, field)) !== identity(own(b, field)));
}

/**
 * Which side holds the later `timestampField`: a `Date`, an ISO-8601 string (with or without
 * an offset), or an epoch number in milliseconds, microseconds or nanoseconds (Debezium's
 * MicroTimestamp of a PostgreSQL `timestamp` column), compared in one unit. A side whose value is missing or unreadable counts as older than any
 * readable one; ties (including both unreadable) go to the source, the side that is moving.
 */
export function latestSide(
  timestampField: string,
  source: Readonly<RecordData>,
  target: Readonly<RecordData>,
): 'source' | 'target' {
  const get = compileFieldPath(timestampField);
  const s = toInstant(get(source), true);
  const t = toInstant(get(target), true);
  if (t === undefined) return 'source';
  if (s === undefined) return 'target';
  return compareInstants(s, t) >= 0 ? 'source' : 'target';
}

/** The decimal text of an exact number, a bigint or a finite number; `undefined` for anything else. */
function decimalText(value: unknown): string | undefined {
  if (isExactNumber(value)) return value.value;
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isFinite(value)))
    return String(value);
  return undefined;
}

/**
 * Orders two values for the `max` and `min` field rules: numbers (bigints and exact numbers
 * beyond a double too, compared by every digit) numerically,
 * timestamps (Date or ISO-8601) as instants, strings by code units, booleans false before
 * true. `undefined` when the two cannot be ordered (different kinds, objects, absent).
 */
function orderValues(a: unknown, b: unknown): number | undefined {
  const numeric = (v: unknown) => (typeof v === 'number' && !Number.isNaN(v)) || typeof v === 'bigint';
  if (numeric(a) && numeric(b)) {
    const x = a as number | bigint;
    const y = b as number | bigint;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = isExactNumber(a) || isExactNumber(b) ? decimalText(a) : undefined;
  const y = x === undefined ? undefined : decimalText(b);
  if (x !== undefined && y !== undefined) return new Big(x).cmp(new Big(y));
  const s = toInstant(a);
  const t = s === undefined ? undefined : toInstant(b);
  if (s !== undefined && t !== undefined) return compareInstants(s, t);
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return undefined;
}

/** The result of a three-way merge: the merged data and the fields it could not settle. */
export interface FieldMergeResult {
  readonly data: RecordData;
  /** Sorted. Empty when the merge settled every field. */
  readonly conflicts: readonly string[];
}

/**
 * Three-way merge of `source` and `target` against `base` (the data last synced), field by
 * field, over the union of their fields in sorted order:
 * - same value on both sides: taken;
 * - changed on one side only (the other still equals the base): that side's value;
 * - changed on both sides to different values: the field's rule — `source`, `target`,
 *   `latest` (the side whose record has the later `timestampField`, ties to the source),
 *   `max` / `min` (by value, ties to the source; values that cannot be ordered, such as a
 *   number against a string or a field absent on one side, become a conflict), `manual`
 *   (a conflict); a field with no rule becomes a conflict.
 *
 * Without a base every difference counts as changed on both sides. A field absent from a
 * side is a value of its own ("removed"), distinct from null. The merged object's keys are
 * sorted, so the result does not depend on the key order of the inputs.
 */
export function mergeFields(
  source: Readonly<RecordData>,
  target: Readonly<RecordData>,
  base: Readonly<RecordData> | undefined,
  rules: Readonly<Record<string, FieldMergeRule>>,
  timestampField?: string,
): FieldMergeResult {
  const data: RecordData = {};
  const conflicts: string[] = [];
  let latest: 'source' | 'target' | undefined;
  for (const field of sortedUnion(source, target, base)) {
    const s = own(source, field);
    const t = own(target, field);
    const sid = identity(s);
    const tid = identity(t);
    let take: 'source' | 'target' | 'conflict';
    if (sid === tid) take = 'source';
    else if (base !== undefined && sid === identity(own(base, field))) take = 'target';
    else if (base !== undefined && tid === identity(own(base, field))) take = 'source';
    else {
      const rule = Object.hasOwn(rules, field) ? rules[field] : undefined;
      switch (rule) {
        case 'source':
        case 'target':
          take = rule;
          break;
        case 'latest':
          if (timestampField === undefined) take = 'conflict';
          else {
            latest ??= latestSide(timestampField, source, target);
            take = latest;
          }
          break;
        case 'max':
        case 'min': {
          const order = orderValues(s, t);
          if (order === undefined) take = 'conflict';
          else take = order === 0 || (rule === 'max' ? order > 0 : order < 0) ? 'source' : 'target';
          break;
        }
        default:
          take = 'conflict';
      }
    }
    if (take === 'conflict') conflicts.push(field);
    else {
      const value = take === 'source' ? s : t;
      if (value !== undefined) data[field] = value;
    }
  }
  return { data, conflicts };
}

function sortedCopy(record: Readonly<RecordData>): RecordData {
  const out: RecordData = {};
  for (const field of Object.keys(record).sort()) out[field] = record[field];
  return out;
}

/**
 * Resolves a change against a target record someone else changed since our last write:
 * - identical source and target data: nothing to resolve, `write` (so the sync state
 *   catches up), whatever the strategy;
 * - `source-wins`: `write` the source data;
 * - `target-wins`: `keep-target`;
 * - `latest-timestamp`: the side with the later `timestampField` (see {@link latestSide});
 *   ties go to the source; without a `timestampField` (which the schema rejects) a conflict;
 * - `field-merge`: {@link mergeFields}; `write` the merge when it settled every field,
 *   otherwise `conflict` naming the unsettled fields;
 * - `manual`: `conflict` naming every differing field.
 *
 * Pure and deterministic: written data and conflict records have sorted keys, so the same
 * inputs give the same output whatever their key order.
 */
export function resolveConflict(input: ConflictInput): ConflictResolution {
  const { config, source, target, base } = input;
  const conflict = (fields: readonly string[]): ConflictResolution => ({
    decision: 'conflict',
    fields,
    source: sortedCopy(source),
    target: sortedCopy(target),
    base: base === undefined ? null : sortedCopy(base),
  });
  const differing = differingFields(source, target);
  if (differing.length === 0) return { decision: 'write', data: sortedCopy(source) };

  switch (config.strategy ?? 'source-wins') {
    case 'source-wins':
      return { decision: 'write', data: sortedCopy(source) };
    case 'target-wins':
      return { decision: 'keep-target' };
    case 'latest-timestamp': {
      if (config.timestampField === undefined) return conflict(differing);
      return latestSide(config.timestampField, source, target) === 'source'
        ? { decision: 'write', data: sortedCopy(source) }
        : { decision: 'keep-target' };
    }
    case 'field-merge': {
      const merged = mergeFields(source, target, base, config.fields ?? {}, config.timestampField);
      return merged.conflicts.length === 0
        ? { decision: 'write', data: merged.data }
        : conflict(merged.conflicts);
    }
    case 'manual':
      return conflict(differing);
  }
}

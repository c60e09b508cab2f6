import type { TargetConnector, TargetState } from '../connectors/types.ts';
import { loadedFieldName, type RecordTransform } from '../domain/transform.ts';
import type { RecordValidator } from '../domain/validation.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { RecordData, RecordEnvelope } from '../records/envelope.ts';
import { contentHash } from '../records/hash.ts';
import { GITHUB_UNAVAILABLE_VALUE } from '../webhooks/github.ts';

/**
 * Fields a change did not carry: an unchanged TOASTed PostgreSQL column arrives as the Debezium
 * connector's unavailable-value placeholder (the decoder turns its bytes and array forms into
 * the text); a partial GitHub issue payload (`issues.pinned`) leaves the fields it lacks as
 * `GITHUB_UNAVAILABLE_VALUE`. Such a field is never written: the change is loaded as a partial update, keeping
 * the value the target stores. Validation skips the field (its stored value passed when it was
 * written); the transform's output loses it; before the write it is filled from the target's
 * current data. With nothing stored (the first change of a key seen is such an update) the
 * field stays absent. Every such field is counted.
 */
export interface UnavailableFields {
  readonly validating: (validate: RecordValidator) => RecordValidator;
  readonly transforming: (transform: RecordTransform) => RecordTransform;
  /**
   * Fills the fields each prepared upsert left unavailable from the target's current data,
   * recomputing its hash. `stored` is the target state Load already read with data, when it
   * did; it is used instead of reading the target again. Returns how many fields were unavailable.
   */
  readonly fill: (
    target: TargetConnector,
    prepared: readonly { record: RecordEnvelope; data: RecordData | null; hash: string }[],
    stored?: ReadonlyMap<string, TargetState>,
  ) => Promise<number>;
}

const NONE: UnavailableFields = {
  validating: (validate) => validate,
  transforming: (transform) => transform,
  fill: async () => 0,
};

/** The value marking a field a change did not carry, for the sources that have one. */
function placeholderOf(source: Pipeline['source']): string | undefined {
  if (source.type === 'cdc' && source.format === 'debezium')
    return source.debezium.unavailableValuePlaceholder;
  if ((source.type === 'webhook' && source.mapping === 'github') || source.type === 'github')
    return GITHUB_UNAVAILABLE_VALUE;
  return undefined;
}

/**
 * The handling of unavailable fields for a pipeline (none unless its source is Debezium CDC or
 * GitHub webhooks — of the `github` mapping or of a `github` source — whose partial payloads leave
 * fields unavailable).
 */
export function createUnavailableFields(pipeline: Pipeline): UnavailableFields {
  const placeholder = placeholderOf(pipeline.source);
  if (placeholder === undefined) return NONE;
  const unavailableIn = (data: Readonly<RecordData>) =>
    Object.keys(data).filter((field) => data[field] === placeholder);
  /** Loaded field names the transform's output lost, by output object. */
  const kept = new WeakMap<RecordData, readonly string[]>();
  return {
    validating: (validate) => (data) => {
      const reasons = validate(data);
      if (reasons.length === 0) return reasons;
      const unavailable = new Set(unavailableIn(data));
      return unavailable.size === 0 ? reasons : reasons.filter((r) => !unavailable.has(r.field));
    },
    transforming: (transform) => (data) => {
      const out = transform(data);
      const unavailable = unavailableIn(data);
      if (unavailable.length === 0) return out;
      const names = unavailable.flatMap((f) => loadedFieldName(pipeline.transform, f) ?? []);
      for (const name of names) delete out[name];
      kept.set(out, names);
      return out;
    },
    fill: async (target, prepared, known) => {
      const partial = prepared.filter((p) => p.data !== null && kept.has(p.data));
      if (partial.length === 0) return 0;
      const stored = await currentData(
        target,
        partial.map((p) => p.record.key),
        known,
      );
      let count = 0;
      for (const p of partial) {
        const data = p.data as RecordData;
        const names = kept.get(data) ?? [];
        const current = stored.get(p.record.key);
        for (const name of names) if (current && Object.hasOwn(current, name)) data[name] = current[name];
        count += names.length;
        p.hash = contentHash(data);
      }
      return count;
    },
  };
}

/**
 * The data the target holds for live keys: its change archive for the S3 lake, its state
 * otherwise (the state already read when there is one).
 */
async function currentData(
  target: TargetConnector,
  keys: readonly string[],
  known: ReadonlyMap<string, TargetState> | undefined,
): Promise<Map<string, RecordData>> {
  if (target.readCurrentData) return target.readCurrentData(keys);
  const states = known ?? (await target.readState(keys, { withData: true }));
  const out = new Map<string, RecordData>();
  for (const [key, state] of states) if (!state.deleted && state.data) out.set(key, state.data);
  return out;
}

/**
 * The idempotent apply decision: given one incoming change and what the target holds for
 * its key, decide whether to write, skip, keep the target, or park a conflict.
 *
 * The rules, in the order they are tried:
 * 1. **New key, upsert** → write.
 * 2. **New key, delete** → write a tombstone. Without it, an older upsert of the same key
 *    arriving late (queues do not keep order) would find no record and resurrect it.
 * 3. **Stored version newer** → skip-stale. Tombstones carry their version, so a newer
 *    tombstone beats a late upsert the same way.
 * 4. **Same version** → skip-unchanged when the content hash matches (or both are deletes):
 *    a duplicate, replay or redelivery. With a different hash it is a tie, decided by the
 *    content hash (`compareChanges` in `records/version.ts`), never by arrival order: the
 *    change with the lower hash is skip-stale (rule `tie`), the one with the higher hash goes
 *    on as a newer change (rules 5–8), and the targets' conditional writes apply the same
 *    rule. A redelivered change that was merged (field-merge) is recognised by its base, the
 *    source data of the stored version, and skipped as unchanged.
 * 5. **Incoming newer, stored is a tombstone** → write: a newer upsert legitimately
 *    re-creates a deleted record, a newer delete moves the tombstone forward.
 * 6. **Incoming newer, field-merge with a known base** → three-way merge of the incoming
 *    data, the target's current data and the base, every time (not only after an external
 *    change): target-side edits a previous merge kept are still different from the base,
 *    so they keep winning over source fields that did not change.
 * 7. **Incoming newer, target changed by someone else** (the target's current data no
 *    longer hashes to the hash of our last write) → the conflict strategy decides
 *    (see `conflict.ts`). An incoming delete cannot be merged: source-wins and
 *    latest-timestamp (a delete has no timestamp field; ties go to the source) write the
 *    tombstone, target-wins keeps the target, field-merge and manual park a conflict.
 *    Under source-wins the check is skipped altogether: the outcome is the same either way,
 *    and hashing the target's data would cost as much as the rest of the decision.
 * 8. **Incoming newer** → write, even when the content hash equals the stored one: the
 *    version must advance, or a late change with a version in between would overwrite
 *    newer content. Such writes are flagged `contentUnchanged` so callers can count them.
 *
 * Consequence: applying any multiset of changes of one key (duplicated, reordered) one by
 * one yields the state of the highest version, and the stored version never decreases.
 */

import { ValidationError } from '../errors.ts';
import type { RecordData } from '../records/envelope.ts';
import { contentHash } from '../records/hash.ts';
import type { TargetState } from '../records/target-state.ts';
import { compareChanges, compareVersions, type Version } from '../records/version.ts';
import { type ConflictConfigInput, resolveConflict } from './conflict.ts';

/** One change as the load path sees it, after validation and transform. */
export interface IncomingChange {
  readonly key: string;
  readonly op: 'upsert' | 'delete';
  readonly version: Version;
  /**
   * Content hash of `data` as it will be written (after transform), by the same function as
   * {@link ApplyInput.hashData}: it becomes the stored hash that later external-change checks
   * recompute from the target's data. For deletes, the envelope's constant.
   */
  readonly hash: string;
  /** Null for deletes. */
  readonly data: Readonly<RecordData> | null;
}

export interface ApplyInput {
  readonly change: IncomingChange;
  /** What the target holds for the key; `undefined` when it holds nothing. */
  readonly stored: TargetState | undefined;
  readonly conflict: ConflictConfigInput;
  /** field-merge only: the source data last synced for the key (see {@link ApplyWrite.base}). */
  readonly base?: Readonly<RecordData> | undefined;
  /**
   * Hash of a record's data, the same function that produced the stored hashes.
   * @default - `contentHash` from `records/hash.ts`
   */
  readonly hashData?: (data: Readonly<RecordData>) => string;
}

/** Which of the documented rules produced a decision, for logs and tests. */
export type ApplyRule =
  | 'new-key'
  | 'tombstone-new-key'
  | 'stored-newer'
  | 'same-version'
  | 'tie'
  | 'after-tombstone'
  | 'field-merge'
  | 'external-change'
  | 'newer';

export interface ApplyWriteUpsert {
  readonly action: 'write';
  readonly op: 'upsert';
  readonly rule: ApplyRule;
  readonly version: Version;
  /** What to write: the incoming data, or the merge of it with the target's data. */
  readonly data: Readonly<RecordData>;
  /** Hash of `data`, to store as the hash of our last write. */
  readonly hash: string;
  readonly merged: boolean;
  /**
   * The next field-merge base: the incoming source data, not the merge, so target-side
   * edits a merge kept stay recognisable as target-side next time.
   */
  readonly base: Readonly<RecordData>;
  /** The target already held this content under an older version; the write only advances the version. */
  readonly contentUnchanged: boolean;
}

export interface ApplyWriteDelete {
  readonly action: 'write';
  readonly op: 'delete';
  readonly rule: ApplyRule;
  readonly version: Version;
  readonly data: null;
  readonly hash: string;
}

export type ApplyWrite = ApplyWriteUpsert | ApplyWriteDelete;

export type ApplyDecision =
  | ApplyWrite
  | { readonly action: 'skip-stale'; readonly rule: ApplyRule }
  | { readonly action: 'skip-unchanged'; readonly rule: ApplyRule }
  /** The strategy kept the target's data; counted as skipped. */
  | { readonly action: 'keep-target'; readonly rule: ApplyRule }
  | {
      readonly action: 'conflict';
      readonly rule: ApplyRule;
      /** Fields the strategy could not settle, sorted. */
      readonly fields: readonly string[];
      /** The incoming data; null for a delete. */
      readonly source: RecordData | null;
      readonly target: RecordData;
      readonly base: RecordData | null;
    };

function writeUpsert(
  change: IncomingChange,
  data: Readonly<RecordData>,
  rule: ApplyRule,
  stored: TargetState | undefined,
  merge?: { readonly data: RecordData; readonly hash: string },
): ApplyWriteUpsert {
  const hash = merge?.hash ?? change.hash;
  return {
    action: 'write',
    op: 'upsert',
    rule,
    version: change.version,
    data: merge?.data ?? data,
    hash,
    merged: merge !== undefined,
    base: data,
    contentUnchanged: stored !== undefined && !stored.deleted && stored.hash === hash,
  };
}

function writeTombstone(change: IncomingChange, rule: ApplyRule): ApplyWriteDelete {
  return { action: 'write', op: 'delete', rule, version: change.version, data: null, hash: change.hash };
}

/** The conflict strategy's answer to an upsert of `data` meeting `target`, data ESync did not write. */
function resolveUpsert(
  input: ApplyInput,
  data: Readonly<RecordData>,
  target: Readonly<RecordData>,
  rule: ApplyRule,
  hashData: (data: Readonly<RecordData>) => string,
): ApplyDecision {
  const { change, stored } = input;
  const resolution = resolveConflict({ config: input.conflict, source: data, target, base: input.base });
  switch (resolution.decision) {
    case 'keep-target':
      return { action: 'keep-target', rule };
    case 'conflict':
      return {
        action: 'conflict',
        rule,
        fields: resolution.fields,
        source: resolution.source,
        target: resolution.target,
        base: resolution.base,
      };
    case 'write': {
      const hash = hashData(resolution.data);
      // Data equal to the incoming change is a plain write, whatever path produced it.
      if (hash === change.hash) return writeUpsert(change, data, rule, stored);
      return writeUpsert(change, data, rule, stored, { data: resolution.data, hash });
    }
  }
}

function sorted(record: Readonly<RecordData>): RecordData {
  const out: RecordData = {};
  for (const field of Object.keys(record).sort()) out[field] = record[field];
  return out;
}

const isDuplicate = (change: IncomingChange, stored: TargetState) =>
  (change.op === 'delete' && stored.deleted) || change.hash === stored.hash;

/** The stored version is this very change, merged: its field-merge base is the change's data. */
const wasMerged = (
  change: IncomingChange,
  base: Readonly<RecordData> | undefined,
  hashData: (data: Readonly<RecordData>) => string,
) => base !== undefined && change.data !== null && hashData(base) === change.hash;

/**
 * True when `change` and what the target holds are two different changes with one version: a
 * tie (rule 4), counted by the load path.
 */
export function isVersionTie({ change, stored, base, hashData = contentHash }: ApplyInput): boolean {
  return (
    stored !== undefined &&
    stored.version === change.version &&
    !isDuplicate(change, stored) &&
    !wasMerged(change, base, hashData)
  );
}

/**
 * Decides what to do with one incoming change, following the rules listed at the top of
 * this module. Pure: it reads nothing and writes nothing; the caller performs the write
 * (conditional on the stored version, so a concurrent writer cannot be overwritten).
 * @throws ValidationError when an upsert carries no data.
 */
export function decideApply(input: ApplyInput): ApplyDecision {
  const { change, stored, conflict } = input;
  const hashData = input.hashData ?? contentHash;
  const data = change.data;
  if (change.op === 'upsert' && data === null)
    throw new ValidationError(`upsert of key "${change.key}" carries no data`, [
      { path: 'data', message: 'an upsert needs data' },
    ]);

  if (stored === undefined)
    return data === null || change.op === 'delete'
      ? writeTombstone(change, 'tombstone-new-key')
      : writeUpsert(change, data, 'new-key', undefined);

  const order = compareVersions(change.version, stored.version);
  if (order < 0) return { action: 'skip-stale', rule: 'stored-newer' };
  if (order === 0) {
    if (isDuplicate(change, stored) || wasMerged(change, input.base, hashData))
      return { action: 'skip-unchanged', rule: 'same-version' };
    if (compareChanges(change, stored) < 0) return { action: 'skip-stale', rule: 'tie' };
  }

  if (stored.deleted || stored.data === undefined)
    return data === null || change.op === 'delete'
      ? writeTombstone(change, stored.deleted ? 'after-tombstone' : 'newer')
      : writeUpsert(change, data, stored.deleted ? 'after-tombstone' : 'newer', stored);

  const strategy = conflict.strategy ?? 'source-wins';
  if (strategy === 'field-merge' && input.base !== undefined && data !== null && change.op === 'upsert')
    return resolveUpsert(input, data, stored.data, 'field-merge', hashData);

  // source-wins writes the incoming change either way, so it is spared hashing the target's data.
  const changedElsewhere = strategy !== 'source-wins' && hashData(stored.data) !== stored.hash;
  if (changedElsewhere) {
    if (data !== null && change.op === 'upsert')
      return resolveUpsert(input, data, stored.data, 'external-change', hashData);
    switch (strategy) {
      case 'latest-timestamp':
        return writeTombstone(change, 'external-change');
      case 'target-wins':
        return { action: 'keep-target', rule: 'external-change' };
      case 'field-merge':
      case 'manual':
        return {
          action: 'conflict',
          rule: 'external-change',
          fields: Object.keys(stored.data).sort(),
          source: null,
          target: sorted(stored.data),
          base: input.base === undefined ? null : sorted(input.base),
        };
    }
  }

  return data === null || change.op === 'delete'
    ? writeTombstone(change, 'newer')
    : writeUpsert(change, data, 'newer', stored);
}

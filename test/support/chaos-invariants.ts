/**
 * The invariants of the chaos suite, as pure functions over what the run recorded, so each can
 * be shown to catch the violation it is for.
 */
import type { AppliedWrite, CheckpointWrite } from './chaos-recorder.ts';

/** What the target must hold for a key: its newest version, and the content hash (null: deleted). */
export interface ExpectedRecord {
  readonly version: string;
  readonly hash: string | null;
}

/** What the target holds for a key. */
export interface TargetRecord {
  readonly version: string;
  /** Hash of the item's data, computed from the item read back. */
  readonly hash: string;
  /** The hash the writer stored beside the data. */
  readonly storedHash: string;
  readonly deleted: boolean;
}

export interface TargetComparison {
  readonly expected: number;
  /** Live source records the target lacks (missing, or a tombstone). */
  readonly lost: number;
  readonly contentMismatches: number;
  readonly versionMismatches: number;
  /** Records deleted at the source still live in the target. */
  readonly notDeleted: number;
  /** Live target records the source does not have (an invalid record loaded, a stray key). */
  readonly unexpected: number;
  readonly samples: readonly string[];
}

const MAX_SAMPLES = 5;

/** Compares the target with the source key by key, content hash by content hash. */
export function compareTarget(
  expected: ReadonlyMap<string, ExpectedRecord>,
  target: ReadonlyMap<string, TargetRecord>,
): TargetComparison {
  let lost = 0;
  let contentMismatches = 0;
  let versionMismatches = 0;
  let notDeleted = 0;
  let unexpected = 0;
  const samples: string[] = [];
  const note = (line: string) => samples.length < MAX_SAMPLES && samples.push(line);
  for (const [key, want] of expected) {
    const held = target.get(key);
    if (want.hash === null) {
      if (held && !held.deleted) {
        notDeleted++;
        note(`${key}: deleted at ${want.version} but live at ${held.version}`);
      }
      continue;
    }
    if (!held || held.deleted) {
      lost++;
      note(`${key}: ${held ? 'a tombstone' : 'missing'}, source at ${want.version}`);
    } else if (held.version !== want.version) {
      versionMismatches++;
      note(`${key}: version ${held.version}, source ${want.version}`);
    } else if (held.hash !== want.hash || held.storedHash !== want.hash) {
      contentMismatches++;
      note(`${key}: content ${held.hash} (stored ${held.storedHash}), source ${want.hash}`);
    }
  }
  for (const [key, held] of target)
    if (!held.deleted && !expected.has(key)) {
      unexpected++;
      note(`${key}: in the target at ${held.version}, not a valid source record`);
    }
  return {
    expected: expected.size,
    lost,
    contentMismatches,
    versionMismatches,
    notDeleted,
    unexpected,
    samples,
  };
}

export interface AppliedCheck {
  readonly applied: number;
  /** Writes of a key@version that had already been applied. */
  readonly appliedTwice: number;
  /** Writes that replaced a newer version. */
  readonly versionRegressions: number;
  /**
   * Writes beyond the first of a key that came back without the version they replaced. A key is
   * created once (deletes leave tombstones), so any such write means the recording is blind and
   * the two counts above cannot be trusted.
   */
  readonly unobserved: number;
  readonly samples: readonly string[];
}

/**
 * Every applied write must be new (no key@version twice) and replace an older version: with the
 * replaced version known for each write, the check holds in the table's commit order.
 */
export function checkAppliedWrites(writes: readonly AppliedWrite[]): AppliedCheck {
  const seen = new Set<string>();
  const created = new Set<string>();
  let appliedTwice = 0;
  let versionRegressions = 0;
  let unobserved = 0;
  const samples: string[] = [];
  for (const w of writes) {
    if (w.previous === undefined) {
      const key = `${w.table}|${w.key}`;
      if (created.has(key)) {
        unobserved++;
        if (samples.length < MAX_SAMPLES)
          samples.push(`${w.key}@${w.version} replaced an item without its version`);
      }
      created.add(key);
    }
    const id = `${w.table}|${w.key}@${w.version}`;
    if (seen.has(id) || w.previous === w.version) {
      appliedTwice++;
      if (samples.length < MAX_SAMPLES) samples.push(`${w.key}@${w.version} applied again in ${w.table}`);
    } else if (w.previous !== undefined && w.previous > w.version) {
      versionRegressions++;
      if (samples.length < MAX_SAMPLES)
        samples.push(`${w.key}: ${w.version} replaced the newer ${w.previous}`);
    }
    seen.add(id);
  }
  return { applied: writes.length, appliedTwice, versionRegressions, unobserved, samples };
}

/** A source row as it stood when a run ended. */
export interface SourceRowState {
  readonly key: string;
  readonly version: string;
  readonly cursor: unknown;
  /** False for a row that fails validation: it is quarantined, never loaded. */
  readonly valid: boolean;
}

export interface CheckpointCheck {
  readonly checked: number;
  /** Valid rows at or before the checkpoint whose version the target did not hold when it was written. */
  readonly violations: number;
  /**
   * Rows behind the checkpoint not loaded then whose record a DLQ holds: their message was
   * dead-lettered on its last allowed receive, counted so in its run, and is loaded by a redrive.
   */
  readonly deadLettered: number;
  readonly samples: readonly string[];
}

/**
 * The checkpoint may only pass rows that were loaded, checked against the target at the instant it
 * was written, or whose record (`key@version`) is in `inDeadLetters`: a DLQ holds it, as its run counted.
 */
export function checkCheckpoint(
  rows: readonly SourceRowState[],
  checkpoint: CheckpointWrite,
  compareCursors: (a: unknown, b: unknown) => number,
  inDeadLetters: ReadonlySet<string> = new Set(),
): CheckpointCheck {
  let checked = 0;
  let violations = 0;
  let deadLettered = 0;
  const samples: string[] = [];
  for (const row of rows) {
    if (!row.valid || compareCursors(row.cursor, checkpoint.cursor) > 0) continue;
    checked++;
    const held = checkpoint.applied.get(row.key);
    if (held === undefined || held < row.version) {
      if (inDeadLetters.has(`${row.key}@${row.version}`)) {
        deadLettered++;
        continue;
      }
      violations++;
      if (samples.length < MAX_SAMPLES)
        samples.push(
          `${row.key}@${row.version} behind checkpoint of ${checkpoint.setBy}; target held ${held ?? 'nothing'}`,
        );
    }
  }
  return { checked, violations, deadLettered, samples };
}

/** A ledger scope's sums (a run, or a stream of pushed changes). */
export interface ScopeTotals {
  readonly scope: string;
  readonly extracted: number;
  readonly loaded: number;
  readonly skipped: number;
  readonly conflicts: number;
  readonly quarantined: number;
  readonly deadLettered: number;
  readonly pendingMessages: number;
}

export interface CounterCheck {
  readonly scopes: number;
  /** Scopes with pending messages or whose outcomes do not sum to what was extracted. */
  readonly mismatches: number;
  readonly samples: readonly string[];
}

/** extracted == loaded + skipped + conflicts + quarantined + deadLettered, and nothing pending, per scope. */
export function checkCounters(scopes: readonly ScopeTotals[]): CounterCheck {
  const samples: string[] = [];
  let mismatches = 0;
  for (const s of scopes) {
    const accounted = s.loaded + s.skipped + s.conflicts + s.quarantined + s.deadLettered;
    if (s.pendingMessages === 0 && accounted === s.extracted) continue;
    mismatches++;
    if (samples.length < MAX_SAMPLES)
      samples.push(
        `${s.scope}: extracted ${s.extracted}, accounted ${accounted}, ${s.pendingMessages} messages pending`,
      );
  }
  return { scopes: scopes.length, mismatches, samples };
}

/** One quarantine object (one per message with rejected records). */
export interface QuarantineObject {
  readonly scope: string;
  readonly messageKey: string;
  /**
   * Written by a message a resuming run abandoned though it was sent, by a Load that still worked
   * on it after the run deleted the abandoned messages' objects: no ledger counts it, and that
   * run reads its rows again and quarantines them in an object of its own. It counts towards no
   * ledger count, and an invalid record it holds must still be in a counted object.
   */
  readonly superseded?: boolean;
  readonly entries: readonly {
    readonly key?: string;
    readonly version?: string;
    readonly raw?: string;
    readonly reasons: number;
  }[];
}

export interface RejectInputs {
  readonly quarantine: readonly QuarantineObject[];
  /** The ledger's quarantined count per scope, for every scope that can hold rejects. */
  readonly ledgerQuarantined: ReadonlyMap<string, number>;
  /** Every invalid record `key@version` that some run extracted. */
  readonly invalidRecords: ReadonlySet<string>;
  /** Bodies of the undecodable messages put on the queues. */
  readonly poisonBodies: readonly string[];
  readonly dlqRecords: number;
  /**
   * Records of DLQ messages the ledger holds as completed, not dead-lettered: a crash between
   * the completion and the delete on the last allowed receive. They are loaded; a redrive
   * changes nothing.
   */
  readonly dlqRecordsAlreadyLoaded: number;
  readonly ledgerDeadLettered: number;
}

export interface RejectCheck {
  readonly quarantinedEntries: number;
  readonly invalidRecordsMissing: number;
  readonly poisonMessagesMissing: number;
  readonly entriesWithoutReason: number;
  /** Sum over scopes of |ledger quarantined − quarantine entries|. */
  readonly ledgerDifference: number;
  /** |ledger dead-lettered − records in the DLQs that the ledger does not hold as loaded|. */
  readonly dlqDifference: number;
  /** Everything above that is not accounted for, in one number. */
  readonly unaccounted: number;
  readonly samples: readonly string[];
}

/**
 * Every rejected record must be in the quarantine with its reason or in a DLQ, and the quarantine
 * and DLQ must hold what the ledger counted: no more, no less.
 */
export function reconcileRejects(input: RejectInputs): RejectCheck {
  const samples: string[] = [];
  const note = (line: string) => samples.length < MAX_SAMPLES && samples.push(line);
  const quarantinedRecords = new Set<string>();
  const quarantinedRaw = new Set<string>();
  const entriesByScope = new Map<string, number>();
  let quarantinedEntries = 0;
  let entriesWithoutReason = 0;
  for (const object of input.quarantine) {
    if (!object.superseded)
      entriesByScope.set(object.scope, (entriesByScope.get(object.scope) ?? 0) + object.entries.length);
    for (const entry of object.entries) {
      quarantinedEntries++;
      if (entry.reasons === 0) {
        entriesWithoutReason++;
        note(`quarantine entry ${entry.key ?? '(raw)'} in ${object.messageKey} has no reason`);
        continue;
      }
      if (entry.key !== undefined && entry.version !== undefined && !object.superseded)
        quarantinedRecords.add(`${entry.key}@${entry.version}`);
      if (entry.raw !== undefined) quarantinedRaw.add(entry.raw);
    }
  }
  let invalidRecordsMissing = 0;
  for (const record of input.invalidRecords)
    if (!quarantinedRecords.has(record)) {
      invalidRecordsMissing++;
      note(`invalid record ${record} is not in the quarantine`);
    }
  let poisonMessagesMissing = 0;
  for (const body of input.poisonBodies)
    if (!quarantinedRaw.has(body)) {
      poisonMessagesMissing++;
      note(`poison message ${JSON.stringify(body.slice(0, 40))} is not in the quarantine`);
    }
  let ledgerDifference = 0;
  for (const scope of new Set([...entriesByScope.keys(), ...input.ledgerQuarantined.keys()])) {
    const difference = Math.abs((input.ledgerQuarantined.get(scope) ?? 0) - (entriesByScope.get(scope) ?? 0));
    if (difference > 0)
      note(
        `${scope}: ledger counts ${input.ledgerQuarantined.get(scope) ?? 0} quarantined, the quarantine holds ${entriesByScope.get(scope) ?? 0}`,
      );
    ledgerDifference += difference;
  }
  const dlqDifference = Math.abs(
    input.ledgerDeadLettered - (input.dlqRecords - input.dlqRecordsAlreadyLoaded),
  );
  if (dlqDifference > 0)
    note(
      `ledger counts ${input.ledgerDeadLettered} dead-lettered, the DLQs hold ${input.dlqRecords} records (${input.dlqRecordsAlreadyLoaded} of them already loaded)`,
    );
  return {
    quarantinedEntries,
    invalidRecordsMissing,
    poisonMessagesMissing,
    entriesWithoutReason,
    ledgerDifference,
    dlqDifference,
    unaccounted:
      invalidRecordsMissing + poisonMessagesMissing + entriesWithoutReason + ledgerDifference + dlqDifference,
    samples,
  };
}

import { describe, expect, it } from 'vitest';
import {
  checkAppliedWrites,
  checkCheckpoint,
  checkCounters,
  compareTarget,
  type ExpectedRecord,
  type QuarantineObject,
  reconcileRejects,
  type TargetRecord,
} from '../support/chaos-invariants.ts';
import type { AppliedWrite } from '../support/chaos-recorder.ts';

const live = (version: string, hash: string): TargetRecord => ({
  version,
  hash,
  storedHash: hash,
  deleted: false,
});

describe('chaos invariants: target against source', () => {
  it('passes a target holding every live record at its version and content, and tombstones for deletes', () => {
    // Prepare
    const expected = new Map<string, ExpectedRecord>([
      ['1', { version: 'v2', hash: 'h1' }],
      ['2', { version: 'v3', hash: null }],
      ['3', { version: 'v1', hash: null }],
    ]);
    const target = new Map([
      ['1', live('v2', 'h1')],
      ['2', { version: 'v3', hash: 'x', storedHash: 'deleted', deleted: true }],
    ]);

    // Act
    const result = compareTarget(expected, target);

    // Assess
    expect(result).toMatchObject({
      lost: 0,
      contentMismatches: 0,
      versionMismatches: 0,
      notDeleted: 0,
      unexpected: 0,
    });
  });

  it('counts a missing record, a tombstoned live record, stale content, an old version, a live deleted record and a stray key', () => {
    // Prepare
    const expected = new Map<string, ExpectedRecord>([
      ['missing', { version: 'v1', hash: 'a' }],
      ['tombstoned', { version: 'v1', hash: 'a' }],
      ['stale', { version: 'v1', hash: 'a' }],
      ['old', { version: 'v2', hash: 'a' }],
      ['deleted', { version: 'v2', hash: null }],
    ]);
    const target = new Map([
      ['tombstoned', { version: 'v1', hash: 'a', storedHash: 'a', deleted: true }],
      ['stale', { version: 'v1', hash: 'b', storedHash: 'a', deleted: false }],
      ['old', live('v1', 'a')],
      ['deleted', live('v1', 'a')],
      ['stray', live('v1', 'a')],
    ]);

    // Act
    const result = compareTarget(expected, target);

    // Assess
    expect(result).toMatchObject({
      lost: 2,
      contentMismatches: 1,
      versionMismatches: 1,
      notDeleted: 1,
      unexpected: 1,
    });
    expect(result.samples.length).toBeGreaterThan(0);
  });
});

describe('chaos invariants: applied writes', () => {
  const write = (key: string, version: string, previous?: string): AppliedWrite => ({
    table: 't',
    key,
    version,
    deleted: false,
    ...(previous !== undefined && { previous }),
  });

  it('passes writes that each replace an older version', () => {
    // Act
    const result = checkAppliedWrites([write('a', 'v1'), write('a', 'v3', 'v1'), write('b', 'v2')]);

    // Assess
    expect(result).toMatchObject({ applied: 3, appliedTwice: 0, versionRegressions: 0, unobserved: 0 });
  });

  it('counts a key@version applied twice, whether seen twice or replacing itself', () => {
    // Act
    const result = checkAppliedWrites([write('a', 'v1'), write('a', 'v1', 'v1'), write('b', 'v2', 'v2')]);

    // Assess
    expect(result.appliedTwice).toBe(2);
  });

  it('flags a second write creating the same key: the replaced version went unseen', () => {
    // Act
    const result = checkAppliedWrites([write('a', 'v1'), write('a', 'v2')]);

    // Assess
    expect(result).toMatchObject({ appliedTwice: 0, versionRegressions: 0, unobserved: 1 });
  });

  it('counts a write that replaced a newer version as a regression', () => {
    // Act
    const result = checkAppliedWrites([write('a', 'v5'), write('a', 'v4', 'v5')]);

    // Assess
    expect(result).toMatchObject({ appliedTwice: 0, versionRegressions: 1 });
  });
});

describe('chaos invariants: checkpoint', () => {
  const compare = (a: unknown, b: unknown) => Number(a) - Number(b);
  const checkpoint = { pipeline: 'p', cursor: 10, setBy: 'run-1', applied: new Map([['a', 'v2']]) };

  it('flags a valid row at or before the checkpoint that the target did not hold when it was written', () => {
    // Act
    const result = checkCheckpoint(
      [
        { key: 'a', version: 'v2', cursor: 5, valid: true },
        { key: 'b', version: 'v1', cursor: 10, valid: true },
      ],
      checkpoint,
      compare,
    );

    // Assess
    expect(result).toMatchObject({ checked: 2, violations: 1 });
  });

  it('counts a row behind the checkpoint whose record a DLQ holds as dead-lettered, and flags one the DLQ holds at an older version', () => {
    // Prepare: b's message was dead-lettered on its last receive after its other records were
    // written (chaos seed 20261122: a throttled key); c's DLQ copy is older than the source row.
    const inDeadLetters = new Set(['b@v1', 'c@v1']);

    // Act
    const result = checkCheckpoint(
      [
        { key: 'a', version: 'v2', cursor: 5, valid: true },
        { key: 'b', version: 'v1', cursor: 6, valid: true },
        { key: 'c', version: 'v2', cursor: 7, valid: true },
      ],
      checkpoint,
      compare,
      inDeadLetters,
    );

    // Assess
    expect(result).toMatchObject({ checked: 3, violations: 1, deadLettered: 1 });
    expect(result.samples).toEqual(['c@v2 behind checkpoint of run-1; target held nothing']);
  });

  it('ignores rows after the checkpoint and rows failing validation', () => {
    // Act
    const result = checkCheckpoint(
      [
        { key: 'a', version: 'v3', cursor: 11, valid: true },
        { key: 'c', version: 'v1', cursor: 3, valid: false },
      ],
      checkpoint,
      compare,
    );

    // Assess
    expect(result).toMatchObject({ checked: 0, violations: 0 });
  });
});

describe('chaos invariants: counters', () => {
  it('flags a scope whose outcomes do not sum to what was extracted, or with messages pending', () => {
    // Prepare
    const base = { loaded: 5, skipped: 2, conflicts: 1, quarantined: 1, deadLettered: 1, pendingMessages: 0 };

    // Act
    const result = checkCounters([
      { scope: 'ok', extracted: 10, ...base },
      { scope: 'short', extracted: 11, ...base },
      { scope: 'pending', extracted: 10, ...base, pendingMessages: 1 },
    ]);

    // Assess
    expect(result).toMatchObject({ scopes: 3, mismatches: 2 });
  });
});

describe('chaos invariants: rejects', () => {
  const quarantine = [
    { scope: 'RUN#1', messageKey: 'm1', entries: [{ key: '7', version: 'v1', reasons: 2 }] },
    { scope: 'STREAM#p#d', messageKey: 'poison-x', entries: [{ raw: 'garbage', reasons: 1 }] },
  ];

  it('accounts for invalid records and poison messages that the quarantine holds as the ledger counted them', () => {
    // Act
    const result = reconcileRejects({
      quarantine,
      ledgerQuarantined: new Map([
        ['RUN#1', 1],
        ['STREAM#p#d', 1],
      ]),
      invalidRecords: new Set(['7@v1']),
      poisonBodies: ['garbage'],
      dlqRecords: 3,
      dlqRecordsAlreadyLoaded: 0,
      ledgerDeadLettered: 3,
    });

    // Assess
    expect(result).toMatchObject({ quarantinedEntries: 2, unaccounted: 0 });
  });

  it('accepts a DLQ message the ledger holds as loaded (a crash between completion and delete) and no more', () => {
    // Act
    const loadedThenDeadLettered = (alreadyLoaded: number) =>
      reconcileRejects({
        quarantine,
        ledgerQuarantined: new Map([
          ['RUN#1', 1],
          ['STREAM#p#d', 1],
        ]),
        invalidRecords: new Set(['7@v1']),
        poisonBodies: ['garbage'],
        dlqRecords: 5,
        dlqRecordsAlreadyLoaded: alreadyLoaded,
        ledgerDeadLettered: 3,
      });

    // Assess
    expect(loadedThenDeadLettered(2)).toMatchObject({ dlqDifference: 0, unaccounted: 0 });
    expect(loadedThenDeadLettered(0)).toMatchObject({ dlqDifference: 2, unaccounted: 2 });
  });

  it('counts a superseded object (its message abandoned by a resuming run) towards no ledger, and its rejects only when a counted object holds them too', () => {
    // Prepare: run 1's message m0 was abandoned by run 2, which read its rows again.
    const superseded = {
      scope: 'RUN#1',
      messageKey: 'm0',
      superseded: true,
      entries: [{ key: '8', version: 'v1', reasons: 1 }],
    };
    const readAgain = {
      scope: 'RUN#2',
      messageKey: 'm9',
      entries: [{ key: '8', version: 'v1', reasons: 1 }],
    };
    const reconcile = (objects: QuarantineObject[], runTwoQuarantined: number) =>
      reconcileRejects({
        quarantine: [...quarantine, ...objects],
        ledgerQuarantined: new Map([
          ['RUN#1', 1],
          ['RUN#2', runTwoQuarantined],
          ['STREAM#p#d', 1],
        ]),
        invalidRecords: new Set(['7@v1', '8@v1']),
        poisonBodies: ['garbage'],
        dlqRecords: 0,
        dlqRecordsAlreadyLoaded: 0,
        ledgerDeadLettered: 0,
      });

    // Act
    const reread = reconcile([superseded, readAgain], 1);
    const neverReread = reconcile([superseded], 0);

    // Assess: rows no run read again leave their reject in no counted object.
    expect(reread).toMatchObject({ quarantinedEntries: 4, ledgerDifference: 0, unaccounted: 0 });
    expect(neverReread).toMatchObject({ invalidRecordsMissing: 1, ledgerDifference: 0, unaccounted: 1 });
  });

  it('counts a rejected record missing from the quarantine, a lost poison message and ledger or DLQ differences', () => {
    // Act
    const result = reconcileRejects({
      quarantine: [
        ...quarantine,
        { scope: 'RUN#1', messageKey: 'm2', entries: [{ key: '8', version: 'v1', reasons: 0 }] },
      ],
      ledgerQuarantined: new Map([['RUN#1', 1]]),
      invalidRecords: new Set(['7@v1', '9@v1']),
      poisonBodies: ['garbage', 'other garbage'],
      dlqRecords: 0,
      dlqRecordsAlreadyLoaded: 0,
      ledgerDeadLettered: 2,
    });

    // Assess
    expect(result).toMatchObject({
      invalidRecordsMissing: 1,
      poisonMessagesMissing: 1,
      entriesWithoutReason: 1,
      ledgerDifference: 2,
      dlqDifference: 2,
      unaccounted: 7,
    });
  });
});

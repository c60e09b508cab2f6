import { describe, expect, it } from 'vitest';
import type { TargetState } from '../../../shared/connectors/types.ts';
import { decideApply, type IncomingChange, isVersionTie } from '../../../shared/domain/decide.ts';
import { ValidationError } from '../../../shared/errors.ts';
import type { RecordData } from '../../../shared/records/envelope.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { positionVersion } from '../../../shared/records/version.ts';

const v = (n: number) => positionVersion(n);

function upsert(version: number, data: RecordData): IncomingChange {
  return { key: 'k', op: 'upsert', version: v(version), hash: contentHash(data), data };
}

function remove(version: number): IncomingChange {
  return { key: 'k', op: 'delete', version: v(version), hash: 'deleted', data: null };
}

/** What the target holds after our own write of `data` (nobody else touched it). */
function written(version: number, data: RecordData): TargetState {
  return { version: v(version), hash: contentHash(data), deleted: false, data };
}

const tombstone = (version: number): TargetState => ({ version: v(version), hash: 'deleted', deleted: true });
const sourceWins = { strategy: 'source-wins' as const };

describe('decideApply', () => {
  describe('a key the target does not hold', () => {
    it('writes an upsert', () => {
      const decision = decideApply({ change: upsert(1, { a: 1 }), stored: undefined, conflict: sourceWins });

      expect(decision).toMatchObject({
        action: 'write',
        op: 'upsert',
        rule: 'new-key',
        data: { a: 1 },
        merged: false,
      });
    });

    it('writes a tombstone for a delete, so a late older upsert cannot resurrect the record', () => {
      const deleteDecision = decideApply({ change: remove(5), stored: undefined, conflict: sourceWins });
      const lateUpsert = decideApply({
        change: upsert(3, { a: 1 }),
        stored: tombstone(5),
        conflict: sourceWins,
      });

      expect(deleteDecision).toMatchObject({
        action: 'write',
        op: 'delete',
        rule: 'tombstone-new-key',
        version: v(5),
      });
      expect(lateUpsert).toEqual({ action: 'skip-stale', rule: 'stored-newer' });
    });
  });

  it('skips a record whose stored version is newer', () => {
    const decision = decideApply({
      change: upsert(1, { a: 1 }),
      stored: written(2, { a: 2 }),
      conflict: sourceWins,
    });

    expect(decision).toEqual({ action: 'skip-stale', rule: 'stored-newer' });
  });

  it('skips a duplicate: same version and same hash', () => {
    const decision = decideApply({
      change: upsert(2, { a: 2 }),
      stored: written(2, { a: 2 }),
      conflict: sourceWins,
    });

    expect(decision).toEqual({ action: 'skip-unchanged', rule: 'same-version' });
  });

  it('skips a redelivered delete onto its own tombstone', () => {
    const decision = decideApply({ change: remove(4), stored: tombstone(4), conflict: sourceWins });

    expect(decision.action).toBe('skip-unchanged');
  });

  it('decides two changes of one version with other content by content hash, whichever came first', () => {
    // Prepare
    const pair: RecordData[] = [{ a: 2 }, { a: 3 }];
    const [low = {}, high = {}] = pair.sort((x, y) => (contentHash(x) < contentHash(y) ? -1 : 1));

    // Act
    const higherArrivesSecond = decideApply({
      change: upsert(2, high),
      stored: written(2, low),
      conflict: sourceWins,
    });
    const lowerArrivesSecond = decideApply({
      change: upsert(2, low),
      stored: written(2, high),
      conflict: sourceWins,
    });

    // Assess
    expect(higherArrivesSecond).toMatchObject({ action: 'write', op: 'upsert', data: high, version: v(2) });
    expect(lowerArrivesSecond).toEqual({ action: 'skip-stale', rule: 'tie' });
    const tie = (change: IncomingChange, stored: TargetState) =>
      isVersionTie({ change, stored, conflict: sourceWins });
    expect(tie(upsert(2, low), written(2, high))).toBe(true);
    expect(tie(upsert(2, high), written(2, high))).toBe(false);
  });

  it('writes a newer version', () => {
    const decision = decideApply({
      change: upsert(3, { a: 3 }),
      stored: written(2, { a: 2 }),
      conflict: sourceWins,
    });

    expect(decision).toMatchObject({
      action: 'write',
      rule: 'newer',
      version: v(3),
      contentUnchanged: false,
    });
  });

  it('still writes a newer version with unchanged content, so the version advances', () => {
    const decision = decideApply({
      change: upsert(3, { a: 2 }),
      stored: written(2, { a: 2 }),
      conflict: sourceWins,
    });

    expect(decision).toMatchObject({ action: 'write', version: v(3), contentUnchanged: true });
  });

  it('re-creates a deleted record from a newer upsert and moves a tombstone forward', () => {
    const recreate = decideApply({
      change: upsert(6, { a: 1 }),
      stored: tombstone(5),
      conflict: { strategy: 'manual' },
    });
    const deleteAgain = decideApply({ change: remove(7), stored: tombstone(5), conflict: sourceWins });

    expect(recreate).toMatchObject({ action: 'write', op: 'upsert', rule: 'after-tombstone' });
    expect(deleteAgain).toMatchObject({
      action: 'write',
      op: 'delete',
      rule: 'after-tombstone',
      version: v(7),
    });
  });

  it('deletes a live record on a newer delete', () => {
    const decision = decideApply({ change: remove(3), stored: written(2, { a: 1 }), conflict: sourceWins });

    expect(decision).toMatchObject({ action: 'write', op: 'delete', rule: 'newer' });
  });

  it('writes without conflict checks when the target cannot read its data back', () => {
    const stored: TargetState = { version: v(1), hash: 'h', deleted: false };

    const decision = decideApply({ change: upsert(2, { a: 1 }), stored, conflict: { strategy: 'manual' } });

    expect(decision.action).toBe('write');
  });

  it('refuses an upsert without data', () => {
    const change: IncomingChange = { key: 'k', op: 'upsert', version: v(1), hash: 'x', data: null };

    expect(() => decideApply({ change, stored: undefined, conflict: sourceWins })).toThrow(ValidationError);
  });

  describe('a target changed by someone else since our last write', () => {
    const ours = { name: 'Ada', city: 'Paris' };
    const theirs = { name: 'Ada', city: 'Lyon' };
    const stored: TargetState = { version: v(1), hash: contentHash(ours), deleted: false, data: theirs };

    it('writes the source under source-wins, without hashing the target data', () => {
      let hashed = 0;
      const hashData = (d: RecordData) => {
        hashed++;
        return contentHash(d);
      };

      const decision = decideApply({
        change: upsert(2, { name: 'Ada L.', city: 'Paris' }),
        stored,
        conflict: sourceWins,
        hashData,
      });

      expect(decision).toMatchObject({ action: 'write', data: { name: 'Ada L.', city: 'Paris' } });
      expect(hashed).toBe(0);
    });

    it('writes the source under latest-timestamp when the source is later', () => {
      const conflict = { strategy: 'latest-timestamp' as const, timestampField: 'at' };
      const change = upsert(2, { ...ours, at: '2024-02-01T00:00:00Z' });
      const older = { ...stored, data: { ...theirs, at: '2024-01-01T00:00:00Z' } };

      const decision = decideApply({ change, stored: older, conflict });

      expect(decision).toMatchObject({ action: 'write', rule: 'external-change', data: change.data });
    });

    it('keeps the target under target-wins', () => {
      const decision = decideApply({
        change: upsert(2, { name: 'Ada L.', city: 'Paris' }),
        stored,
        conflict: { strategy: 'target-wins' },
      });

      expect(decision).toEqual({ action: 'keep-target', rule: 'external-change' });
    });

    it('parks a conflict under manual', () => {
      const change = upsert(2, { name: 'Ada L.', city: 'Paris' });

      const decision = decideApply({ change, stored, conflict: { strategy: 'manual' } });

      expect(decision).toEqual({
        action: 'conflict',
        rule: 'external-change',
        fields: ['city', 'name'],
        source: { city: 'Paris', name: 'Ada L.' },
        target: { city: 'Lyon', name: 'Ada' },
        base: null,
      });
    });

    it('writes without conflict when the target already holds the incoming data', () => {
      const decision = decideApply({ change: upsert(2, theirs), stored, conflict: { strategy: 'manual' } });

      expect(decision).toMatchObject({ action: 'write', data: theirs, merged: false });
    });

    it('merges under field-merge and stores the merge hash but the source data as next base', () => {
      const incoming = { name: 'Ada L.', city: 'Paris' };

      const decision = decideApply({
        change: upsert(2, incoming),
        stored,
        conflict: { strategy: 'field-merge' },
        base: ours,
      });

      expect(decision).toMatchObject({
        action: 'write',
        rule: 'field-merge',
        merged: true,
        data: { city: 'Lyon', name: 'Ada L.' },
        hash: contentHash({ city: 'Lyon', name: 'Ada L.' }),
        base: incoming,
      });
    });

    it.each([
      ['source-wins', 'write'],
      ['latest-timestamp', 'write'],
      ['target-wins', 'keep-target'],
      ['field-merge', 'conflict'],
      ['manual', 'conflict'],
    ] as const)('handles an incoming delete under %s with %s', (strategy, action) => {
      const conflict =
        strategy === 'latest-timestamp' ? { strategy, timestampField: 'updated_at' } : { strategy };

      const decision = decideApply({ change: remove(2), stored, conflict });

      expect(decision.action).toBe(action);
      if (decision.action === 'conflict')
        expect(decision).toMatchObject({ source: null, target: theirs, fields: ['city', 'name'] });
    });

    it('never lets a late older change trigger the strategy', () => {
      const decision = decideApply({
        change: upsert(0, { name: 'old' }),
        stored,
        conflict: { strategy: 'manual' },
      });

      expect(decision.action).toBe('skip-stale');
    });
  });

  describe('field-merge with a known base', () => {
    it('keeps target-side edits a previous merge kept when the source changes other fields', () => {
      // Prepare: the source last said {a: 1, b: 1}; the target edited b, and our merge wrote {a: 1, b: 9}.
      const base = { a: 1, b: 1 };
      const merged = { a: 1, b: 9 };
      const stored = written(1, merged);

      // Act: the source changes a only.
      const decision = decideApply({
        change: upsert(2, { a: 2, b: 1 }),
        stored,
        conflict: { strategy: 'field-merge' },
        base,
      });

      // Assess
      expect(decision).toMatchObject({ action: 'write', data: { a: 2, b: 9 }, merged: true });
    });

    it('writes the source as is when the target holds exactly the base', () => {
      const base = { a: 1, b: 1 };

      const decision = decideApply({
        change: upsert(2, { a: 2, b: 1 }),
        stored: written(1, base),
        conflict: { strategy: 'field-merge' },
        base,
      });

      expect(decision).toMatchObject({ action: 'write', data: { a: 2, b: 1 }, merged: false });
    });
  });
});

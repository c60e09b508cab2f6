import { describe, expect, it } from 'vitest';
import {
  differingFields,
  latestSide,
  mergeFields,
  resolveConflict,
} from '../../../shared/domain/conflict.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { exactNumber } from '../../../shared/records/exact-json.ts';

const source = { id: 1, name: 'Ada', city: 'Paris', updated_at: '2024-05-02T00:00:00Z' };
const target = { id: 1, name: 'Ada L.', city: 'Paris', updated_at: '2024-05-01T00:00:00Z' };

describe('resolveConflict', () => {
  it('writes the source data under source-wins', () => {
    const result = resolveConflict({ config: { strategy: 'source-wins' }, source, target });

    expect(result).toEqual({ decision: 'write', data: source });
  });

  it('keeps the target under target-wins', () => {
    const result = resolveConflict({ config: { strategy: 'target-wins' }, source, target });

    expect(result).toEqual({ decision: 'keep-target' });
  });

  it('writes whatever the strategy when source and target already hold the same data', () => {
    const same = { ...source };

    const result = resolveConflict({ config: { strategy: 'manual' }, source, target: same });

    expect(result).toEqual({ decision: 'write', data: source });
  });

  describe('latest-timestamp', () => {
    const config = { strategy: 'latest-timestamp' as const, timestampField: 'updated_at' };

    it('writes the source when its timestamp is later', () => {
      expect(resolveConflict({ config, source, target })).toEqual({ decision: 'write', data: source });
    });

    it('keeps the target when its timestamp is later', () => {
      const newerTarget = { ...target, updated_at: '2024-05-03T00:00:00Z' };

      expect(resolveConflict({ config, source, target: newerTarget })).toEqual({ decision: 'keep-target' });
    });

    it('gives a tie to the source, comparing instants rather than text', () => {
      const tiedTarget = { ...target, updated_at: '2024-05-02T02:00:00.000+02:00' };

      expect(resolveConflict({ config, source, target: tiedTarget }).decision).toBe('write');
    });

    it('reads Dates and epoch milliseconds, and ranks a missing timestamp oldest', () => {
      expect(
        latestSide('t', { t: new Date('2024-01-02T00:00:00Z') }, { t: Date.parse('2024-01-01T00:00:00Z') }),
      ).toBe('source');
      expect(latestSide('t', {}, { t: '2024-01-01T00:00:00Z' })).toBe('target');
      expect(latestSide('t', { t: 1_704_067_200_000_000_001n }, { t: 1_704_067_200_000 })).toBe('source');
      expect(latestSide('t', { t: 1_704_067_200_000_000 }, { t: '2024-01-01T01:00:00+01:00' })).toBe(
        'source',
      );
      expect(latestSide('t', { t: 1_704_067_199_999_999 }, { t: '2024-01-01T00:00:00Z' })).toBe('target');
      expect(latestSide('t', { t: 'garbage' }, {})).toBe('source');
    });
  });

  describe('manual', () => {
    it('parks a conflict naming every differing field, with both sides and the base', () => {
      const base = { id: 1, name: 'Ada', city: 'Paris', updated_at: '2024-04-01T00:00:00Z' };

      const result = resolveConflict({ config: { strategy: 'manual' }, source, target, base });

      expect(result).toEqual({ decision: 'conflict', fields: ['name', 'updated_at'], source, target, base });
    });

    it('reports a missing base as null', () => {
      const result = resolveConflict({ config: { strategy: 'manual' }, source, target });

      expect(result.decision === 'conflict' && result.base).toBeNull();
    });
  });

  describe('field-merge', () => {
    const base = { id: 1, name: 'Ada', email: 'a@x.org', score: 10, updated_at: '2024-05-01T00:00:00Z' };

    it('takes each field from the side that changed it', () => {
      const src = { ...base, name: 'Ada Lovelace', updated_at: '2024-05-03T00:00:00Z' };
      const tgt = { ...base, email: 'ada@x.org', updated_at: '2024-05-02T00:00:00Z' };
      const config = {
        strategy: 'field-merge' as const,
        timestampField: 'updated_at',
        fields: { updated_at: 'max' as const },
      };

      const result = resolveConflict({ config, source: src, target: tgt, base });

      expect(result).toEqual({
        decision: 'write',
        data: {
          email: 'ada@x.org',
          id: 1,
          name: 'Ada Lovelace',
          score: 10,
          updated_at: '2024-05-03T00:00:00Z',
        },
      });
    });

    it('makes a field changed on both sides without a rule a conflict', () => {
      const src = { ...base, name: 'Source name' };
      const tgt = { ...base, name: 'Target name' };

      const result = resolveConflict({ config: { strategy: 'field-merge' }, source: src, target: tgt, base });

      expect(result.decision === 'conflict' && result.fields).toEqual(['name']);
    });

    it('takes a field both sides changed to the same value', () => {
      const src = { ...base, name: 'Same' };
      const tgt = { ...base, name: 'Same' };

      const result = resolveConflict({ config: { strategy: 'field-merge' }, source: src, target: tgt, base });

      expect(result).toEqual({ decision: 'write', data: { ...base, name: 'Same' } });
    });

    it.each([
      ['source', 30],
      ['target', 20],
      ['max', 30],
      ['min', 20],
    ] as const)('settles a field changed on both sides by rule %s', (rule, expected) => {
      const src = { ...base, score: 30 };
      const tgt = { ...base, score: 20 };

      const result = resolveConflict({
        config: { strategy: 'field-merge', fields: { score: rule } },
        source: src,
        target: tgt,
        base,
      });

      expect(result.decision === 'write' && result.data.score).toBe(expected);
    });

    it('settles rule latest by the records’ timestamp field', () => {
      const src = { ...base, score: 30, updated_at: '2024-05-02T00:00:00Z' };
      const tgt = { ...base, score: 20, updated_at: '2024-05-03T00:00:00Z' };
      const config = {
        strategy: 'field-merge' as const,
        timestampField: 'updated_at',
        fields: { score: 'latest' as const, updated_at: 'latest' as const },
      };

      const result = resolveConflict({ config, source: src, target: tgt, base });

      expect(result.decision === 'write' && result.data).toEqual({
        ...base,
        score: 20,
        updated_at: '2024-05-03T00:00:00Z',
      });
    });

    it('settles rule latest with Debezium microsecond timestamps against a later target edit', () => {
      // Prepare: the source's updated_at is epoch microseconds (MicroTimestamp); the target was
      // edited 2 µs later and holds ISO-8601 without an offset. Read as milliseconds, the source's
      // number would lie 50 000 years ahead and always win.
      const src = { ...base, score: 30, updated_at: 1_714_608_000_000_001 };
      const tgt = { ...base, score: 20, updated_at: '2024-05-02T00:00:00.000003' };
      const config = {
        strategy: 'field-merge' as const,
        timestampField: 'updated_at',
        fields: { score: 'latest' as const, updated_at: 'latest' as const },
      };

      // Act
      const targetLater = resolveConflict({ config, source: src, target: tgt, base });
      const sourceLater = resolveConflict({
        config,
        source: { ...src, updated_at: 1_714_608_000_000_004 },
        target: tgt,
        base,
      });

      // Assess
      expect(targetLater.decision === 'write' && targetLater.data.score).toBe(20);
      expect(sourceLater.decision === 'write' && sourceLater.data.score).toBe(30);
    });

    it('settles rules max and min by every digit of numbers beyond a double', () => {
      const src = { ...base, balance: exactNumber('9007199254740993') };
      const tgt = { ...base, balance: 9007199254740992 };
      const merge = (rule: 'max' | 'min') =>
        resolveConflict({
          config: { strategy: 'field-merge', fields: { balance: rule } },
          source: src,
          target: tgt,
          base,
        });

      expect(
        [merge('max'), merge('min')].map((r) => r.decision === 'write' && String(r.data.balance)),
      ).toEqual(['9007199254740993', '9007199254740992']);
    });

    it('parks fields under rule manual and fields max cannot order', () => {
      const src = { ...base, score: 30, name: 'S' };
      const tgt = { ...base, score: 'thirty', name: 'T' };
      const config = {
        strategy: 'field-merge' as const,
        fields: { score: 'max' as const, name: 'manual' as const },
      };

      const result = resolveConflict({ config, source: src, target: tgt, base });

      expect(result.decision === 'conflict' && result.fields).toEqual(['name', 'score']);
    });

    it('respects a field removed on one side only', () => {
      const { email: _removed, ...tgt } = base;

      const result = resolveConflict({
        config: { strategy: 'field-merge' },
        source: base,
        target: tgt,
        base,
      });

      expect(result).toEqual({ decision: 'write', data: tgt });
    });

    it('treats every difference as changed on both sides when the base is unknown', () => {
      const src = { ...base, name: 'S' };
      const tgt = { ...base, email: 'other@x.org' };

      const result = resolveConflict({ config: { strategy: 'field-merge' }, source: src, target: tgt });

      expect(result.decision === 'conflict' && result.fields).toEqual(['email', 'name']);
    });

    it('compares nested values by content, not by key order', () => {
      const merged = mergeFields({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }, undefined, {});

      expect(merged.conflicts).toEqual([]);
    });
  });

  it('accepts a config parsed by the pipeline schema', () => {
    const config = pipelineSchema.in.shape.conflict.parse({
      strategy: 'field-merge',
      fields: { score: 'max' },
    });

    const result = resolveConflict({
      config,
      source: { score: 3 },
      target: { score: 5 },
      base: { score: 1 },
    });

    expect(result).toEqual({ decision: 'write', data: { score: 5 } });
  });
});

describe('differingFields', () => {
  it('tells an absent field from a null one', () => {
    expect(differingFields({ a: null }, {})).toEqual(['a']);
    expect(differingFields({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toEqual([]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundaryPositions,
  compareCodePoints,
  compareKeyTuples,
  inKeyRange,
  type KeyRange,
  type KeyTuple,
  keyRangePartitions,
  parseKeyRange,
  rangesFromBoundaries,
} from '../../../shared/domain/key-range.ts';

const RUNS = { numRuns: 300 };

/** Plans as the sources do: the keys at the boundary positions of the sorted keys. */
function plan(keys: readonly KeyTuple[], parts: number): KeyRange[] {
  const sorted = [...keys].sort(compareKeyTuples);
  return rangesFromBoundaries(boundaryPositions(sorted.length, parts).map((p) => sorted[p - 1] as KeyTuple));
}

/** Distinct tuples only: a key is unique in a table. */
function unique(keys: readonly KeyTuple[]): KeyTuple[] {
  const seen = new Map(keys.map((k) => [JSON.stringify(k), k]));
  return [...seen.values()];
}

function assertCovers(ranges: readonly KeyRange[], keys: readonly KeyTuple[], probes: readonly KeyTuple[]) {
  expect(ranges[0]?.after).toBeNull();
  expect(ranges[ranges.length - 1]?.upTo).toBeNull();
  for (let i = 1; i < ranges.length; i++) {
    // No gap: each range starts exactly where the one before ends.
    expect(ranges[i]?.after).toEqual(ranges[i - 1]?.upTo);
    expect(compareKeyTuples(ranges[i - 1]?.after ?? [], ranges[i]?.after as KeyTuple)).toBeLessThanOrEqual(
      i === 1 ? 0 : -1,
    );
  }
  // No overlap and no gap, for the planned keys and for keys written after planning.
  for (const key of [...keys, ...probes]) expect(ranges.filter((r) => inKeyRange(key, r))).toHaveLength(1);
}

const integerKey = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n): KeyTuple => {
  const safe = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
  return [safe ? Number(n) : n.toString()];
});
/** Text as `COLLATE "C"` orders it: by code unit, with prefixes, case, digits and non-ASCII mixed. */
const textKey = fc
  .string({
    unit: fc.constantFrom('a', 'b', 'B', 'Z', '0', '9', '#', ' ', 'é', '日', '\uFF01', '\u{1F600}'),
    maxLength: 6,
  })
  .map((s): KeyTuple => [s]);
/** Skewed composite keys: most rows share the first column, which range cuts fall inside. */
const skewedCompositeKey = fc
  .tuple(
    fc.oneof(
      { weight: 9, arbitrary: fc.constant('acme') },
      { weight: 1, arbitrary: fc.constantFrom('a', 'zeta') },
    ),
    fc.integer({ min: 0, max: 5000 }),
  )
  .map(([tenant, id]): KeyTuple => [tenant, id]);
/** Integers bunched near zero with rare huge outliers, where min/max splitting would fail. */
const skewedIntegerKey = fc
  .oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0, max: 50 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000_000_000, max: 2_000_000_000 }) },
  )
  .map((n): KeyTuple => [n]);

/** Any code point, and often those around the surrogate range, where UTF-16 and UTF-8 orders part. */
const unicodeUnit = fc.oneof(
  fc.constantFrom('a', '\uD7FF', '\uE000', '\uFF01', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

describe('key-range partitions', () => {
  for (const [kind, key] of [
    ['integer', integerKey],
    ['text (collation "C")', textKey],
    ['skewed composite', skewedCompositeKey],
    ['skewed integer', skewedIntegerKey],
  ] as const)
    it(`cover the key space with no gap and no overlap for ${kind} keys`, () => {
      fc.assert(
        fc.property(
          fc.array(key, { minLength: 1, maxLength: 300 }).map(unique),
          fc.integer({ min: 1, max: 40 }),
          fc.array(key, { maxLength: 30 }),
          (keys, parts, probes) => assertCovers(plan(keys, parts), keys, probes),
        ),
        RUNS,
      );
    });

  it('gives each range an equal share of the rows, within one, however skewed the keys', () => {
    fc.assert(
      fc.property(
        fc.array(skewedCompositeKey, { minLength: 1, maxLength: 400 }).map(unique),
        fc.integer({ min: 1, max: 40 }),
        (keys, parts) => {
          const ranges = plan(keys, parts);
          const sizes = ranges.map((r) => keys.filter((k) => inKeyRange(k, r)).length);
          expect(ranges).toHaveLength(Math.min(parts, keys.length));
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        },
      ),
      RUNS,
    );
  });

  it('keeps text keys that read as one integer apart, as COLLATE "C" does', () => {
    expect(compareKeyTuples(['09'], ['9'])).toBeLessThan(0);
    expect(compareKeyTuples(['0a'], ['09'])).toBeGreaterThan(0);
    expect(compareKeyTuples(['10'], ['9'])).toBeLessThan(0);
    assertCovers(plan([['0a'], ['09'], ['a'], ['']], 3), [['0a'], ['09'], ['a'], ['']], [['9']]);
  });

  it('orders text by code point, as UTF-8 bytes order it (COLLATE "C", utf8mb4_bin)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: unicodeUnit, maxLength: 6 }),
        fc.string({ unit: unicodeUnit, maxLength: 6 }),
        (x, y) =>
          Math.sign(compareCodePoints(x, y)) === Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y))),
      ),
      RUNS,
    );
    // A fullwidth "!" (U+FF01) is below an emoji (U+1F600), though its UTF-16 unit is above the emoji's.
    expect(compareKeyTuples(['\uFF01'], ['\u{1F600}'])).toBeLessThan(0);
    expect(inKeyRange(['\u{1F600}'], { after: null, upTo: ['\uFF01'] })).toBe(false);
  });

  it('orders integer key columns by value, beyond 2^53 too, and text by code point', () => {
    expect(compareKeyTuples([9], [10])).toBeLessThan(0);
    expect(compareKeyTuples(['9007199254740993'], ['9007199254740992'])).toBeGreaterThan(0);
    expect(compareKeyTuples(['B'], ['a'])).toBeLessThan(0);
    expect(compareKeyTuples(['a', 10], ['a', 9])).toBeGreaterThan(0);
  });

  it('names each range by its place and reads a planned spec back', () => {
    const partitions = keyRangePartitions(rangesFromBoundaries([[10], [20]]));
    expect(partitions.map((p) => p.id)).toEqual(['range-1-of-3', 'range-2-of-3', 'range-3-of-3']);
    expect(parseKeyRange(partitions[1] as (typeof partitions)[number], 1, 'postgres source')).toEqual({
      after: [10],
      upTo: [20],
    });
    expect(parseKeyRange({ id: 'all', spec: {} }, 1, 'postgres source')).toBeUndefined();
  });

  it('refuses a spec that is not a key range of the key width, naming the partition', () => {
    expect(() =>
      parseKeyRange({ id: 'hash-1-of-4', spec: { modulus: 4, index: 1 } }, 1, 'postgres source'),
    ).toThrow(/partition "hash-1-of-4" has a spec this source does not plan/);
    expect(() =>
      parseKeyRange({ id: 'r', spec: { range: { after: ['a'], upTo: null } } }, 2, 'mysql source'),
    ).toThrow(/a key range of 2 column\(s\) is expected/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shortestSingle } from '../../../shared/connectors/sql/mysql-values.ts';
import { compareKeyTuples, inKeyRange, rangesFromBoundaries } from '../../../shared/domain/key-range.ts';

/** Any finite single-precision value, as the DOUBLE it widens to (what `CAST(k AS DOUBLE)` reads). */
const single = fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => Math.fround(f));

describe('shortestSingle', () => {
  it('reads back as the stored single, in at most nine significant digits', () => {
    fc.assert(
      fc.property(single, (stored) => {
        const value = shortestSingle(stored) as number;
        // -0 reads as 0, which the database holds equal to it.
        expect(Math.fround(value) === stored).toBe(true);
        const digits = value.toExponential().replace(/e.*$/, '').replace(/[-.]/g, '');
        expect(digits.length).toBeLessThanOrEqual(9);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the order of the stored singles, so float ranges over the values read cut where the database does', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(single, { minLength: 2, maxLength: 40, comparator: (a, b) => a === b }),
        (stored) => {
          const sorted = [...stored].sort((a, b) => a - b);
          const read = sorted.map((s) => [shortestSingle(s) as number]);
          const kinds = ['float' as const];
          for (let i = 1; i < read.length; i++)
            expect(compareKeyTuples(read[i - 1] ?? [], read[i] ?? [], kinds)).toBeLessThan(0);
          // Every value lies in exactly one range cut at every third of them: no gap, no overlap.
          const ranges = rangesFromBoundaries(
            read.filter((_, i) => i % 3 === 2),
            kinds,
          );
          for (const key of read) expect(ranges.filter((r) => inKeyRange(key, r))).toHaveLength(1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives the values MariaDB prints alike their own numbers', () => {
    expect([16777216, 16777218, 0.10000000149011612, 123456.703125].map(shortestSingle)).toEqual([
      16777216, 16777218, 0.1, 123456.7,
    ]);
    expect(shortestSingle(null)).toBeNull();
  });
});

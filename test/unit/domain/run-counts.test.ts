import { describe, expect, it } from 'vitest';
import { accounted, runCountsOf, zeroCounts } from '../../../shared/domain/run-counts.ts';

describe('run counts', () => {
  it('accounts every outcome but extracted, a run recorded before filtered existed included', () => {
    // Prepare
    const counts = {
      extracted: 20,
      loaded: 9,
      skipped: 4,
      filtered: 3,
      conflicts: 2,
      quarantined: 1,
      deadLettered: 1,
    };
    const { filtered: _f, ...older } = counts;

    // Act
    const figures = [accounted(counts), accounted(older), accounted(zeroCounts())];

    // Assess
    expect(figures).toEqual([20, 17, 0]);
  });

  it('takes only the counts of ledger totals, filtered as 0 where a record lacks it', () => {
    // Prepare
    const totals = {
      ...zeroCounts(),
      loaded: 5,
      extracted: 5,
      ties: 2,
      pendingMessages: 1,
      excludedKeys: ['k'],
    };
    const { filtered: _f, ...older } = totals;

    // Act
    const counts = runCountsOf(older);

    // Assess
    expect(counts).toEqual({ ...zeroCounts(), loaded: 5, extracted: 5 });
  });
});

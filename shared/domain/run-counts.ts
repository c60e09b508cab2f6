/** How every extracted record of a run (or of a day's stream) was accounted for. */
export interface RunCounts {
  extracted: number;
  loaded: number;
  skipped: number;
  /** Left out by the pipeline's `transform.filter`; absent from runs recorded before that outcome existed. */
  filtered?: number;
  conflicts: number;
  quarantined: number;
  deadLettered: number;
}

/** Zero of each outcome a record can have: every count but `extracted`. */
export const zeroOutcomes = () => ({
  loaded: 0,
  skipped: 0,
  filtered: 0,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
});

export const zeroCounts = (): Required<RunCounts> => ({ extracted: 0, ...zeroOutcomes() });

/** Just the counts of what carries them beside other figures (ledger totals, a demo row). */
export function runCountsOf(from: RunCounts): Required<RunCounts> {
  const { extracted, loaded, skipped, filtered = 0, conflicts, quarantined, deadLettered } = from;
  return { extracted, loaded, skipped, filtered, conflicts, quarantined, deadLettered };
}

/** Records with an outcome: every count but `extracted` (the rest are pending). */
export function accounted(c: RunCounts): number {
  return c.loaded + c.skipped + (c.filtered ?? 0) + c.conflicts + c.quarantined + c.deadLettered;
}

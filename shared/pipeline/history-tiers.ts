/** The longest tier: the most `retention.historyDays` may say, and how long an untagged archive object is kept. */
export const LONGEST_HISTORY_TIER_DAYS = 3650;

/**
 * How long archived changes are kept, by tier. The data bucket's lifecycle holds one rule per
 * tier, created once with the core stack and matched by an object tag, so a pipeline added,
 * removed or given another `retention.historyDays` never changes the core stack: a pipeline's
 * `historyDays` is rounded up to the next tier, and each archive object is written with the tag
 * of its pipeline's tier (`esync validate` warns when the rounding changes the value).
 */
export const HISTORY_DAY_TIERS = [1, 7, 30, 90, 365, LONGEST_HISTORY_TIER_DAYS] as const;

/** The object tag that names an archive object's tier (`esync-history-days=<days>`). */
export const HISTORY_TIER_TAG = 'esync-history-days';

/**
 * The days an archived change of a pipeline with `historyDays` is kept: the smallest tier that
 * holds it.
 * @throws RangeError when `historyDays` exceeds the longest tier (the schema refuses it first).
 */
export function historyTierDays(historyDays: number): number {
  const tier = HISTORY_DAY_TIERS.find((days) => days >= historyDays);
  if (tier === undefined)
    throw new RangeError(
      `historyDays ${historyDays} exceeds the longest history tier, ${LONGEST_HISTORY_TIER_DAYS} days`,
    );
  return tier;
}

/** The `x-amz-tagging` value an archive object of a pipeline with `historyDays` is written with. */
export function historyTierTagging(historyDays: number): string {
  return `${HISTORY_TIER_TAG}=${historyTierDays(historyDays)}`;
}

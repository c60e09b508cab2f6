import { beforeAll, describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../support/chaos-faults.ts';
import { type ChaosReport, runChaos } from '../support/chaos-run.ts';

/**
 * The chaos suite at CI size: `npm run chaos` runs the same scenario at 100,000 records. Rates are
 * higher than the full run's so that every fault fires at this size; the test fails when one
 * does not, since an invariant that held without its fault proves nothing.
 */
const RECORDS = 5000;
const SEED = 20_261_122;

describe('chaos: a PostgreSQL → DynamoDB sync and a CDC stream under injected faults', () => {
  let report: ChaosReport;

  beforeAll(async () => {
    report = await runChaos({
      records: RECORDS,
      seed: SEED,
      rates: {
        duplicateDelivery: 0.1,
        crashBeforeDelete: 0.1,
        targetThrottle: 0.03,
        throttleBurstKeys: 2,
        s3SlowDown: 0.2,
        sourceConnectionDrop: 0.1,
        poisonRecords: 0.01,
        poisonMessages: 10,
        cdcDuplicate: 0.15,
        loadKill: 0.02,
        stateFault: 0.02,
        sqsFault: 0.1,
        sqsVisibilityFault: 0.5,
      },
      // On a shared, loaded machine a run takes several times its quiet duration (~60 s).
      timeoutMs: 240_000,
      // Longer than the Load timeout (60 s): a message killed on its last receive counts as
      // dead-lettered only once that invocation has ended.
      drainTimeoutMs: 90_000,
    });
  }, 420_000);

  it.each(FAULT_KINDS)('injects %s at least once', (kind) => {
    // Assess
    expect(report.faults[kind], `fault ${kind} never fired`).toBeGreaterThan(0);
  });

  it('loses no record', () => {
    expect(report.lost).toBe(0);
  });

  it('applies no change twice', () => {
    expect(report.appliedTwice).toBe(0);
  });

  it('never moves a key back to an older version', () => {
    expect(report.versionRegressions).toBe(0);
  });

  it('accounts for every rejected record in the quarantine or the DLQ, with its reason', () => {
    expect(report.unaccountedRejects).toBe(0);
  });

  it('ends with both targets equal to their sources, content hash by content hash', () => {
    expect(report.contentMismatches).toBe(0);
  });

  it('never advances the checkpoint past a record that was not loaded', () => {
    expect(report.checkpointViolations).toBe(0);
  });

  it('adds up every run and stream: extracted == loaded + skipped + conflicts + quarantined + dead-lettered', () => {
    expect(report.counterMismatches).toBe(0);
  });

  it('holds every invariant', () => {
    // Assess
    const failed = report.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);
    expect(failed, `seed ${report.seed}`).toEqual([]);
  });
});

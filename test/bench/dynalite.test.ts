import { describe, expect, it } from 'vitest';
import { DYNALITE_VARIANTS, type DynalitePoint, runDynaliteBench, summarize } from './dynalite.ts';

const cost = (cpuUs: number) => ({ cpuUs, gcUs: cpuUs / 10 });
const point = (variant: string, repetition: number, stored: number, us: number): DynalitePoint => ({
  variant,
  repetition,
  stored,
  putItem: cost(us),
  batchExecute: cost(us / 2),
  batchWrite: cost(us / 4),
  heapMb: us,
});

describe('the dynalite bench', () => {
  it("averages each variant's repetitions at each table size", () => {
    // Prepare
    const points = [
      point('shipped', 1, 100, 400),
      point('before', 1, 100, 800),
      point('before', 2, 100, 1000),
      point('shipped', 2, 100, 600),
      point('shipped', 1, 200, 700),
    ];

    // Act
    const summary = summarize(points);

    // Assess
    expect(summary.map((s) => [s.variant, s.stored, s.putItem.cpuUs, s.batchWrite.gcUs, s.heapMb])).toEqual([
      ['before', 100, 900, 22.5, 900],
      ['shipped', 100, 500, 12.5, 500],
      ['shipped', 200, 700, 17.5, 700],
    ]);
  });

  it("measures the servers' worker thread per item of each kind of request, for each variant and table size", async () => {
    // Act
    const points = await runDynaliteBench({
      stored: [50, 100],
      items: 50,
      repetitions: 1,
      variants: [DYNALITE_VARIANTS.shipped, DYNALITE_VARIANTS.before].filter((v) => v !== undefined),
    });

    // Assess
    expect(points.map((p) => [p.variant, p.stored])).toEqual([
      ['shipped', 50],
      ['shipped', 100],
      ['before', 50],
      ['before', 100],
    ]);
    for (const p of points)
      for (const kind of [p.putItem, p.batchExecute, p.batchWrite]) {
        expect(kind.cpuUs).toBeGreaterThan(0);
        expect(kind.gcUs).toBeGreaterThanOrEqual(0);
        expect(kind.gcUs).toBeLessThanOrEqual(kind.cpuUs);
      }
  }, 180_000);
});

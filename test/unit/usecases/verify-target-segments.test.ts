import { describe, expect, it } from 'vitest';
import {
  MAX_TARGET_SEGMENTS,
  RECORDS_PER_SEGMENT,
  targetSegmentCount,
} from '../../../shared/usecases/phases/6-verify-target.ts';

describe("Verify's target segments", () => {
  it('reads the target in one segment per partition while the target is small', () => {
    expect(targetSegmentCount(4, 0)).toBe(4);
    expect(targetSegmentCount(4, 4 * RECORDS_PER_SEGMENT)).toBe(4);
    expect(targetSegmentCount(1, RECORDS_PER_SEGMENT)).toBe(1);
  });

  it('adds a segment for every 250,000 items the table holds beyond what its partitions cover', () => {
    expect(RECORDS_PER_SEGMENT).toBe(250_000);
    expect(targetSegmentCount(4, 4 * 250_000 + 1)).toBe(5);
    expect(targetSegmentCount(1, 250_001)).toBe(2);
    expect(targetSegmentCount(2, 10_000_000)).toBe(40);
  });

  it('caps the segments at 100, however large the table or the plan', () => {
    expect(MAX_TARGET_SEGMENTS).toBe(100);
    expect(targetSegmentCount(4, 25_000_001)).toBe(100);
    expect(targetSegmentCount(4, 1e12)).toBe(100);
    expect(targetSegmentCount(250, 0)).toBe(100);
  });

  it('reads in at least one segment, of an empty table with no partition too', () => {
    expect(targetSegmentCount(0, 0)).toBe(1);
  });

  it('takes a requested count as it is, within 1 and the cap, whatever the table holds', () => {
    expect(targetSegmentCount(4, 10_000_000, 3)).toBe(3);
    expect(targetSegmentCount(4, 0, 7.9)).toBe(7);
    expect(targetSegmentCount(4, 0, 0)).toBe(1);
    expect(targetSegmentCount(4, 0, 500)).toBe(100);
  });
});

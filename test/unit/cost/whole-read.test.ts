import { describe, expect, it } from 'vitest';
import {
  dynamoUnits,
  sampleWithinBudget,
  sizeSampleBudget,
  wholeReadCostsLess,
} from '../../../shared/cost/units.ts';

const KB = 1024;

describe('choosing a whole-table Scan over reading keys one by one', () => {
  it('reads a table of 1-KB items whole when the keys are more than a quarter of it', () => {
    // 100k items of 1 KB: a Scan reads 25,000 units of 4 KB, each key costs one unit.
    const table = { records: 100_000, bytes: 100_000 * KB };
    expect(wholeReadCostsLess(100_000, table)).toBe(true);
    expect(wholeReadCostsLess(25_001, table)).toBe(true);
    expect(wholeReadCostsLess(25_000, table)).toBe(false);
    expect(wholeReadCostsLess(1_000, table)).toBe(false);
  });

  it('bills each key by its item size rounded up to 4 KB', () => {
    // 10-KB items: a key costs 3 units, the whole table 2,500 units.
    const table = { records: 1_000, bytes: 1_000 * 10 * KB };
    expect(wholeReadCostsLess(834, table)).toBe(true);
    expect(wholeReadCostsLess(833, table)).toBe(false);
  });

  it('never reads an empty or unknown table whole', () => {
    expect(wholeReadCostsLess(10, { records: 0, bytes: 0 })).toBe(false);
    expect(wholeReadCostsLess(10, undefined)).toBe(false);
  });

  it('counts a Scan by 4 KB of all it read, not per item, as the cost recorder does', () => {
    const item = { pk: { S: 'k' }, data: { S: 'x'.repeat(1000) } };
    const output = { Items: Array.from({ length: 40 }, () => item) };
    expect(dynamoUnits('Scan', {}, output)).toBe(0.5 * Math.ceil((40 * 1003) / (4 * KB)));
    expect(dynamoUnits('Scan', {}, output)).toBeLessThan(40 * 0.5);
  });
});

describe('budgeting the size sample by what reading the keys costs', () => {
  it('lets the sample spend what reading the keys one by one costs at the least, half a unit a key', () => {
    expect(sizeSampleBudget(0)).toBe(0);
    expect(sizeSampleBudget(1)).toBe(0.5);
    expect(sizeSampleBudget(10)).toBe(5);
  });

  it('never samples a 1,000-MB table for fewer keys than a thousandth of it costs to read', () => {
    // A thousandth of 1,000 MB is 1 MB: 256 units of 4 KB, half a unit each eventually consistent.
    const share = (1000 * 1024 * KB) / 1000;
    expect(sampleWithinBudget(share, sizeSampleBudget(255))).toBe(false);
    expect(sampleWithinBudget(share, sizeSampleBudget(256))).toBe(true);
  });

  it('counts an empty sample at its request’s half unit, so no key means no sample', () => {
    expect(sampleWithinBudget(0, sizeSampleBudget(0))).toBe(false);
    expect(sampleWithinBudget(0, sizeSampleBudget(1))).toBe(true);
  });
});

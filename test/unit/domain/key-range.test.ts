import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoFromDatabaseText } from '../../../shared/connectors/sql/table-source.ts';
import { canonicalIso } from '../../../shared/domain/instant.ts';
import {
  boundaryPositions,
  compareCodePoints,
  compareKeyTuples,
  inKeyRange,
  type KeyKind,
  type KeyRange,
  type KeyTuple,
  keyRangePartitions,
  parseKeyRange,
  rangesFromBoundaries,
} from '../../../shared/domain/key-range.ts';

const RUNS = { numRuns: 300 };

/** Plans as the sources do: the keys at the boundary positions of the sorted keys. */
function plan(keys: readonly KeyTuple[], parts: number, kinds?: readonly KeyKind[]): KeyRange[] {
  const sorted = [...keys].sort((a, b) => compareKeyTuples(a, b, kinds));
  return rangesFromBoundaries(
    boundaryPositions(sorted.length, parts).map((p) => sorted[p - 1] as KeyTuple),
    kinds,
  );
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
    const [before, after] = [ranges[i - 1]?.after ?? [], ranges[i]?.after as KeyTuple];
    expect(compareKeyTuples(before, after, ranges[i]?.kinds)).toBeLessThanOrEqual(i === 1 ? 0 : -1);
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

/** A key as the source reads it, with the value it stands for (which orders it) beside it. */
interface Valued {
  readonly value: bigint;
  readonly part: KeyTuple[number];
}

/** Numbers bunched near zero with rare ones far beyond 2^53 and the specials, printed at any scale. */
const decimalKey: fc.Arbitrary<Valued> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 20, arbitrary: fc.bigInt({ min: -500n, max: 500n }) },
          { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }) },
        ),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
      )
      .map(([mantissa, scale, padding, asNumber]) => {
        const digits = (mantissa < 0n ? -mantissa : mantissa).toString().padStart(scale + 1, '0');
        const fraction = digits.slice(digits.length - scale) + '0'.repeat(padding);
        const whole = digits.slice(0, digits.length - scale);
        const text = `${mantissa < 0n ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
        const exact = Number.isSafeInteger(Number(mantissa)) && String(Number(text)) !== 'NaN';
        return { value: mantissa * 10n ** BigInt(8 - scale), part: asNumber && exact ? Number(text) : text };
      }),
  },
  { weight: 1, arbitrary: fc.constant({ value: -(10n ** 60n), part: '-Infinity' }) },
  { weight: 1, arbitrary: fc.constant({ value: 10n ** 60n, part: 'Infinity' }) },
  { weight: 1, arbitrary: fc.constant({ value: 10n ** 60n + 1n, part: 'NaN' }) },
);

/** A double's place among all doubles as an integer: its bits, negatives flipped (-0 is 0). */
function doubleOrder(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x === 0 ? 0 : x);
  const bits = view.getBigUint64(0);
  return bits >> 63n ? -(bits & (2n ** 63n - 1n)) : bits;
}

/**
 * Doubles as PostgreSQL's double precision and MySQL's DOUBLE are read: numbers (bunched near
 * zero, some neighbours one ulp apart, tiny and huge ones printed with an exponent), or the
 * texts NaN and ±Infinity PostgreSQL reads, ordered as PostgreSQL orders them.
 */
const floatKey: fc.Arbitrary<Valued> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .oneof(
        { weight: 10, arbitrary: fc.double({ min: -1, max: 1, noNaN: true }) },
        { weight: 3, arbitrary: fc.constantFrom(0.1, 0.30000000000000004, 0.3, 1e-7, 1e21, -0, 5e-324) },
        { weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
      )
      .map((x) => ({ value: doubleOrder(x), part: x })),
  },
  { weight: 1, arbitrary: fc.constant({ value: -(2n ** 64n), part: '-Infinity' }) },
  { weight: 1, arbitrary: fc.constant({ value: 2n ** 64n, part: 'Infinity' }) },
  { weight: 1, arbitrary: fc.constant({ value: 2n ** 64n + 1n, part: 'NaN' }) },
);

/** Bytes as bytea and VARBINARY are read (base64), valued so that a prefix orders first. */
const bytesKey: fc.Arbitrary<Valued> = fc
  .uint8Array({ maxLength: 6 })
  .chain((bytes) => fc.constantFrom(bytes, Uint8Array.from([...bytes, 0]), Uint8Array.from([...bytes, 0xff])))
  .map((bytes) => ({
    value: Array.from({ length: 7 }, (_, i) =>
      BigInt(i < bytes.length ? (bytes[i] as number) + 1 : 0),
    ).reduce((sum, digit) => sum * 257n + digit, 0n),
    part: Buffer.from(bytes).toString('base64'),
  }));

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * timestamptz values 1900–2100, most within one second (microseconds apart), printed as PostgreSQL
 * prints them in a session of any time zone (fraction trimmed) and read as the source reads them.
 */
const timestampKey: fc.Arbitrary<Valued> = fc
  .tuple(
    fc.oneof(
      { weight: 10, arbitrary: fc.bigInt({ min: 1_767_225_600_000_000n, max: 1_767_225_601_000_000n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: -2_208_988_800_000_000n, max: 4_102_444_800_000_000n }) },
    ),
    fc.constantFrom(0, 60, 330, -480, -150),
  )
  .map(([micros, offsetMinutes]) => {
    const seconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
    const fraction = String(micros - seconds * 1_000_000n)
      .padStart(6, '0')
      .replace(/0+$/, '');
    const local = new Date(Number(seconds) * 1000 + offsetMinutes * 60_000).toISOString().slice(0, 19);
    const sign = offsetMinutes < 0 ? '-' : '+';
    const offset = `${sign}${pad(Math.trunc(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
    const printed = `${local.replace('T', ' ')}${fraction ? `.${fraction}` : ''}${offset}`;
    return { value: micros, part: isoFromDatabaseText(printed) };
  });

/** Dates from 4713 BC to past 9999, bunched in one month, as PostgreSQL prints them. */
const dateKey: fc.Arbitrary<Valued> = fc
  .tuple(
    fc.oneof(
      { weight: 10, arbitrary: fc.constant(2026) },
      { weight: 1, arbitrary: fc.integer({ min: -4712, max: 12_000 }) },
    ),
    fc.integer({ min: 1, max: 12 }),
    fc.integer({ min: 1, max: 28 }),
  )
  .map(([year, month, day]) => ({
    value: BigInt(year * 10_000 + month * 100 + day),
    part: `${year > 0 ? pad(year, 4) : pad(1 - year, 4)}-${pad(month)}-${pad(day)}${year > 0 ? '' : ' BC'}`,
  }));

/** Checks a plan over valued keys: the comparison orders them by value, and each range is a run of them. */
function assertValuedPlan(keys: readonly Valued[], parts: number, probes: readonly Valued[], kind: KeyKind) {
  const byValue = [...new Map(keys.map((k) => [k.value, k])).values()].sort((a, b) =>
    a.value < b.value ? -1 : a.value > b.value ? 1 : 0,
  );
  const tuples = byValue.map((k): KeyTuple => [k.part]);
  const kinds = [kind];
  expect([...tuples].sort((a, b) => compareKeyTuples(a, b, kinds))).toEqual(tuples);
  const ranges = plan(tuples, parts, kinds);
  assertCovers(
    ranges,
    tuples,
    probes.map((p) => [p.part]),
  );
  const rangeOf = tuples.map((t) => ranges.findIndex((r) => inKeyRange(t, r)));
  expect([...rangeOf].sort((a, b) => a - b)).toEqual(rangeOf);
  expect(new Set(rangeOf).size).toBe(Math.min(parts, tuples.length));
}

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

  for (const [kind, key] of [
    ['decimal', decimalKey],
    ['float', floatKey],
    ['timestamp', timestampKey],
    ['date', dateKey],
    ['bytes', bytesKey],
  ] as const)
    it(`cover the key space with no gap and no overlap for ${kind} keys, in the order of their values`, () => {
      fc.assert(
        fc.property(
          fc.array(key, { minLength: 1, maxLength: 300 }),
          fc.integer({ min: 1, max: 40 }),
          fc.array(key, { maxLength: 30 }),
          (keys, parts, probes) => assertValuedPlan(keys, parts, probes, kind),
        ),
        RUNS,
      );
    });

  it('covers composite keys of text and a timestamp, cut inside one tenant', () => {
    const at = (micros: number) => canonicalIso({ epochSeconds: 1_767_225_600, nanos: micros * 1000 });
    const keys: KeyTuple[] = ['acme', 'zeta'].flatMap((tenant) =>
      Array.from({ length: 50 }, (_, i) => [tenant, at(i * 100_000 + (i % 7))]),
    );
    const kinds: KeyKind[] = ['text', 'timestamp'];
    const ranges = plan(keys, 7, kinds);
    assertCovers(ranges, keys, [
      ['acme', at(999_999)],
      ['b', at(0)],
      ['zeta', '-infinity'],
    ]);
    expect(ranges.every((r) => r.kinds === kinds)).toBe(true);
    // ".5Z" is after ".100007Z" as a time, though before it as text.
    expect(compareKeyTuples(['acme', at(500_000)], ['acme', at(100_007)], kinds)).toBeGreaterThan(0);
  });

  it('compares equal values printed apart as one key, so a repeated boundary cuts once', () => {
    expect(compareKeyTuples(['1.5'], ['1.50'], ['decimal'])).toBe(0);
    expect(compareKeyTuples([1.5], ['1.5000'], ['decimal'])).toBe(0);
    expect(compareKeyTuples(['2026-01-01T00:00:00.000Z'], ['2026-01-01 00:00:00+00'], ['timestamp'])).toBe(0);
    const ranges = rangesFromBoundaries([['1.5'], ['1.50'], ['2']], ['decimal']);
    expect(ranges.map((r) => r.upTo)).toEqual([['1.5'], ['2'], null]);
    expect(ranges.filter((r) => inKeyRange(['1.500'], r))).toEqual([ranges[0]]);
  });

  it('orders decimals exactly beyond a double, with the specials where PostgreSQL puts them', () => {
    const kinds: KeyKind[] = ['decimal'];
    expect(compareKeyTuples(['9007199254740993.1'], ['9007199254740993'], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples(['0.30000000000000000001'], [0.3], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples(['10.5'], ['9'], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples(['1e+21'], ['999999999999999999999'], kinds)).toBeGreaterThan(0);
    const sorted = [['NaN'], ['Infinity'], ['1e30'], ['-1e30'], ['-Infinity']].sort((a, b) =>
      compareKeyTuples(a, b, kinds),
    );
    expect(sorted).toEqual([['-Infinity'], ['-1e30'], ['1e30'], ['Infinity'], ['NaN']]);
  });

  it('orders floats by value, not as printed, with NaN last as PostgreSQL puts it', () => {
    const kinds: KeyKind[] = ['float'];
    expect(compareKeyTuples([1e21], [999999999999999900000], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples(['1e-7'], [0.000001], kinds)).toBeLessThan(0);
    expect(compareKeyTuples([0.30000000000000004], ['0.3'], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples([-0], [0], kinds)).toBe(0);
    const sorted = [['NaN'], [1.7976931348623157e308], ['Infinity'], [-5e-324], ['-Infinity']].sort((a, b) =>
      compareKeyTuples(a, b, kinds),
    );
    expect(sorted).toEqual([['-Infinity'], [-5e-324], [1.7976931348623157e308], ['Infinity'], ['NaN']]);
  });

  it('orders bytes byte by byte, a prefix first, not as their base64 text', () => {
    const kinds: KeyKind[] = ['bytes'];
    const b64 = (...bytes: number[]) => Buffer.from(bytes).toString('base64');
    // base64 "/w==" (0xff) sorts before "AA==" (0x00) as text.
    expect(compareKeyTuples([b64(0xff)], [b64(0x00)], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples([b64(0x61)], [b64(0x61, 0x00)], kinds)).toBeLessThan(0);
    expect(compareKeyTuples([b64()], [b64(0)], kinds)).toBeLessThan(0);
    const ranges = rangesFromBoundaries([[b64(0x10)], [b64(0x80, 0x01)]], kinds);
    expect(ranges.findIndex((r) => inKeyRange([b64(0x80)], r))).toBe(1);
    expect(ranges.findIndex((r) => inKeyRange([b64(0xff)], r))).toBe(2);
  });

  it('orders bigint keys beyond 2^53 exactly, as numbers or text', () => {
    const kinds: KeyKind[] = ['integer'];
    expect(compareKeyTuples(['9007199254740993'], ['9007199254740992'], kinds)).toBeGreaterThan(0);
    expect(compareKeyTuples(['-9223372036854775808'], [-1], kinds)).toBeLessThan(0);
    expect(compareKeyTuples(['18446744073709551615'], ['9223372036854775807'], kinds)).toBeGreaterThan(0);
    const ranges = rangesFromBoundaries([['9007199254740993'], ['9007199254740995']], kinds);
    expect(ranges.findIndex((r) => inKeyRange(['9007199254740994'], r))).toBe(1);
  });

  it('orders timestamps and dates BC, past 9999 and at ±infinity as PostgreSQL does', () => {
    const timestamps = [
      ['infinity'],
      ['10000-01-01 00:00:00'],
      ['9999-12-31T23:59:59.999999Z'],
      ['0001-01-01T00:00:00.000Z'],
      ['0001-12-31 23:59:59+00 BC'],
      ['0044-03-15 12:00:00 BC'],
      ['-infinity'],
    ];
    expect([...timestamps].sort((a, b) => compareKeyTuples(a, b, ['timestamp']))).toEqual(
      [...timestamps].reverse(),
    );
    const dates = [
      ['infinity'],
      ['10000-01-01'],
      ['2026-02-01'],
      ['2026-01-31'],
      ['0001-01-01'],
      ['0001-01-01 BC'],
      ['0002-12-31 BC'],
      ['-infinity'],
    ];
    expect([...dates].sort((a, b) => compareKeyTuples(a, b, ['date']))).toEqual([...dates].reverse());
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
    const typed = keyRangePartitions(rangesFromBoundaries([['2026-01-01']], ['date']));
    expect(parseKeyRange(JSON.parse(JSON.stringify(typed[1])), 1, 'mysql source')).toEqual({
      after: ['2026-01-01'],
      upTo: null,
      kinds: ['date'],
    });
  });

  it('refuses a spec that is not a key range of the key width, naming the partition', () => {
    expect(() =>
      parseKeyRange({ id: 'hash-1-of-4', spec: { modulus: 4, index: 1 } }, 1, 'postgres source'),
    ).toThrow(/partition "hash-1-of-4" has a spec this source does not plan/);
    expect(() =>
      parseKeyRange({ id: 'r', spec: { range: { after: ['a'], upTo: null } } }, 2, 'mysql source'),
    ).toThrow(/a key range of 2 column\(s\) is expected/);
    expect(() =>
      parseKeyRange(
        { id: 'r', spec: { range: { after: ['a'], upTo: null, kinds: ['money'] } } },
        1,
        'mysql source',
      ),
    ).toThrow(/partition "r" has a spec this source does not plan/);
  });
});

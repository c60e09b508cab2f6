import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cursor } from '../../../shared/connectors/types.ts';
import {
  advanceCursor,
  compareCursorKeys,
  compareCursors,
  compareCursorValues,
  cursorFromRow,
  versionFromRow,
  windowStart,
} from '../../../shared/domain/cursor.ts';
import { compareKeyTuples } from '../../../shared/domain/key-range.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { compareVersions, positionVersion, timestampVersion } from '../../../shared/records/version.ts';

const cursor = (values: (string | number)[], key: string): Cursor => ({ values, key });

describe('compareCursorValues', () => {
  it('compares numbers numerically, not as text', () => {
    expect(compareCursorValues(9, 10)).toBeLessThan(0);
    expect(compareCursorValues(2.5, 2.25)).toBeGreaterThan(0);
  });

  it('compares digit strings as exact integers, beyond 2^53 too', () => {
    expect(compareCursorValues('9', '10')).toBeLessThan(0);
    expect(compareCursorValues('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
    expect(compareCursorValues('9007199254740993', 9007199254740992)).toBeGreaterThan(0);
  });

  it('compares ISO timestamps as instants, whatever their precision or offset', () => {
    expect(compareCursorValues('2024-01-01T00:00:00Z', '2024-01-01T00:00:00.000Z')).toBe(0);
    expect(compareCursorValues('2024-01-01T01:00:00+02:00', '2024-01-01T00:00:00Z')).toBeLessThan(0);
    expect(compareCursorValues('2024-01-01T00:00:00.000001Z', '2024-01-01T00:00:00Z')).toBeGreaterThan(0);
  });

  it('falls back to code-unit order for other strings', () => {
    expect(compareCursorValues('B', 'a')).toBeLessThan(0);
  });

  it('orders mixed kinds numbers first, then timestamps, then other text', () => {
    expect(compareCursorValues(10, '2024-01-01T00:00:00Z')).toBeLessThan(0);
    expect(compareCursorValues('2024-01-01T00:00:00Z', 'abc')).toBeLessThan(0);
  });
});

describe('compareCursorKeys', () => {
  it('orders integral key parts as integers and others as text, part by part', () => {
    expect(compareCursorKeys('9', '10')).toBeLessThan(0);
    expect(compareCursorKeys('a#10', 'a#9')).toBeGreaterThan(0);
    expect(compareCursorKeys('b#1', 'a#2')).toBeGreaterThan(0);
    expect(compareCursorKeys('a', 'a#1')).toBeLessThan(0);
  });

  it('orders text parts by code point, as COLLATE "C" and UTF-8 bytes do, beyond U+FFFF too', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (x, y) => {
        fc.pre(!x.includes('#') && !y.includes('#') && !(/^-?\d+$/.test(x) && /^-?\d+$/.test(y)));
        const bytes = Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(Math.sign(compareCursorKeys(x, y))).toBe(bytes);
      }),
    );
    expect(compareCursorKeys('\uFF01', '\u{1F600}')).toBeLessThan(0);
  });

  it('never takes two different keys for one: "09" and "9" are text', () => {
    expect(compareCursorKeys('09', '9')).toBeLessThan(0);
    expect(compareCursorKeys('9', '09')).toBeGreaterThan(0);
    expect(compareCursorKeys('-0', '0')).not.toBe(0);
  });

  it('agrees with the key-range order of the tuples a key is made of', () => {
    const part = fc.oneof(
      fc.integer({ min: -1000, max: 1000 }).map(String),
      fc.string({ unit: fc.constantFrom('a', 'B', ' ', '\t', 'é', '\uFF01', '\u{1F600}', '0') }),
    );
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 2, maxLength: 2 }),
        fc.array(part, { minLength: 2, maxLength: 2 }),
        (x, y) => {
          const tuple = (t: string[]) => t.map((p) => (/^(0|-?[1-9]\d*)$/.test(p) ? Number(p) : p));
          expect(Math.sign(compareCursorKeys(x.join('#'), y.join('#')))).toBe(
            Math.sign(compareKeyTuples(tuple(x), tuple(y))),
          );
        },
      ),
    );
  });
});

describe('compareCursors', () => {
  it('orders by values first, then by key', () => {
    const a = cursor(['2024-01-01T00:00:00Z'], '20');
    const b = cursor(['2024-01-01T00:00:00.000Z'], '3');
    const c = cursor(['2024-01-01T00:00:01Z'], '1');

    expect(compareCursors(b, a)).toBeLessThan(0);
    expect(compareCursors(a, c)).toBeLessThan(0);
  });

  it('is a total order: antisymmetric and transitive on generated cursors', () => {
    const value = fc.oneof(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 20 }).map(String),
      fc.double({ min: 0, max: 20, noNaN: true }),
      fc.integer({ min: 0, max: 5 }).map((s) => `2024-01-01T00:00:0${s}Z`),
      fc.integer({ min: 0, max: 5 }).map((s) => `2024-01-01T00:00:0${s}.000+00:00`),
      fc.constantFrom('a', 'B', '2024-13-01'),
    );
    const key = fc.integer({ min: 0, max: 20 }).map(String);
    const arb = fc.record({ values: fc.tuple(value), key });
    fc.assert(
      fc.property(arb, arb, arb, (a, b, c) => {
        expect(Math.sign(compareCursors(a, b)) + Math.sign(compareCursors(b, a))).toBe(0);
        if (compareCursors(a, b) <= 0 && compareCursors(b, c) <= 0)
          expect(compareCursors(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('advanceCursor', () => {
  it('starts from the first record when there is no checkpoint', () => {
    const record = cursor([5], '1');

    expect(advanceCursor(null, record)).toBe(record);
  });

  it('never moves backwards, whatever order records are seen in', () => {
    const arb = fc.array(
      fc.record({
        values: fc.tuple(fc.integer({ min: 0, max: 50 })),
        key: fc.integer({ min: 0, max: 50 }).map(String),
      }),
      { minLength: 1, maxLength: 30 },
    );
    fc.assert(
      fc.property(arb, (records) => {
        let checkpoint: Cursor | null = null;
        for (const record of records) {
          const next = advanceCursor(checkpoint, record);
          if (checkpoint !== null) expect(compareCursors(next, checkpoint)).toBeGreaterThanOrEqual(0);
          checkpoint = next;
        }
        const max = [...records].sort(compareCursors).at(-1);
        expect(checkpoint && max && compareCursors(checkpoint, max)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('windowStart', () => {
  it('moves a timestamp cursor back by the lookback and empties the key', () => {
    const checkpoint = cursor(['2024-01-01T00:05:00.123456Z'], '42');

    const start = windowStart(checkpoint, 600);

    expect(start).toEqual({ values: ['2023-12-31T23:55:00.123456Z'], key: '' });
  });

  it('keeps a moved cursor before every row at the moved-back instant', () => {
    const start = windowStart(cursor(['2024-01-01T00:10:00Z'], '9'), 600);
    const rowAtBoundary = cursor(['2024-01-01T00:00:00Z'], '1');

    expect(start && compareCursors(start, rowAtBoundary)).toBeLessThan(0);
  });

  it('leaves numeric cursors, null checkpoints and a zero lookback alone', () => {
    const numeric = cursor([12345], '7');
    const timestamp = cursor(['2024-01-01T00:00:00Z'], '7');

    expect(windowStart(numeric, 3600)).toBe(numeric);
    expect(windowStart(null, 3600)).toBeNull();
    expect(windowStart(timestamp, 0)).toBe(timestamp);
  });

  it('rejects a negative or fractional lookback', () => {
    expect(() => windowStart(null, -1)).toThrow(RangeError);
    expect(() => windowStart(null, 1.5)).toThrow(/non-negative integer, got 1.5/);
  });
});

describe('cursorFromRow', () => {
  it('turns dates into ISO strings and keeps exact bigints as digit strings', () => {
    const row = { updated_at: new Date('2024-01-01T00:00:00Z'), seq: 2n ** 63n - 1n, small: 5n };

    const result = cursorFromRow(row, ['updated_at', 'seq', 'small'], 'k');

    expect(result).toEqual({ values: ['2024-01-01T00:00:00.000Z', '9223372036854775807', 5], key: 'k' });
  });

  it('names the cursor field that is missing', () => {
    expect(() => cursorFromRow({}, ['updated_at'], 'k')).toThrow(
      /cursor field "updated_at" is missing or null/,
    );
  });
});

describe('versionFromRow', () => {
  it('builds a timestamp version with the key as tie-break', () => {
    const version = versionFromRow({ updated_at: '2024-05-01T12:00:00+02:00' }, ['updated_at'], 'user#1');

    expect(version).toBe(timestampVersion('2024-05-01T10:00:00.000Z', 'user#1'));
  });

  it('reads a Date cursor the same way as its ISO string', () => {
    const iso = '2024-05-01T10:00:00.250Z';

    expect(versionFromRow({ t: new Date(iso) }, ['t'], 'k')).toBe(versionFromRow({ t: iso }, ['t'], 'k'));
  });

  it('orders timestamp versions of one key like their timestamps, microseconds within a millisecond excepted', () => {
    const earlier = versionFromRow({ t: '2024-05-01T10:00:00.999Z' }, ['t'], 'k');
    const later = versionFromRow({ t: '2024-05-01T10:00:01.000Z' }, ['t'], 'k');

    expect(compareVersions(earlier, later)).toBeLessThan(0);
  });

  it('builds a position version from an integer cursor, with a second one as sub-position', () => {
    expect(versionFromRow({ lsn: 123 }, ['lsn'], 'k')).toBe(positionVersion(123));
    expect(versionFromRow({ lsn: '123', serial: 4n }, ['lsn', 'serial'], 'k')).toBe(positionVersion(123, 4));
  });

  it('puts later cursor fields before the key in a timestamp tie-break, sortably', () => {
    const a = versionFromRow({ t: '2024-05-01T10:00:00Z', rev: 9 }, ['t', 'rev'], 'k');
    const b = versionFromRow({ t: '2024-05-01T10:00:00Z', rev: 10 }, ['t', 'rev'], 'k');

    expect(compareVersions(a, b)).toBeLessThan(0);
  });

  it('uses the fallback when there is no cursor, and fails without one', () => {
    expect(versionFromRow({ a: 1 }, [], 'k', positionVersion(1))).toBe(positionVersion(1));
    expect(() => versionFromRow({ a: 1 }, [], 'k')).toThrow(ValidationError);
  });

  it.each([
    [{ t: null }, /is missing or null/],
    [{ t: -5 }, /neither a timestamp nor a non-negative integer/],
    [{ t: 'v1.2' }, /neither a timestamp nor a non-negative integer/],
    [{ t: '123456789012345678901' }, /at most 20 digits/],
  ])('rejects an unusable cursor value %j, naming the field', (row, message) => {
    expect(() => versionFromRow(row, ['t'], 'k')).toThrow(message);
    expect(() => versionFromRow(row, ['t'], 'k')).toThrow(/cursor field "t"/);
  });
});

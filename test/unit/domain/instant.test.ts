import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addSeconds,
  compareInstants,
  formatInstant,
  parseIsoInstant,
  toInstant,
} from '../../../shared/domain/instant.ts';
import { ExactNumber } from '../../../shared/records/exact-json.ts';

describe('parseIsoInstant', () => {
  it('agrees with Date for millisecond timestamps', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (date) => {
          const instant = parseIsoInstant(date.toISOString());

          expect(instant).toBeDefined();
          expect((instant?.epochSeconds ?? 0) * 1000 + (instant?.nanos ?? 0) / 1e6).toBe(date.getTime());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps microseconds and nanoseconds that Date would lose', () => {
    const a = parseIsoInstant('2024-05-01T10:20:30.123456Z');
    const b = parseIsoInstant('2024-05-01T10:20:30.123457Z');

    expect(a?.nanos).toBe(123_456_000);
    expect(a && b && compareInstants(a, b)).toBe(-1);
  });

  it('applies offsets and reads a missing offset as UTC', () => {
    const withOffset = parseIsoInstant('2024-05-01T12:20:30+02:00');
    const compact = parseIsoInstant('2024-05-01T12:20:30+0200');
    const utc = parseIsoInstant('2024-05-01T10:20:30');

    expect(withOffset).toEqual(utc);
    expect(compact).toEqual(utc);
  });

  it('reads years before 100 without shifting them to the 1900s', () => {
    expect(parseIsoInstant('0050-03-01T00:00:00Z')?.epochSeconds).toBe(
      Date.UTC(2050, 2, 1) / 1000 - 2000 * 31_556_952,
    );
  });

  it.each([
    '2023-02-29',
    '2024-13-01',
    '2024-04-31',
    '2024-01-01T24:00:00Z',
    '2024-01-01T10:60',
    'soon',
    '2024-1-1',
  ])('rejects %s', (text) => {
    expect(parseIsoInstant(text)).toBeUndefined();
  });
});

describe('formatInstant', () => {
  it('round-trips a microsecond timestamp moved by whole seconds', () => {
    const instant = parseIsoInstant('2024-01-01T00:00:05.123456Z');

    const text = instant && formatInstant(addSeconds(instant, -10), 6);

    expect(text).toBe('2023-12-31T23:59:55.123456Z');
  });
});

describe('toInstant', () => {
  it('reads numbers as epoch milliseconds, microseconds or nanoseconds by magnitude, only when asked', () => {
    expect(toInstant(1000)).toBeUndefined();
    expect(toInstant(1500, true)).toEqual({ epochSeconds: 1, nanos: 500_000_000 });
    expect(toInstant(1_700_000_000_123_456, true)).toEqual({
      epochSeconds: 1_700_000_000,
      nanos: 123_456_000,
    });
    expect(toInstant(new ExactNumber('1700000000123456789'), true)).toEqual({
      epochSeconds: 1_700_000_000,
      nanos: 123_456_789,
    });
    expect(toInstant(-1_500, true)).toEqual({ epochSeconds: -2, nanos: 500_000_000 });
  });
});

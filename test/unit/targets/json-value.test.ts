import { describe, expect, it } from 'vitest';
import { toJsonRecord } from '../../../shared/connectors/targets/support/json-value.ts';
import { ExactNumber, stringifyExactJson } from '../../../shared/records/exact-json.ts';

describe('toJsonRecord', () => {
  it('keeps exact numbers and turns big integers into exact numbers', () => {
    const big = new ExactNumber('123456789012345678901234567890.5');

    const data = toJsonRecord({ big, n: 2n ** 64n, small: 7n, nested: { list: [big] } });

    expect(stringifyExactJson(data)).toBe(
      '{"big":123456789012345678901234567890.5,"n":18446744073709551616,"small":7,"nested":{"list":[123456789012345678901234567890.5]}}',
    );
  });

  it('writes NaN and the infinities as the strings of the canonical form', () => {
    const data = toJsonRecord({ a: Number.NaN, b: Number.POSITIVE_INFINITY, c: [Number.NEGATIVE_INFINITY] });

    expect(data).toEqual({ a: 'NaN', b: 'Infinity', c: ['-Infinity'] });
  });

  it('writes dates as ISO-8601 and drops undefined members', () => {
    expect(toJsonRecord({ at: new Date('2024-01-02T03:04:05.006Z'), gone: undefined })).toEqual({
      at: '2024-01-02T03:04:05.006Z',
    });
  });
});

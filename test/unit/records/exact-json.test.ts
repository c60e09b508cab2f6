import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ExactNumber,
  exactNumber,
  isExactNumber,
  parseExactJson,
  stringifyExactJson,
} from '../../../shared/records/exact-json.ts';
import { canonicalJson } from '../../../shared/records/hash.ts';

describe('exact JSON', () => {
  it('keeps integers beyond 2^53 and long decimals as their literal', () => {
    const text = '{"a":9007199254740993,"b":12345678901234567890.123456789,"c":[1e400,-0.1]}';

    const value = parseExactJson(text) as { a: unknown; b: unknown; c: unknown[] };

    expect(isExactNumber(value.a)).toBe(true);
    expect(String(value.a)).toBe('9007199254740993');
    expect(String(value.b)).toBe('12345678901234567890.123456789');
    expect(String(value.c[0])).toBe('1e400');
    expect(value.c[1]).toBe(-0.1);
    expect(stringifyExactJson(value)).toBe(text);
  });

  it('parses numbers a double holds exactly as plain numbers', () => {
    const value = parseExactJson('{"n":123456789012345,"x":0.1,"s":"9007199254740993"}');

    expect(value).toEqual({ n: 123456789012345, x: 0.1, s: '9007199254740993' });
  });

  it('decides per literal whether a number is exact', () => {
    expect(exactNumber('42')).toBe(42);
    expect(exactNumber('1.5')).toBe(1.5);
    expect(exactNumber('99999999999999999999999999999999999999')).toBeInstanceOf(ExactNumber);
  });

  it('never rewrites a string that looks like its own marker', () => {
    const value = { s: '\u0000exact-guess:1\u0000', n: new ExactNumber('18446744073709551615') };

    const json = stringifyExactJson(value);

    expect(parseExactJson(json)).toEqual({ s: value.s, n: new ExactNumber('18446744073709551615') });
    expect(json).toContain('"n":18446744073709551615');
  });

  it('throws a SyntaxError on malformed text on both paths', () => {
    expect(() => parseExactJson('{"a":')).toThrow(SyntaxError);
    expect(() => parseExactJson('{"a":12345678901234567890')).toThrow(SyntaxError);
  });

  it('parses every number exactly wherever it stands, long digit runs in strings too', () => {
    const literal = fc
      .tuple(fc.stringMatching(/^-?[1-9][0-9]{15,40}$/), fc.option(fc.stringMatching(/^[0-9]{1,20}$/)))
      .map(([whole, fraction]) => new ExactNumber(fraction === null ? whole : `${whole}.${fraction}`));
    const leaf = fc.oneof(
      literal,
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string(),
      fc.stringMatching(/^p:[0-9]{20}$/),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('tree')),
        fc.dictionary(fc.string(), tie('tree')),
      ),
    }));
    fc.assert(
      fc.property(tree, (value) => {
        const text = stringifyExactJson(value);

        expect(canonicalJson(parseExactJson(text))).toBe(canonicalJson(value));
      }),
      { numRuns: 500 },
    );
  });

  it('takes position versions and other digit runs inside strings as text', () => {
    const value = parseExactJson('{"version":"p:00000000000000000012","list":["1234567890123456789"]}');

    expect(value).toEqual({ version: 'p:00000000000000000012', list: ['1234567890123456789'] });
  });
});

import { createHash } from 'node:crypto';
import Big from 'big.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExactNumber, exactNumber } from '../../../shared/records/exact-json.ts';
import { canonicalJson, contentHash } from '../../../shared/records/hash.ts';

/** The first, straightforward implementation: the optimized one must give the same bytes. */
function referenceCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    return JSON.stringify(value) ?? 'null';
  }
  if (value instanceof Date) return JSON.stringify(value);
  if (value instanceof ExactNumber) {
    const double = Number(value.value);
    return Number.isFinite(double) && new Big(double).eq(new Big(value.value))
      ? String(double)
      : new Big(value.value).toString();
  }
  if (Array.isArray(value)) return `[${value.map((v) => referenceCanonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceCanonicalJson(obj[k])}`).join(',')}}`;
}

function referenceContentHash(data: unknown): string {
  return createHash('sha256')
    .update(referenceCanonicalJson(data))
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/** Number literals of every shape: long integers and decimals, exponents, trailing zeros, signs. */
const numberLiterals = fc
  .tuple(
    fc.constantFrom('', '-'),
    fc.stringMatching(/^(0|[1-9][0-9]{0,40})$/),
    fc.option(fc.stringMatching(/^[0-9]{1,30}$/), { nil: undefined }),
    fc.option(fc.integer({ min: -400, max: 400 }), { nil: undefined }),
  )
  .map(
    ([sign, whole, fraction, exponent]) =>
      `${sign}${whole}${fraction === undefined ? '' : `.${fraction}`}${exponent === undefined ? '' : `e${exponent}`}`,
  );
const exactNumbers = numberLiterals.map((literal) => new ExactNumber(literal));

const values = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(fc.string(), fc.oneof(exactNumbers, fc.double({ noNaN: true }))),
  fc.anything({
    withBigInt: true,
    withDate: true,
    withNullPrototype: true,
    withSparseArray: true,
    withBoxedValues: true,
    withObjectString: true,
  }),
  fc.dictionary(
    fc.string({ unit: 'binary' }),
    fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.constant(undefined)),
  ),
);

describe('canonicalJson', () => {
  it('gives the same bytes as the reference implementation for any value', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(canonicalJson(value)).toBe(referenceCanonicalJson(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts keys whatever order they arrive in, for records of one shape and of many', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: undefined }], c: 'x' }, c: null };
    const b = { c: null, a: { c: 'x', d: [1, { z: 1 }] }, b: 1 };

    const texts = [canonicalJson(a), canonicalJson(b), canonicalJson(a)];

    expect(texts).toEqual(Array(3).fill('{"a":{"c":"x","d":[1,{"z":1}]},"b":1,"c":null}'));
  });

  it('sorts objects with more keys than the insertion sort handles', () => {
    const wide = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${(i * 7) % 40}`, i]));

    expect(canonicalJson(wide)).toBe(referenceCanonicalJson(wide));
  });
});

describe('canonicalJson of exact numbers', () => {
  it('writes an exact number as the text of the equal double when a double holds it', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(canonicalJson({ n: new ExactNumber(String(n)) })).toBe(canonicalJson({ n }));
      }),
    );
    expect(canonicalJson([new ExactNumber('1.50'), new ExactNumber('1.5e2')])).toBe('[1.5,150]');
  });

  it('gives one text per value whatever literal carries it', () => {
    fc.assert(
      fc.property(numberLiterals, (literal) => {
        const reshaped = new Big(literal).toExponential();

        expect(canonicalJson(new ExactNumber(reshaped))).toBe(canonicalJson(new ExactNumber(literal)));
      }),
    );
  });

  it('keeps every digit of values a double would round', () => {
    expect(
      canonicalJson({ a: exactNumber('9007199254740993'), b: exactNumber('1.2345678901234567890') }),
    ).toBe('{"a":9007199254740993,"b":1.234567890123456789}');
    expect(contentHash({ a: exactNumber('9007199254740993') })).not.toBe(
      contentHash({ a: 9007199254740992 }),
    );
  });
});

describe('contentHash', () => {
  it('is the first 128 bits of SHA-256 over canonical JSON, in base64url, for any value', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(contentHash(value)).toBe(referenceContentHash(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a known record hash stable', () => {
    const hash = contentHash({ id: 1, email: 'a@example.com', tags: ['x', 'y'] });

    expect(hash).toBe(referenceContentHash({ tags: ['x', 'y'], email: 'a@example.com', id: 1 }));
    expect(hash).toHaveLength(22);
  });
});

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createMaskHasher,
  createTransform,
  MASK_HASH_LENGTH,
  maskedFields,
  REDACTED,
  redactForLog,
} from '../../../shared/domain/transform.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

const options = { hashKey: 'test-key' };

function hmacHex(key: string, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex').slice(0, MASK_HASH_LENGTH);
}

describe('createTransform', () => {
  it('fills defaults for missing and null fields only', () => {
    const transform = createTransform({ defaults: { country: 'FR', tier: 'basic', score: 0 } }, options);

    const out = transform({ country: null, tier: 'gold' });

    expect(out).toEqual({ country: 'FR', tier: 'gold', score: 0 });
  });

  it('copies object defaults so records never share them', () => {
    const transform = createTransform({ defaults: { tags: [] } }, options);

    const a = transform({});
    const b = transform({});
    (a.tags as string[]).push('x');

    expect(b.tags).toEqual([]);
  });

  it('renames fields all at once, so two renames can swap names', () => {
    const transform = createTransform({ rename: { first: 'last', last: 'first', id: 'user_id' } }, options);

    const out = transform({ first: 'Ada', last: 'Lovelace', id: 1 });

    expect(out).toEqual({ first: 'Lovelace', last: 'Ada', user_id: 1 });
  });

  it('lets a renamed field replace one already bearing the new name, and ignores absent sources', () => {
    const transform = createTransform({ rename: { a: 'b', missing: 'c' } }, options);

    expect(transform({ a: 1, b: 2 })).toEqual({ b: 1 });
    expect(transform({ b: 2 })).toEqual({ b: 2 });
  });

  it('masks by keyed HMAC-SHA256, deterministic for the same key and different for another', () => {
    const transform = createTransform({ mask: { email: 'hash' } }, options);
    const other = createTransform({ mask: { email: 'hash' } }, { hashKey: 'other-key' });

    const first = transform({ email: 'ada@example.org' });
    const again = transform({ email: 'ada@example.org' });
    const elsewhere = other({ email: 'ada@example.org' });

    expect(first.email).toBe(hmacHex('test-key', 'ada@example.org'));
    expect(again.email).toBe(first.email);
    expect(elsewhere.email).not.toBe(first.email);
    expect(first.email).toMatch(/^[0-9a-f]{32}$/);
  });

  it('hashes non-string values by their canonical JSON, so key order does not matter', () => {
    const hash = createMaskHasher('k');

    expect(hash({ b: 1, a: 2 })).toBe(hash({ a: 2, b: 1 }));
    expect(hash(12)).toBe(hmacHex('k', '12'));
    expect(hash(12)).not.toBe(hash('12 '));
  });

  it('agrees with node:crypto HMAC for any key and text, long keys included', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string(), (key, text) => {
        expect(createMaskHasher(key)(text)).toBe(hmacHex(key, text));
      }),
      { numRuns: 200 },
    );
  });

  it('redacts masked values but leaves null and absent fields alone', () => {
    const transform = createTransform({ mask: { ssn: 'redact', phone: 'redact', note: 'hash' } }, options);

    const out = transform({ ssn: '123-45-6789', phone: null });

    expect(out).toEqual({ ssn: REDACTED, phone: null });
  });

  it('applies defaults, rename, mask and drop in that order', () => {
    const transform = createTransform(
      {
        defaults: { mail: 'unknown@example.org' },
        rename: { mail: 'email' },
        mask: { email: 'hash' },
        drop: ['internal'],
      },
      options,
    );

    const out = transform({ id: 1, internal: 'x' });

    expect(out).toEqual({ id: 1, email: hmacHex('test-key', 'unknown@example.org') });
  });

  it('never modifies its input', () => {
    const transform = createTransform(
      { defaults: { a: 1 }, rename: { b: 'c' }, mask: { c: 'redact' }, drop: ['d'] },
      options,
    );
    const input = { b: 'secret', d: 4, nested: { x: 1 } };
    const snapshot = structuredClone(input);

    const out = transform(input);

    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
  });

  it('returns a copy even when the transform is empty', () => {
    const transform = createTransform({}, options);
    const input = { a: 1 };

    const out = transform(input);

    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });

  it('accepts a config parsed by the pipeline schema', () => {
    const parsed = pipelineSchema.in.shape.transform.parse({ drop: ['x'] });

    expect(createTransform(parsed, options)({ x: 1, y: 2 })).toEqual({ y: 2 });
  });

  describe('configuration errors', () => {
    it('rejects a mask naming a field by its pre-rename name, which would leak it', () => {
      expect(() => createTransform({ rename: { ssn: 'social' }, mask: { ssn: 'hash' } }, options)).toThrow(
        /mask: "ssn" is renamed to "social" first/,
      );
    });

    it('rejects a drop naming a field by its pre-rename name', () => {
      expect(() => createTransform({ rename: { a: 'b' }, drop: ['a'] }, options)).toThrow(ConfigError);
    });

    it('rejects two renames to the same name', () => {
      expect(() => createTransform({ rename: { a: 'x', b: 'x' } }, options)).toThrow(
        /"a" and "b" are both renamed to "x"/,
      );
    });

    it('rejects a hash mask without a key', () => {
      expect(() => createTransform({ mask: { email: 'hash' } }, { hashKey: '' })).toThrow(ConfigError);
      expect(() => createTransform({ mask: { email: 'redact' } }, { hashKey: '' })).not.toThrow();
    });
  });
});

describe('maskedFields', () => {
  it('lists masked fields under their loaded and their source names, sorted', () => {
    const fields = maskedFields({
      rename: { mail: 'email', id: 'user_id' },
      mask: { email: 'hash', ssn: 'redact' },
    });

    expect(fields).toEqual(['email', 'mail', 'ssn']);
  });
});

describe('redactForLog', () => {
  it('hides masked fields in raw and in transformed data alike', () => {
    const config = { rename: { mail: 'email' }, mask: { email: 'hash' as const } };

    const raw = redactForLog({ id: 1, mail: 'ada@example.org' }, config);
    const loaded = redactForLog({ id: 1, email: 'abc' }, config);

    expect(raw).toEqual({ id: 1, mail: REDACTED });
    expect(loaded).toEqual({ id: 1, email: REDACTED });
  });
});

describe('createTransform against a step-by-step reference', () => {
  const field = fc.constantFrom('a', 'b', 'c', 'd');
  const value = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y'), fc.constant(null));
  const config = fc.record({
    defaults: fc.dictionary(field, value, { maxKeys: 2 }),
    rename: fc.dictionary(field, field, { maxKeys: 2 }),
    mask: fc.dictionary(field, fc.constantFrom('hash' as const, 'redact' as const), { maxKeys: 2 }),
    drop: fc.uniqueArray(field, { maxLength: 2 }),
  });
  const data = fc.dictionary(field, value, { maxKeys: 4 });

  interface ReferenceConfig {
    defaults: Record<string, unknown>;
    rename: Record<string, string>;
    mask: Record<string, 'hash' | 'redact'>;
    drop: string[];
  }

  /** The documented order, written the slow and obvious way. */
  function reference(c: ReferenceConfig, input: Record<string, unknown>): Record<string, unknown> {
    const hash = createMaskHasher(options.hashKey);
    const withDefaults = { ...input };
    for (const [f, v] of Object.entries(c.defaults))
      if (withDefaults[f] === undefined || withDefaults[f] === null) withDefaults[f] = v;
    const renamed: Record<string, unknown> = {};
    for (const [f, v] of Object.entries(withDefaults)) if (!Object.hasOwn(c.rename, f)) renamed[f] = v;
    for (const [from, to] of Object.entries(c.rename))
      if (Object.hasOwn(withDefaults, from)) renamed[to] = withDefaults[from];
    for (const [f, how] of Object.entries(c.mask))
      if (renamed[f] !== undefined && renamed[f] !== null)
        renamed[f] = how === 'redact' ? REDACTED : hash(renamed[f]);
    for (const f of c.drop) delete renamed[f];
    return renamed;
  }

  it('gives the same result as applying defaults, rename, mask and drop one after the other', () => {
    fc.assert(
      fc.property(config, data, (c, input) => {
        let transform: ReturnType<typeof createTransform>;
        try {
          transform = createTransform(c, options);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          return;
        }

        const out = transform(input);

        expect(out).toEqual(reference(c, input));
      }),
      { numRuns: 300 },
    );
  });
});

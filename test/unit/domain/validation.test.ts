import { describe, expect, it } from 'vitest';
import {
  CustomValidatorRegistry,
  createValidator,
  type FieldRuleInput,
} from '../../../shared/domain/validation.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { exactNumber } from '../../../shared/records/exact-json.ts';

describe('createValidator', () => {
  it('takes exact numbers as numbers, integers and values in range, to the last digit', () => {
    // Prepare
    const validate = createValidator([
      { field: 'big', type: 'integer', range: { min: 0, max: 1e19 } },
      { field: 'price', type: 'number', range: { max: 1e30 } },
    ]);

    // Act
    const fitting = validate({
      big: exactNumber('9223372036854775807'),
      price: exactNumber('0.12345678901234567890'),
    });
    const outside = validate({
      big: exactNumber('10000000000000000001'),
      price: exactNumber('1000000000000000000000000000000.1'),
    });
    const fraction = validate({ big: exactNumber('9007199254740993.5'), price: 1 });

    // Assess
    expect(fitting).toEqual([]);
    expect(outside.map((r) => `${r.field}:${r.rule}`)).toEqual(['big:range', 'price:range']);
    expect(fraction.map((r) => `${r.field}:${r.rule}`)).toEqual(['big:type']);
  });

  it('accepts a record that satisfies every rule', () => {
    // Prepare
    const validate = createValidator([
      { field: 'id', required: true, type: 'integer', range: { min: 1 } },
      { field: 'email', type: 'string', custom: 'email' },
      { field: 'status', enum: ['active', 'closed'] },
    ]);

    // Act
    const reasons = validate({ id: 7, email: 'ada@example.org', status: 'active' });

    // Assess
    expect(reasons).toEqual([]);
  });

  it('returns every reason a record fails, not only the first', () => {
    const validate = createValidator([
      { field: 'id', required: true },
      { field: 'age', type: 'integer', range: { min: 0, max: 150 } },
      { field: 'code', format: '^[A-Z]{3}$' },
      { field: 'status', enum: ['active', 'closed'] },
      { field: 'country', custom: 'iso-country' },
    ]);

    const reasons = validate({ age: 200, code: 'abc', status: 'gone', country: 'XX' });

    expect(reasons.map((r) => [r.field, r.rule])).toEqual([
      ['id', 'required'],
      ['age', 'range'],
      ['code', 'format'],
      ['status', 'enum'],
      ['country', 'custom'],
    ]);
  });

  it('treats null as missing for required and skips other checks of an absent optional field', () => {
    const validate = createValidator([
      { field: 'name', required: true, type: 'string' },
      { field: 'nickname', type: 'string', format: '^x', custom: 'email' },
    ]);

    const reasons = validate({ name: null });

    expect(reasons).toEqual([{ field: 'name', rule: 'required', message: 'is required' }]);
  });

  it('reads dotted paths into nested objects and arrays', () => {
    const validate = createValidator([
      { field: 'address.city', required: true, type: 'string' },
      { field: 'items.0.qty', type: 'integer', range: { min: 1 } },
    ]);

    const ok = validate({ address: { city: 'Lyon' }, items: [{ qty: 2 }] });
    const bad = validate({ address: {}, items: [{ qty: 0 }] });

    expect(ok).toEqual([]);
    expect(bad.map((r) => `${r.field}:${r.rule}`)).toEqual(['address.city:required', 'items.0.qty:range']);
  });

  it('prefers a top-level field whose name contains a dot over the nested reading', () => {
    const validate = createValidator([{ field: 'a.b', type: 'number' }]);

    const reasons = validate({ 'a.b': 1, a: { b: 'nested' } });

    expect(reasons).toEqual([]);
  });

  it('never reads inherited properties such as constructor', () => {
    const validate = createValidator([{ field: 'constructor', required: true }]);

    expect(validate({})).toEqual([{ field: 'constructor', rule: 'required', message: 'is required' }]);
  });

  describe('type', () => {
    const cases: [NonNullable<FieldRuleInput['type']>, unknown[], unknown[]][] = [
      ['string', ['', 'x'], [1, true, {}, []]],
      ['number', [0, -1.5, 10n], [Number.NaN, Number.POSITIVE_INFINITY, '1', true]],
      ['integer', [0, -3, 2n ** 70n], [1.5, '2', Number.NaN]],
      ['boolean', [true, false], [0, 'true']],
      ['object', [{}, { a: 1 }], [[], new Date(0), 'x', 1]],
      ['array', [[], [1]], [{}, 'x']],
      [
        'timestamp',
        [
          '2024-05-01',
          '2024-05-01T10:20:30Z',
          '2024-05-01T10:20:30.123456+02:00',
          '2024-05-01 10:20:30',
          new Date(0),
        ],
        ['2024-02-30', '2024-05-01T25:00:00Z', 'yesterday', 1714556430000, new Date(Number.NaN)],
      ],
    ];

    it.each(cases)('checks %s values', (type, good, bad) => {
      const validate = createValidator([{ field: 'v', type }]);

      const goodReasons = good.map((v) => validate({ v }));
      const badReasons = bad.map((v) => validate({ v }));

      expect(goodReasons.every((r) => r.length === 0)).toBe(true);
      for (const reasons of badReasons) expect(reasons.map((r) => r.rule)).toEqual(['type']);
    });

    it('names the expected type and the kind of value found, never the value', () => {
      const validate = createValidator([{ field: 'ssn', type: 'integer' }]);

      const [reason] = validate({ ssn: '123-45-6789' });

      expect(reason?.message).toBe('expected an integer, got string');
      expect(reason?.message).not.toContain('123');
    });

    it('skips format and range when the type is wrong, but still checks enum', () => {
      const validate = createValidator([
        { field: 'v', type: 'string', format: '^a', range: { max: 2 }, enum: ['a'] },
      ]);

      const reasons = validate({ v: 12345 });

      expect(reasons.map((r) => r.rule)).toEqual(['type', 'enum']);
    });
  });

  describe('range', () => {
    it('bounds numbers inclusively', () => {
      const validate = createValidator([{ field: 'n', range: { min: 1, max: 3 } }]);

      const results = [0, 1, 3, 4, 2n, 9n].map((n) => validate({ n }).length);

      expect(results).toEqual([1, 0, 0, 1, 0, 1]);
    });

    it('bounds the length of strings in characters, counting an emoji as one', () => {
      const validate = createValidator([{ field: 's', range: { min: 2, max: 3 } }]);

      const results = ['a', 'ab', 'abc', 'abcd', '😀😀', '😀😀😀😀'].map((s) => validate({ s }).length);

      expect(results).toEqual([1, 0, 0, 1, 0, 1]);
      expect(validate({ s: 'abcd' })[0]?.message).toBe('length must be between 2 and 3 characters');
    });

    it('rejects values that are neither numbers nor strings', () => {
      const validate = createValidator([{ field: 'v', range: { min: 0 } }]);

      const reasons = validate({ v: [1, 2] });

      expect(reasons).toEqual([
        { field: 'v', rule: 'range', message: 'expected a number or a string, got array' },
      ]);
    });
  });

  describe('format', () => {
    it('matches strings against the regular expression and rejects other kinds', () => {
      const validate = createValidator([{ field: 'zip', format: '^\\d{5}$' }]);

      expect(validate({ zip: '75001' })).toEqual([]);
      expect(validate({ zip: '7500' }).map((r) => r.rule)).toEqual(['format']);
      expect(validate({ zip: 75001 })[0]?.message).toContain('expected a string');
    });

    it('fails at creation when a format does not compile, naming the rule', () => {
      expect(() => createValidator([{ field: 'a' }, { field: 'b', format: '(' }])).toThrow(
        /validation\[1\] \(b\): format does not compile/,
      );
    });
  });

  describe('enum', () => {
    it('compares strictly, so the number 1 is not the string "1"', () => {
      const validate = createValidator([{ field: 'v', enum: ['1', true] }]);

      expect(validate({ v: '1' })).toEqual([]);
      expect(validate({ v: true })).toEqual([]);
      expect(validate({ v: 1 })).toEqual([{ field: 'v', rule: 'enum', message: 'must be one of "1", true' }]);
    });
  });

  describe('custom validators', () => {
    it('provides email, iso-country and uuid built in', () => {
      const validate = createValidator([
        { field: 'email', custom: 'email' },
        { field: 'country', custom: 'iso-country' },
        { field: 'id', custom: 'uuid' },
      ]);

      const good = validate({
        email: 'a.b+c@mail.example.com',
        country: 'FR',
        id: '3F2504E0-4F89-41D3-9A0C-0305E82C3301',
      });
      const bad = validate({ email: 'a@b', country: 'fr', id: '3f2504e0-4f89-41d3-9a0c' });

      expect(good).toEqual([]);
      expect(bad.map((r) => `${r.field}:${r.rule}`)).toEqual(['email:custom', 'country:custom', 'id:custom']);
      expect(bad[0]?.message).toBe('email: is not an email address');
    });

    it('runs a registered validator with the value and the whole record', () => {
      const registry = new CustomValidatorRegistry().registerValidator('ends-after-start', (value, record) =>
        typeof value === 'number' && typeof record.start === 'number' && value > record.start
          ? undefined
          : 'must be after start',
      );
      const validate = createValidator([{ field: 'end', custom: 'ends-after-start' }], registry);

      expect(validate({ start: 1, end: 2 })).toEqual([]);
      expect(validate({ start: 3, end: 2 })).toEqual([
        { field: 'end', rule: 'custom', message: 'ends-after-start: must be after start' },
      ]);
    });

    it('turns a validator that throws into a reason instead of failing the batch', () => {
      const registry = new CustomValidatorRegistry().registerValidator('boom', () => {
        throw new TypeError('bad input');
      });
      const validate = createValidator([{ field: 'v', custom: 'boom' }], registry);

      const reasons = validate({ v: 1 });

      expect(reasons).toEqual([
        { field: 'v', rule: 'custom', message: 'boom: validator threw TypeError: bad input' },
      ]);
    });

    it('fails at creation, not per record, when a rule names an unknown validator', () => {
      const create = () => createValidator([{ field: 'v', custom: 'no-such' }]);

      expect(create).toThrow(ConfigError);
      expect(create).toThrow(/unknown custom validator "no-such"; registered: email, iso-country, uuid/);
    });

    it('refuses to register a name twice, built-ins included', () => {
      const registry = new CustomValidatorRegistry();

      expect(() => registry.registerValidator('email', () => undefined)).toThrow(ConfigError);
      expect(() => registry.registerValidator(' ', () => undefined)).toThrow(ConfigError);
    });

    it('keeps registries independent of each other', () => {
      const one = new CustomValidatorRegistry().registerValidator('local', () => undefined);
      const two = new CustomValidatorRegistry();

      expect(one.names()).toContain('local');
      expect(two.names()).not.toContain('local');
    });
  });

  it('accepts rules parsed by the pipeline schema', () => {
    const parsed = pipelineSchema.in.shape.validation.parse([
      { field: 'id', required: true, type: 'integer' },
    ]);
    const validate = createValidator(parsed);

    expect(validate({ id: 'x' }).map((r) => r.rule)).toEqual(['type']);
  });

  // How fast: `npm run bench` (cpu.stepMicros.validate), not a timed test that a busy machine fails.
  it('finds nothing wrong in a valid record however often one validator checks it (100k times)', () => {
    const validate = createValidator([
      { field: 'id', required: true, type: 'integer', range: { min: 1 } },
      { field: 'email', required: true, type: 'string', custom: 'email' },
      { field: 'name', type: 'string', range: { max: 100 } },
      { field: 'status', enum: ['active', 'closed'] },
      { field: 'updated_at', required: true, type: 'timestamp' },
      { field: 'address.country', custom: 'iso-country' },
    ]);
    const record = {
      id: 42,
      email: 'someone@example.com',
      name: 'Someone',
      status: 'active',
      updated_at: '2024-05-01T10:20:30.123Z',
      address: { country: 'DE' },
    };

    let invalid = 0;
    for (let i = 0; i < 100_000; i++) invalid += validate(record).length;

    expect(invalid).toBe(0);
  });
});

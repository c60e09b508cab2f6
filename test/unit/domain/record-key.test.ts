import { describe, expect, it } from 'vitest';
import { createRecordKeyOf, keysOfPage, recordKeyOf } from '../../../shared/domain/record-key.ts';
import { ExactNumber } from '../../../shared/records/exact-json.ts';

describe('createRecordKeyOf', () => {
  it('joins the key fields with # when there is no key expression, without a promise', () => {
    const keyOf = createRecordKeyOf({ key: ['tenant', 'id'] });

    const result = keyOf({ tenant: 'acme', id: 7, name: 'Ada' });

    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toEqual({ key: 'acme#7' });
  });

  it('throws at once for a missing key field when there is no key expression', () => {
    const keyOf = createRecordKeyOf({ key: ['id'] });

    expect(() => keyOf({ name: 'Ada' })).toThrow('key field "id" is missing or empty');
  });

  it('keys a record by its key expression, a string or a number', async () => {
    const byText = createRecordKeyOf({
      key: ['id'],
      keyExpression: '$lowercase(tenant) & ":" & $string(id)',
    });
    const byNumber = createRecordKeyOf({ key: ['id'], keyExpression: 'id * 10' });

    expect(await byText({ tenant: 'ACME', id: 7 })).toEqual({ key: 'acme:7' });
    expect(await byNumber({ id: 7 })).toEqual({ key: '70' });
  });

  it('keeps every digit of an exact number the expression passes through', async () => {
    const keyOf = createRecordKeyOf({ key: ['id'], keyExpression: 'id' });

    expect(await keyOf({ id: new ExactNumber('12345678901234567890') })).toEqual({
      key: '12345678901234567890',
    });
  });

  it('falls back to the key fields and says why when the expression throws', async () => {
    const keyOf = createRecordKeyOf({ key: ['id'], keyExpression: '$uppercase(code) & $string(id)' });

    const result = await keyOf({ id: 3, code: 42 });

    expect(result.key).toBe('3');
    expect(result.keyError).toEqual({
      expression: '$uppercase(code) & $string(id)',
      error: expect.stringMatching(/^Argument 1 of function "uppercase" does not match function signature/),
    });
  });

  it.each([
    ['no result', 'missing', {}],
    ['an object', 'nested', { nested: { a: 1 } }],
    ['an array', 'list', { list: ['a', 'b'] }],
    ['boolean true', 'flag', { flag: true }],
  ])('refuses a key expression whose result is %s', async (described, expression, data) => {
    const keyOf = createRecordKeyOf({ key: ['id'], keyExpression: expression });

    const result = await keyOf({ id: 1, ...data });

    expect(result).toEqual({
      key: '1',
      keyError: { expression, error: `the key must be a string or a number, got ${described}` },
    });
  });

  it('refuses an empty key and one longer than a record key may be', async () => {
    const empty = createRecordKeyOf({ key: ['id'], keyExpression: 'name' });
    const long = createRecordKeyOf({ key: ['id'], keyExpression: '$pad("", 1025, "x")' });

    expect((await empty({ id: 1, name: '' })).keyError?.error).toBe('the key must not be empty');
    expect((await long({ id: 1 })).keyError?.error).toBe('the key has 1025 characters, more than 1024');
  });

  it('still needs the key fields, which order and partition the reads', async () => {
    const keyOf = createRecordKeyOf({ key: ['id'], keyExpression: 'email' });

    await expect(keyOf({ email: 'a@example.com' })).rejects.toThrow('key field "id" is missing or empty');
  });
});

describe('keysOfPage', () => {
  it('keys every row of a page in order, by fields or by expression', async () => {
    const rows = [{ data: { id: 2, code: 'b' } }, { data: { id: 1, code: 'a' } }];

    expect(await keysOfPage(createRecordKeyOf({ key: ['id'] }), rows)).toEqual([{ key: '2' }, { key: '1' }]);
    expect(await keysOfPage(createRecordKeyOf({ key: ['id'], keyExpression: 'code' }), rows)).toEqual([
      { key: 'b' },
      { key: 'a' },
    ]);
  });

  it('keeps the key error of a row the expression fails on beside the keys of the others', async () => {
    const keyOf = createRecordKeyOf({ key: ['id'], keyExpression: 'code' });

    const keys = await keysOfPage(keyOf, [{ data: { id: 1, code: 'a' } }, { data: { id: 2 } }]);

    expect(keys).toEqual([
      { key: 'a' },
      {
        key: '2',
        keyError: { expression: 'code', error: 'the key must be a string or a number, got no result' },
      },
    ]);
  });

  it('rejects a page with a row missing a key field', async () => {
    await expect(
      keysOfPage(createRecordKeyOf({ key: ['id'] }), [{ data: { id: 1 } }, { data: {} }]),
    ).rejects.toThrow('key field "id" is missing or empty');
  });
});

describe('recordKeyOf', () => {
  it('compiles a source once and hands the same function back', () => {
    const source = { key: ['id'], keyExpression: '$string(id)' };

    expect(recordKeyOf(source)).toBe(recordKeyOf(source));
    expect(recordKeyOf({ ...source })).not.toBe(recordKeyOf(source));
  });
});

import { describe, expect, it, vi } from 'vitest';
import { expressionCompileError } from '../../../shared/domain/expression-check.ts';
import {
  createRecordExpressions,
  EXPRESSION_LIMITS,
  type RecordExpressions,
  stageRecords,
} from '../../../shared/domain/expressions.ts';
import type { RecordEnvelope } from '../../../shared/records/envelope.ts';

const expressions = (config: Parameters<typeof createRecordExpressions>[0]): RecordExpressions => {
  const compiled = createRecordExpressions(config);
  if (compiled === undefined) throw new Error('expected expressions');
  return compiled;
};

const envelope = (key: string, data: Record<string, unknown> | null): RecordEnvelope => ({
  key,
  op: data === null ? 'delete' : 'upsert',
  version: `v${key}`,
  ts: '2025-01-01T00:00:00.000Z',
  data,
  hash: 'h',
  provenance: { pipeline: 'p' },
});

describe('expressionCompileError', () => {
  it('names the character where a JSONata expression stops compiling', () => {
    expect(expressionCompileError('price * ')).toMatch(/does not compile at character 8: .*S0207/);
  });

  it('accepts an expression that compiles', () => {
    expect(expressionCompileError('price * qty')).toBeUndefined();
  });
});

describe('createRecordExpressions', () => {
  it('is undefined for a pipeline without filter or compute', () => {
    expect(createRecordExpressions({ compute: {} })).toBeUndefined();
  });

  it('adds computed fields, each over the record as it arrived, without modifying it', async () => {
    const input = { price: 2.5, qty: 4, first: 'Ada', last: 'Lovelace' };
    const apply = expressions({
      compute: { total: 'price * qty', name: 'first & " " & last', price: 'price * 2' },
    });

    const outcome = await apply(input);

    expect(outcome).toEqual({
      kind: 'kept',
      data: { price: 5, qty: 4, first: 'Ada', last: 'Lovelace', total: 10, name: 'Ada Lovelace' },
    });
    expect(input.price).toBe(2.5);
  });

  it('leaves a field absent when its expression has no result', async () => {
    const outcome = await expressions({ compute: { city: 'address.city' } })({ id: 1, city: 'old' });

    expect(outcome).toEqual({ kind: 'kept', data: { id: 1 } });
  });

  it('filters out a record whose filter is not true, by JSONata boolean rules', async () => {
    const apply = expressions({ filter: 'status = "active" and $count(tags) > 0' });

    expect((await apply({ status: 'active', tags: ['a'] })).kind).toBe('kept');
    expect((await apply({ status: 'active', tags: [] })).kind).toBe('filtered');
    expect((await apply({ status: 'banned', tags: ['a'] })).kind).toBe('filtered');
    expect((await apply({})).kind).toBe('filtered');
  });

  it('fails a record whose expression throws, with the expression and the error', async () => {
    const outcome = await expressions({ compute: { total: 'price * qty' } })({ price: 'ten', qty: 2 });

    expect(outcome).toEqual({
      kind: 'failed',
      field: 'total',
      expression: 'price * qty',
      error: expect.stringMatching(
        /left side of the "\*" operator must evaluate to a number \(at character 7\)/,
      ),
    });
  });

  it('fails a record whose filter throws, naming transform.filter', async () => {
    const outcome = await expressions({ filter: '$number(amount) > 0' })({ amount: 'abc' });

    expect(outcome).toMatchObject({
      kind: 'failed',
      field: 'transform.filter',
      expression: '$number(amount) > 0',
    });
  });

  it('stops an evaluation that runs past the step limit, naming the limit', async () => {
    // A tail call: JSONata loops instead of nesting, so only the step count stops it.
    const outcome = await expressions({ compute: { x: '($f := function($n) { $f($n + 1) }; $f(0))' } })({});

    expect(outcome).toMatchObject({
      kind: 'failed',
      field: 'x',
      error: expect.stringMatching(
        new RegExp(`stopped after ${EXPRESSION_LIMITS.maxSteps} steps \\(the step limit\\)`),
      ),
    });
  });

  it('stops a map over a range longer than the step limit allows', async () => {
    const items = EXPRESSION_LIMITS.maxSteps - 1;
    const outcome = await expressions({ compute: { x: `$count([1..${items}].($ * 2))` } })({});

    expect(outcome).toMatchObject({ kind: 'failed', error: expect.stringMatching(/the step limit/) });
  });

  it('counts the steps of each evaluation apart: concurrent records do not add up', async () => {
    // Each record takes some thousands of steps; 40 of them together take more than the limit.
    const apply = expressions({ compute: { n: '$count(items[$ > 1].($ * 2))' } });
    const items = Array.from({ length: EXPRESSION_LIMITS.maxSteps / 200 }, (_, i) => i);

    const outcomes = await Promise.all(Array.from({ length: 40 }, () => apply({ items })));

    expect(outcomes.map((o) => o.kind)).toEqual(Array(40).fill('kept'));
  });

  it('fails no record because the event loop was busy elsewhere or the clock jumped', async () => {
    // A batch of concurrent evaluations, then the event loop held past what was once the time
    // limit (100 ms of wall clock), then a clock that jumps 1 s at every read.
    const apply = expressions({ compute: { next: '$sum([age, 1])' } });
    const pending = Array.from({ length: 40 }, (_, age) => apply({ age }));
    const heldFrom = Date.now();
    while (Date.now() - heldFrom <= 150) {
      // busy: other work on the same event loop
    }
    let now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => {
      now += 1000;
      return now;
    });
    try {
      const outcomes = await Promise.all(pending);
      const later = await apply({ age: 41 });

      expect(outcomes).toEqual(
        Array.from({ length: 40 }, (_, age) => ({ kind: 'kept', data: { age, next: age + 1 } })),
      );
      expect(later).toEqual({ kind: 'kept', data: { age: 41, next: 42 } });
    } finally {
      clock.mockRestore();
    }
  });

  it('stops an evaluation that recurses deeper than the depth limit', async () => {
    const outcome = await expressions({ compute: { x: '($f := function($n) { 1 + $f($n + 1) }; $f(0))' } })(
      {},
    );

    expect(outcome).toMatchObject({
      kind: 'failed',
      field: 'x',
      error: expect.stringMatching(/Stack overflow/),
    });
  });

  it('fails a result larger than the size limit', async () => {
    const outcome = await expressions({ compute: { big: '$pad("x", 300000, "x")' } })({});

    expect(outcome).toMatchObject({
      kind: 'failed',
      error: expect.stringMatching(/exceeds 262144/),
    });
  });
});

describe('stageRecords', () => {
  it('keeps deletes and passing upserts with computed data, counts the filtered, fails the throwing', async () => {
    const apply = expressions({ filter: 'qty > 0', compute: { total: 'price * qty' } });
    const records = [
      envelope('1', { price: 2, qty: 3 }),
      envelope('2', { price: 2, qty: 0 }),
      envelope('3', { price: 'x', qty: 1 }),
      envelope('4', null),
    ];

    const staged = await stageRecords(apply, records);

    expect(staged.kept.map((r) => [r.key, r.data])).toEqual([
      ['1', { price: 2, qty: 3, total: 6 }],
      ['4', null],
    ]);
    expect(staged.filtered).toBe(1);
    expect(staged.failed.map((f) => [f.record.key, f.reasons[0]?.rule, f.reasons[0]?.field])).toEqual([
      ['3', 'expression', 'total'],
    ]);
    expect(staged.excludedKeys).toEqual(['2', '3']);
  });

  it('fails a record whose key expression failed where it was read, with or without other expressions', async () => {
    const keyError = {
      expression: '$uppercase(code)',
      error: 'Argument 1 of function "uppercase" does not match',
    };
    const records = [envelope('1', { code: 1 }), { ...envelope('2', { code: 2 }), keyError }];

    for (const apply of [undefined, expressions({ filter: 'true' })]) {
      const staged = await stageRecords(apply, records);

      expect(staged.kept.map((r) => r.key)).toEqual(['1']);
      expect(staged.failed.map((f) => [f.record.key, f.reasons])).toEqual([
        [
          '2',
          [
            {
              field: 'source.keyExpression',
              rule: 'expression',
              message: '$uppercase(code): Argument 1 of function "uppercase" does not match',
            },
          ],
        ],
      ]);
      expect(staged.excludedKeys).toEqual(['2']);
    }
  });

  it('passes every record through when the pipeline has no expressions', async () => {
    const records = [envelope('1', { a: 1 })];

    const staged = await stageRecords(undefined, records);

    expect(staged).toEqual({ kept: records, filtered: 0, failed: [], excludedKeys: [] });
  });
});

import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileFastPath, JSONATA_DECIDES } from '../../../shared/domain/expression-fast-path.ts';
import { compileBounded } from '../../../shared/domain/expressions.ts';
import type { RecordData } from '../../../shared/records/envelope.ts';
import { exactNumber } from '../../../shared/records/exact-json.ts';

const RUNS = { numRuns: 2000 };

/** Values a record field may hold, plain and not: JSONata must decide on the latter. */
const scalar = fc.oneof(
  fc.constantFrom(0, 1, -2, 7, 2.5, -0.1, 1e308, 2 ** 53 + 2),
  fc.constantFrom('', 'x', 'ab', '10'),
  fc.boolean(),
  fc.constant(null),
);
const fieldValue = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constant(exactNumber('12345678901234567890.5')) },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('x', 'y'), scalar, { maxKeys: 2 }) },
);
const record: fc.Arbitrary<RecordData> = fc.dictionary(
  fc.constantFrom('a', 'b', 'n', 's', 'o', 'list'),
  fieldValue,
  { maxKeys: 6 },
);

/** Expressions of the simple subset, over the record's fields (some absent). */
const simpleExpression = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('a', 'b', 'n', 's', 'o.x', 'o.y', 'list', 'missing', 'a.x', '`o`.x'),
    fc.constantFrom('0', '1', '3', '2.5', '1e308', '"x"', '""', '"10"', 'true', 'false', 'null'),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom('+', '-', '*', '/', '%', '=', '!=', '<', '<=', '>', '>=', 'and', 'or', '&'),
        tie('expr'),
      )
      .map(([l, op, r]) => `(${l} ${op} ${r})`),
    tie('expr').map((e) => `-(${e})`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([c, t, e]) => `(${c} ? ${t} : ${e})`),
    fc.tuple(tie('expr'), tie('expr')).map(([c, t]) => `(${c} ? ${t})`),
  ),
})).expr;

type Settled = { readonly value: unknown } | { readonly error: string };

async function settle(evaluate: () => Promise<unknown>): Promise<Settled> {
  try {
    return { value: await evaluate() };
  } catch (error) {
    return { error: (error as { code?: string; message?: string }).code ?? String(error) };
  }
}

describe('the expression fast path', () => {
  it('answers, wherever it answers, exactly what JSONata evaluates', async () => {
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(simpleExpression, record, async (text, data) => {
        const fast = compileFastPath(jsonata(text).ast());
        expect(fast, text).toBeDefined();
        const answer = fast?.(data);
        if (answer === JSONATA_DECIDES) return;
        answered++;

        expect(await settle(() => jsonata(text).evaluate(data))).toStrictEqual({ value: answer });
      }),
      RUNS,
    );
    // Most simple expressions on plain records are answered without JSONata.
    expect(answered).toBeGreaterThan(RUNS.numRuns / 2);
  });

  it('leaves to JSONata an expression beyond the simple subset', () => {
    for (const text of [
      '$string(a)',
      'a[0]',
      'o.*',
      '**.x',
      '[a, b]',
      '{"k": a}',
      '$x := 1',
      '(a; b)',
      'a in [1, 2]',
      'a^(>b)',
      'a#$i',
      'a@$o',
      '$now()',
    ])
      expect(compileFastPath(jsonata(text).ast()), text).toBeUndefined();
  });

  it('leaves a deeply nested expression to JSONata, whose depth limit counts it', () => {
    const deep = `${'('.repeat(40)}a${' + 1)'.repeat(40)}`;

    expect(compileFastPath(jsonata(deep).ast())).toBeUndefined();
  });

  it('gives JSONata its errors and results where the fast path declines', async () => {
    const plus = compileBounded('s + 1');
    const path = compileBounded('list.x');

    await expect(plus({ s: 'x' })).rejects.toMatchObject({ code: 'T2001', position: 3 });
    await expect(plus({ s: exactNumber('12345678901234567890.5') })).rejects.toMatchObject({ code: 'T2001' });
    expect(compileFastPath(jsonata('list.x').ast())?.({ list: [{ x: 1 }] })).toBe(JSONATA_DECIDES);
    expect([...((await path({ list: [{ x: 1 }, { x: 2 }] })) as number[])]).toStrictEqual([1, 2]);
    await expect(compileBounded('n / 0')({ n: 1 })).resolves.toBe(await jsonata('n / 0').evaluate({ n: 1 }));
  });
});

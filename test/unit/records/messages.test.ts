import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../shared/records/hash.ts';
import { loadMessageSchema, parseLoadMessage } from '../../../shared/records/messages.ts';

const envelope = fc.record(
  {
    key: fc.string({ minLength: 1, maxLength: 8 }),
    op: fc.constantFrom('upsert', 'delete'),
    version: fc.string({ minLength: 1, maxLength: 8 }),
    ts: fc.string({ maxLength: 8 }),
    data: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })), { nil: null }),
    hash: fc.string({ maxLength: 8 }),
    provenance: fc.record(
      { pipeline: fc.string(), runId: fc.string(), deliveryId: fc.string(), initial: fc.boolean() },
      { requiredKeys: ['pipeline'] },
    ),
    keyError: fc.record({ expression: fc.string({ maxLength: 8 }), error: fc.string({ maxLength: 8 }) }),
  },
  { requiredKeys: ['key', 'op', 'version', 'ts', 'data', 'hash', 'provenance'] },
);

const recordsMessage = fc.record({
  kind: fc.constant('records'),
  v: fc.constant(1),
  pipeline: fc.string(),
  messageKey: fc.string(),
  scope: fc.string(),
  records: fc.array(envelope, { maxLength: 4 }),
});

/** Breaks one member somewhere in the message: a wrong type, a missing or an extra member. */
const damaged = fc
  .tuple(recordsMessage, fc.nat(), fc.constantFrom('drop', 'wrong', 'extra'), fc.jsonValue({ maxDepth: 1 }))
  .map(([message, pick, how, value]) => {
    const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown> & { records: unknown[] };
    const targets: Record<string, unknown>[] = [copy, ...(copy.records as Record<string, unknown>[])];
    for (const r of copy.records as Record<string, unknown>[])
      if (typeof r.provenance === 'object' && r.provenance !== null)
        targets.push(r.provenance as Record<string, unknown>);
    const target = targets[pick % targets.length] as Record<string, unknown>;
    const keys = Object.keys(target);
    const key = keys[pick % Math.max(1, keys.length)] ?? 'x';
    if (how === 'drop') delete target[key];
    else if (how === 'wrong') target[key] = value;
    else target[`extra${pick % 3}`] = value;
    return copy as unknown;
  });

const claimCheck = fc.record({
  kind: fc.constant('claim-check'),
  v: fc.constant(1),
  pipeline: fc.string(),
  messageKey: fc.string(),
  scope: fc.string(),
  count: fc.integer({ min: -1, max: 3 }),
  bucket: fc.string(),
  key: fc.string(),
});

describe('parseLoadMessage', () => {
  it('accepts and rejects exactly what the zod schema does, with the same data', () => {
    fc.assert(
      fc.property(fc.oneof(recordsMessage, damaged, claimCheck, fc.jsonValue()), (body) => {
        const fast = parseLoadMessage(body);
        const reference = loadMessageSchema.safeParse(body);

        expect(fast.success).toBe(reference.success);
        if (fast.success && reference.success)
          expect(canonicalJson(fast.data)).toBe(canonicalJson(reference.data));
      }),
      { numRuns: 3000 },
    );
  });

  it('names what is wrong with an invalid message, as the schema does', () => {
    const parsed = parseLoadMessage({
      kind: 'records',
      v: 1,
      pipeline: 'p',
      messageKey: 'k',
      scope: 's',
      records: [{}],
    });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('records.0.key');
  });

  it('leaves a record member named __proto__ to the schema', () => {
    const body = JSON.parse(
      '{"kind":"records","v":1,"pipeline":"p","messageKey":"k","scope":"s","records":[{"key":"a","op":"upsert","version":"1","ts":"t","hash":"h","provenance":{"pipeline":"p"},"data":{"__proto__":{"x":1}}}]}',
    );

    expect(parseLoadMessage(body).success).toBe(loadMessageSchema.safeParse(body).success);
  });
});

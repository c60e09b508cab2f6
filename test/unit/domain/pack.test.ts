import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  escapedJsonBytes,
  groupIdentity,
  isClaimCheck,
  messageKey,
  type PackedMessage,
  packRecords,
} from '../../../shared/domain/pack.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { recordsMessageBody } from '../../../shared/records/messages.ts';

interface Rec {
  readonly key: string;
  readonly version: string;
  readonly text: string;
}

const rec = (key: string, text = 'x'): Rec => ({ key, version: 'p:1', text });
const size = (r: unknown) => Buffer.byteLength(JSON.stringify(r), 'utf8');

function inline<T>(packed: PackedMessage<T>[]): T[][] {
  return packed.filter((p) => !isClaimCheck(p)).map((p) => ('records' in p ? p.records : []));
}

describe('packRecords', () => {
  it('fills messages up to maxRecords', () => {
    const records = ['a', 'b', 'c', 'd', 'e'].map((k) => rec(k));

    const packed = packRecords(records, { maxRecords: 2, maxBytes: 10_000 });

    expect(inline(packed).map((g) => g.map((r) => r.key))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('fills messages up to maxBytes, counting brackets, commas and the overhead', () => {
    const records = ['a', 'b', 'c'].map((k) => rec(k));
    const one = size(records[0]);
    const overheadBytes = 50;
    // Exactly two records and their comma fit.
    const maxBytes = overheadBytes + 2 + 2 * one + 1;

    const packed = packRecords(records, { maxRecords: 100, maxBytes, overheadBytes });

    expect(inline(packed).map((g) => g.length)).toEqual([2, 1]);
    expect(packed[0]?.bytes).toBe(maxBytes);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const records = [rec('a', 'é'.repeat(100)), rec('b', 'é'.repeat(100))];
    const bytesOfOne = size(records[0]);

    const packed = packRecords(records, { maxRecords: 10, maxBytes: 2 * bytesOfOne });

    expect(bytesOfOne).toBeGreaterThan(JSON.stringify(records[0]).length);
    expect(inline(packed).map((g) => g.length)).toEqual([1, 1]);
  });

  it('returns a record too large for any message as a claim check, in its place', () => {
    const big = rec('big', 'z'.repeat(2000));
    const records = [rec('a'), big, rec('b')];

    const packed = packRecords(records, { maxRecords: 10, maxBytes: 1024 });

    expect(packed).toHaveLength(2);
    expect(packed[0]).toEqual({ claimCheck: big, bytes: size(big), json: JSON.stringify(big) });
    expect(inline(packed)).toEqual([[rec('a'), rec('b')]]);
  });

  it('sends records above a lower claim check threshold by claim check too', () => {
    const medium = rec('m', 'z'.repeat(300));

    const packed = packRecords([medium, rec('a')], {
      maxRecords: 10,
      maxBytes: 10_000,
      claimCheckThreshold: 200,
    });

    expect(packed.filter(isClaimCheck).map((p) => p.claimCheck)).toEqual([medium]);
  });

  it('gives json that parses back to the records and sizes that match the body', () => {
    const header = {
      kind: 'records',
      v: 1,
      pipeline: 'café',
      messageKey: 'x'.repeat(22),
      scope: 'RUN#1',
    } as const;
    const around = recordsMessageBody(header, '');
    const records = Array.from({ length: 20 }, (_, i) => rec(String(i), 'ü"'.repeat(i * 7)));

    const packed = packRecords(records, {
      maxRecords: 6,
      maxBytes: 1024,
      overheadBytes: Buffer.byteLength(around),
      maxEventBytes: 1500,
      eventOverheadBytes: escapedJsonBytes(around),
    });

    for (const message of packed) {
      if (isClaimCheck(message)) continue;
      const body = recordsMessageBody(header, message.json);
      expect(JSON.parse(body)).toEqual({ ...header, records: message.records });
      expect(Buffer.byteLength(body, 'utf8')).toBe(message.bytes);
      expect(escapedJsonBytes(body)).toBe(message.eventBytes);
    }
  });

  it('closes a message at maxEventBytes when escaping makes its body larger than maxBytes allows', () => {
    const quoted = rec('q', '"'.repeat(40));
    const one = size(quoted);
    const escaped = escapedJsonBytes(JSON.stringify(quoted));

    const packed = packRecords([quoted, quoted, quoted], {
      maxRecords: 10,
      maxBytes: 10_000,
      maxEventBytes: 2 + 2 * escaped + 1,
    });

    expect(escaped).toBeGreaterThan(one);
    expect(inline(packed).map((g) => g.length)).toEqual([2, 1]);
  });

  it('sends by claim check a record that fits maxBytes but not maxEventBytes alone', () => {
    const quoted = rec('q', '"'.repeat(40));

    const packed = packRecords([rec('a'), quoted], { maxRecords: 10, maxBytes: 10_000, maxEventBytes: 150 });

    expect(size(quoted) + 2).toBeLessThanOrEqual(150);
    expect(packed.filter(isClaimCheck).map((p) => p.claimCheck)).toEqual([quoted]);
    expect(inline(packed)).toEqual([[rec('a')]]);
  });

  it('keeps every record exactly once, in order, within the limits', () => {
    const records = fc.array(
      fc.record({
        key: fc.string({ minLength: 1, maxLength: 5 }),
        version: fc.constant('p:1'),
        text: fc.string({ maxLength: 400 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(
        records,
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 200, max: 2000 }),
        fc.integer({ min: 200, max: 4000 }),
        (all, maxRecords, maxBytes, maxEventBytes) => {
          const packed = packRecords(all, {
            maxRecords,
            maxBytes,
            overheadBytes: 40,
            maxEventBytes,
            eventOverheadBytes: 50,
          });

          const back = packed.flatMap((p) => (isClaimCheck(p) ? [p.claimCheck] : p.records));
          expect(back).toHaveLength(all.length);
          expect(new Set(back)).toEqual(new Set(all));
          for (const p of packed) {
            if (isClaimCheck(p))
              expect(40 + 2 + p.bytes > maxBytes || 50 + 2 + escapedJsonBytes(p.json) > maxEventBytes).toBe(
                true,
              );
            else {
              expect(p.records.length).toBeLessThanOrEqual(maxRecords);
              expect(40 + Buffer.byteLength(p.json, 'utf8')).toBe(p.bytes);
              expect(50 + escapedJsonBytes(p.json)).toBe(p.eventBytes);
              expect(p.bytes).toBeLessThanOrEqual(maxBytes);
              expect(p.eventBytes).toBeLessThanOrEqual(maxEventBytes);
            }
          }
          const inlineOrder = packed.flatMap((p) => (isClaimCheck(p) ? [] : p.records));
          expect(inlineOrder).toEqual(all.filter((r) => inlineOrder.includes(r)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('packs the same records into the same groups every time', () => {
    const records = Array.from({ length: 50 }, (_, i) => rec(String(i), 'y'.repeat(i % 13)));

    const first = packRecords(records, { maxRecords: 7, maxBytes: 500 });
    const second = packRecords([...records], { maxRecords: 7, maxBytes: 500 });

    expect(second).toEqual(first);
  });

  it.each([
    [{ maxRecords: 0, maxBytes: 1000 }, /maxRecords must be an integer of at least 1, got 0/],
    [
      { maxRecords: 1, maxBytes: 10, overheadBytes: 10 },
      /maxBytes must be an integer of at least 13, got 10/,
    ],
    [
      { maxRecords: 1, maxBytes: 100, claimCheckThreshold: 99 },
      /claimCheckThreshold 99 exceeds the 98 bytes/,
    ],
    [
      { maxRecords: 1, maxBytes: 100, eventOverheadBytes: 20, maxEventBytes: 22 },
      /maxEventBytes must be an integer of at least 23, got 22/,
    ],
  ])('rejects limits that leave no room: %j', (options, message) => {
    expect(() => packRecords([rec('a')], options)).toThrow(ConfigError);
    expect(() => packRecords([rec('a')], options)).toThrow(message);
  });
});

describe('escapedJsonBytes', () => {
  it('is never below what JSON.stringify writes inside the quotes, and equals it for printable ASCII', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const written = Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
        const asciiOnly = JSON.stringify(text).replace(
          /[^\x20-\x7e]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );

        expect(escapedJsonBytes(text)).toBeGreaterThanOrEqual(written);
        expect(escapedJsonBytes(text)).toBeGreaterThanOrEqual(asciiOnly.length - 2);
      }),
    );
    expect(escapedJsonBytes('a"b\\c')).toBe(JSON.stringify('a"b\\c').length - 2);
  });
});

describe('messageKey', () => {
  const records = [
    { key: 'a', version: 'p:1' },
    { key: 'b', version: 'p:2' },
  ];

  it('is a short base64url id, the same for the same scope and records in any order', () => {
    const key = messageKey('RUN#r1', records);

    expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(messageKey('RUN#r1', [...records].reverse())).toBe(key);
  });

  it('changes with the scope, a key or a version', () => {
    const key = messageKey('RUN#r1', records);

    expect(messageKey('RUN#r2', records)).not.toBe(key);
    expect(messageKey('RUN#r1', [records[0] as (typeof records)[0], { key: 'b', version: 'p:3' }])).not.toBe(
      key,
    );
    expect(messageKey('RUN#r1', [{ key: 'a#b', version: 'p:1' }])).not.toBe(
      messageKey('RUN#r1', [{ key: 'a', version: 'b#p:1' }]),
    );
  });
});

describe('contentDigest', () => {
  const change = (key: string, version = 'v1', hash = 'h1', op = 'upsert') => ({ key, version, hash, op });

  it('is the same for the same changes in any order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 20 }), (keys) => {
        const changes = keys.map((k) => change(k));
        expect(contentDigest('f', [...changes].reverse())).toBe(contentDigest('f', changes));
      }),
    );
  });

  it('differs when a content hash, an operation, a version or the pipeline definition differs', () => {
    // Prepare
    const base = contentDigest('f', [change('a'), change('b')]);

    // Act
    const digests = [
      contentDigest('f', [change('a'), change('b', 'v1', 'h2')]),
      contentDigest('f', [change('a'), change('b', 'v1', 'h1', 'delete')]),
      contentDigest('f', [change('a'), change('b', 'v2')]),
      contentDigest('g', [change('a'), change('b')]),
    ];

    // Assess
    expect(new Set([base, ...digests]).size).toBe(5);
  });
});

describe('groupIdentity', () => {
  const change = (key: string, version: string, op = 'upsert', hash = `h${version}`) => ({
    key,
    version,
    op,
    hash,
  });

  it('gives the message keys and the content digest the earlier versions gave, so a rerun finds the messages of a run before an upgrade', () => {
    // Prepare: one key twice in the group, in an order neither sort keeps.
    const records = [change('b', '2'), change('a', '1'), change('b', '3', 'delete', 'deleted')];

    // Act
    const identity = groupIdentity(records, ['RUN#r1|', 'RUN#r0|'], 'fp');

    // Assess: the values of messageKey and contentDigest before groupIdentity (main at 9ac956d).
    expect(identity).toEqual({
      keys: ['a9-6n1f1dEewyJK2O8iCWg', '7EzIucNp-TuY71OYPmWAog'],
      content: 'HfVV5oNf31MFWIClTerrdEmrnnIQ8eyTis-XGkRYdvQ',
    });
  });

  it('is messageKey in each scope and contentDigest for any records in any order', () => {
    const records = fc.array(
      fc.record({
        key: fc.string({ maxLength: 4 }),
        version: fc.string({ maxLength: 3 }),
        op: fc.constantFrom('upsert', 'delete'),
        hash: fc.string({ maxLength: 3 }),
      }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(records, fc.array(fc.string(), { maxLength: 3 }), (group, scopes) => {
        const identity = groupIdentity([...group].reverse(), scopes, 'fp');
        expect(identity.keys).toEqual(scopes.map((scope) => messageKey(scope, group)));
        expect(identity.content).toBe(contentDigest('fp', group));
      }),
    );
  });

  it('leaves the digest out when no fingerprint is given', () => {
    expect(groupIdentity([change('a', '1')], ['s'])).toEqual({ keys: [messageKey('s', [change('a', '1')])] });
  });
});

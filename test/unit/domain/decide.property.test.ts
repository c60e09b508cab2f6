import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TargetState } from '../../../shared/connectors/types.ts';
import { type ConflictConfigInput, resolveConflict } from '../../../shared/domain/conflict.ts';
import { decideApply, type IncomingChange } from '../../../shared/domain/decide.ts';
import type { RecordData } from '../../../shared/records/envelope.ts';
import { canonicalJson, contentHash } from '../../../shared/records/hash.ts';
import {
  compareChanges,
  compareVersions,
  positionVersion,
  timestampVersion,
} from '../../../shared/records/version.ts';

const RUNS = { numRuns: 200 };

/** Small domains, so generated records collide on fields and values often. */
const value = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y'), fc.constant(null));
const data = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), value, { maxKeys: 4 });

const conflictConfig: fc.Arbitrary<ConflictConfigInput> = fc.constantFrom<ConflictConfigInput>(
  { strategy: 'source-wins' },
  { strategy: 'target-wins' },
  { strategy: 'latest-timestamp', timestampField: 'a' },
  { strategy: 'field-merge', fields: { a: 'max', b: 'source' } },
  { strategy: 'manual' },
);

interface Change {
  readonly n: number;
  readonly op: 'upsert' | 'delete';
  readonly data: RecordData;
}

/** Distinct changes of one key: one content per version, as sources produce them. */
const distinctChanges = fc.uniqueArray(
  fc.record({
    n: fc.integer({ min: 1, max: 10_000 }),
    op: fc.constantFrom('upsert', 'delete'),
    data,
  }) as fc.Arbitrary<Change>,
  { selector: (c) => c.n, minLength: 1, maxLength: 8 },
);

const versionKind = fc.constantFrom(
  (n: number) => positionVersion(n),
  (n: number) => timestampVersion(Date.UTC(2024, 0, 1) + n * 7, 'k'),
);

function toIncoming(change: Change, version: (n: number) => string): IncomingChange {
  return change.op === 'upsert'
    ? {
        key: 'k',
        op: 'upsert',
        version: version(change.n),
        hash: contentHash(change.data),
        data: change.data,
      }
    : { key: 'k', op: 'delete', version: version(change.n), hash: 'deleted', data: null };
}

/** An in-memory target for one key, plus the field-merge base the state table would keep. */
interface Target {
  state: TargetState | undefined;
  base: RecordData | undefined;
}

function applyChange(target: Target, change: IncomingChange, conflict: ConflictConfigInput): void {
  const decision = decideApply({ change, stored: target.state, conflict, base: target.base });
  if (decision.action !== 'write') return;
  if (target.state !== undefined)
    expect(compareVersions(decision.version, target.state.version)).toBeGreaterThan(0);
  if (decision.op === 'delete')
    target.state = { version: decision.version, hash: decision.hash, deleted: true };
  else {
    target.state = { version: decision.version, hash: decision.hash, deleted: false, data: decision.data };
    target.base = decision.base;
  }
}

/** Duplicates every change one to three times and shuffles the lot. */
function deliveries(changes: readonly Change[]): fc.Arbitrary<Change[]> {
  return fc
    .array(fc.integer({ min: 1, max: 3 }), { minLength: changes.length, maxLength: changes.length })
    .chain((copies) => {
      const all = changes.flatMap((c, i) => Array.from({ length: copies[i] ?? 1 }, () => c));
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    });
}

const scenario = fc
  .tuple(distinctChanges, versionKind, conflictConfig)
  .chain(([changes, version, conflict]) =>
    deliveries(changes).map((delivered) => ({ changes, version, conflict, delivered })),
  );

function comparable(target: Target): unknown {
  const s = target.state;
  return s === undefined
    ? undefined
    : { ...s, data: s.data === undefined ? undefined : canonicalJson(s.data) };
}

describe('decideApply, applied change after change', () => {
  it('reaches the same state from any duplicated, reordered deliveries as from the distinct changes in version order', () => {
    fc.assert(
      fc.property(scenario, ({ changes, version, conflict, delivered }) => {
        // Prepare
        const inOrder = [...changes].sort((x, y) => compareVersions(version(x.n), version(y.n)));
        const reference: Target = { state: undefined, base: undefined };
        for (const change of inOrder) applyChange(reference, toIncoming(change, version), conflict);

        // Act
        const target: Target = { state: undefined, base: undefined };
        for (const change of delivered) applyChange(target, toIncoming(change, version), conflict);

        // Assess
        const newest = inOrder.at(-1) as Change;
        expect(comparable(target)).toEqual(comparable(reference));
        expect(target.state?.version).toBe(version(newest.n));
        expect(target.state?.deleted).toBe(newest.op === 'delete');
        if (newest.op === 'upsert')
          expect(canonicalJson(target.state?.data)).toBe(canonicalJson(newest.data));
      }),
      RUNS,
    );
  });

  it('never lowers the stored version, even with others editing the target in between', () => {
    const edits = fc.array(fc.option(data, { nil: undefined }), { minLength: 30, maxLength: 30 });
    fc.assert(
      fc.property(scenario, edits, ({ version, conflict, delivered }, external) => {
        const target: Target = { state: undefined, base: undefined };
        delivered.forEach((change, i) => {
          const edit = external[i];
          if (edit !== undefined && target.state !== undefined && !target.state.deleted)
            target.state = { ...target.state, data: edit };
          const before = target.state?.version;

          applyChange(target, toIncoming(change, version), conflict);

          if (before !== undefined)
            expect(compareVersions(target.state?.version ?? '', before)).toBeGreaterThanOrEqual(0);
        });
      }),
      RUNS,
    );
  });

  it('ends on the same change from any order of changes that share versions (ties decided by content hash)', () => {
    const tied = fc.array(
      fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        op: fc.constantFrom('upsert', 'delete'),
        data,
      }) as fc.Arbitrary<Change>,
      { minLength: 2, maxLength: 8 },
    );
    const orders = tied.chain((changes) =>
      fc.tuple(
        fc.constant(changes),
        fc.shuffledSubarray(changes, { minLength: changes.length, maxLength: changes.length }),
      ),
    );
    fc.assert(
      fc.property(orders, versionKind, ([changes, shuffled], version) => {
        // Prepare
        const final = (sequence: readonly Change[]) => {
          let state: TargetState | undefined;
          for (const change of sequence) {
            const decision = decideApply({
              change: toIncoming(change, version),
              stored: state,
              conflict: { strategy: 'source-wins' },
            });
            if (decision.action !== 'write') continue;
            state =
              decision.op === 'delete'
                ? { version: decision.version, hash: decision.hash, deleted: true }
                : { version: decision.version, hash: decision.hash, deleted: false, data: decision.data };
          }
          return state;
        };

        // Act
        const asGiven = final(changes);
        const asShuffled = final(shuffled);

        // Assess
        const newest = changes
          .map((c) => toIncoming(c, version))
          .sort(compareChanges)
          .at(-1) as IncomingChange;
        expect(asShuffled?.version).toBe(newest.version);
        expect(asShuffled?.hash).toBe(newest.hash);
        expect(asShuffled?.hash).toBe(asGiven?.hash);
      }),
      RUNS,
    );
  });

  it('gives the same decision twice for the same input: a redelivery after a write is skipped', () => {
    fc.assert(
      fc.property(distinctChanges, versionKind, conflictConfig, (changes, version, conflict) => {
        const target: Target = { state: undefined, base: undefined };
        for (const change of changes) {
          const incoming = toIncoming(change, version);
          applyChange(target, incoming, conflict);
          const snapshot = comparable(target);

          applyChange(target, incoming, conflict);

          expect(comparable(target)).toEqual(snapshot);
        }
      }),
      RUNS,
    );
  });
});

/** The same record with its keys in another order. */
function reordered(record: RecordData, order: readonly number[]): RecordData {
  const entries = Object.entries(record);
  const permuted = entries.map(
    (_, i) => entries[(i + (order[i] ?? 0)) % entries.length] as [string, unknown],
  );
  const seen = new Set<string>();
  const out: RecordData = {};
  for (const [k, val] of [...permuted, ...entries.reverse()])
    if (!seen.has(k)) {
      seen.add(k);
      out[k] = val;
    }
  return out;
}

describe('field-merge', () => {
  const mergeConfig = fc.record({
    strategy: fc.constant('field-merge' as const),
    timestampField: fc.constant('d'),
    fields: fc.dictionary(
      fc.constantFrom('a', 'b', 'c', 'd'),
      fc.constantFrom('source', 'target', 'latest', 'max', 'min', 'manual') as fc.Arbitrary<
        'source' | 'target' | 'latest' | 'max' | 'min' | 'manual'
      >,
      { maxKeys: 4 },
    ),
  });
  const order = fc.array(fc.nat(5), { minLength: 4, maxLength: 4 });

  it('gives the same result whatever the key order of source, target and base', () => {
    fc.assert(
      fc.property(
        mergeConfig,
        data,
        data,
        fc.option(data, { nil: undefined }),
        order,
        (config, source, target, base, perm) => {
          const result = resolveConflict({ config, source, target, base });

          const shuffled = resolveConflict({
            config,
            source: reordered(source, perm),
            target: reordered(target, [...perm].reverse()),
            base: base === undefined ? undefined : reordered(base, perm),
          });

          expect(JSON.stringify(shuffled)).toBe(JSON.stringify(result));
        },
      ),
      RUNS,
    );
  });

  it('takes the source when the target still equals the base, and the target when the source does', () => {
    fc.assert(
      fc.property(mergeConfig, data, data, (config, changed, base) => {
        const sourceChanged = resolveConflict({ config, source: changed, target: base, base });
        const targetChanged = resolveConflict({ config, source: base, target: changed, base });

        expect(sourceChanged.decision === 'write' && canonicalJson(sourceChanged.data)).toBe(
          canonicalJson(changed),
        );
        expect(targetChanged.decision === 'write' && canonicalJson(targetChanged.data)).toBe(
          canonicalJson(changed),
        );
      }),
      RUNS,
    );
  });

  it('only ever produces values found on one of the two sides', () => {
    fc.assert(
      fc.property(mergeConfig, data, data, data, (config, source, target, base) => {
        const result = resolveConflict({ config, source, target, base });

        if (result.decision === 'write')
          for (const [field, merged] of Object.entries(result.data))
            expect([source[field], target[field]].map((x) => canonicalJson(x))).toContain(
              canonicalJson(merged),
            );
      }),
      RUNS,
    );
  });
});

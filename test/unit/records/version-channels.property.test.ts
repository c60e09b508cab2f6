import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDebeziumMessage } from '../../../shared/cdc/debezium.ts';
import type { TargetState } from '../../../shared/connectors/types.ts';
import { versionFromRow } from '../../../shared/domain/cursor.ts';
import { decideApply, type IncomingChange } from '../../../shared/domain/decide.ts';
import type { RecordData } from '../../../shared/records/envelope.ts';
import { canonicalJson, contentHash } from '../../../shared/records/hash.ts';

const RUNS = { numRuns: 300 };
const EPOCH = Date.UTC(2030, 0, 1);

/**
 * The history of one source row: each change stamps `updated_at` when its transaction starts
 * and commits at or after that (possibly in the same millisecond as the next change's start),
 * in log order.
 */
interface SourceChange {
  readonly op: 'upsert' | 'delete';
  readonly updatedAt: number;
  readonly commitAt: number;
  readonly lsn: number;
  readonly name: string;
}

const history: fc.Arbitrary<SourceChange[]> = fc
  .array(
    fc.record({
      op: fc.constantFrom<'upsert' | 'delete'>('upsert', 'upsert', 'delete'),
      gap: fc.integer({ min: 0, max: 3 }),
      commitDelay: fc.integer({ min: 0, max: 2 }),
      name: fc.constantFrom('a', 'b', 'c'),
    }),
    { minLength: 1, maxLength: 7 },
  )
  .map((steps) => {
    let start = EPOCH;
    let commit = EPOCH;
    return steps.map((step, i) => {
      start = Math.max(start + step.gap, commit);
      commit = Math.max(commit, start + step.commitDelay);
      return { op: step.op, updatedAt: start, commitAt: commit, lsn: 1000 + i * 10, name: step.name };
    });
  });

const rowOf = (change: SourceChange): RecordData => ({
  id: 7,
  name: change.name,
  updated_at: new Date(change.updatedAt).toISOString(),
});

/** The Debezium event of a change, through the real decoder. */
function streamed(change: SourceChange): IncomingChange {
  const row = rowOf(change);
  const deleted = change.op === 'delete';
  const decoding = decodeDebeziumMessage(
    {
      op: deleted ? 'd' : 'u',
      before: deleted ? row : null,
      after: deleted ? null : row,
      source: { lsn: change.lsn, ts_ms: change.commitAt },
      ts_ms: change.commitAt + 3,
    },
    { pipeline: 'p', keyFields: ['id'] },
  );
  if (decoding.kind !== 'changes') throw new Error('expected a change');
  const [record] = decoding.records;
  if (!record) throw new Error('expected a record');
  return { key: record.key, op: record.op, version: record.version, hash: record.hash, data: record.data };
}

/** A poll after change `i` committed: the row as it stands, versioned by its `updated_at` cursor. */
function polled(history: readonly SourceChange[], i: number): IncomingChange | undefined {
  const now = history[i] as SourceChange;
  if (now.op === 'delete') return undefined;
  const data = rowOf(now);
  return {
    key: '7',
    op: 'upsert',
    version: versionFromRow(data, ['updated_at'], '7'),
    hash: contentHash(data),
    data,
  };
}

/** A webhook delivery of change `i`, stamped by the entity's `updated_at`. */
function delivered(change: SourceChange): IncomingChange {
  const data = rowOf(change);
  const version = versionFromRow(data, ['updated_at'], '7', undefined, 'webhook');
  return change.op === 'delete'
    ? { key: '7', op: 'delete', version, hash: 'deleted', data: null }
    : { key: '7', op: 'upsert', version, hash: contentHash(data), data };
}

function apply(state: TargetState | undefined, change: IncomingChange): TargetState | undefined {
  const decision = decideApply({ change, stored: state, conflict: { strategy: 'source-wins' } });
  if (decision.action !== 'write') return state;
  return decision.op === 'delete'
    ? { version: decision.version, hash: decision.hash, deleted: true }
    : { version: decision.version, hash: decision.hash, deleted: false, data: decision.data };
}

/** Every change by the stream, polls after some of them and webhooks for some, each 1–3 times, shuffled. */
const scenario = history.chain((changes) =>
  fc
    .record({
      polls: fc.array(fc.integer({ min: 0, max: changes.length - 1 }), { maxLength: 4 }),
      hooks: fc.array(fc.integer({ min: 0, max: changes.length - 1 }), { maxLength: 4 }),
      copies: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 20, maxLength: 20 }),
    })
    .chain(({ polls, hooks, copies }) => {
      const once = [
        ...changes.map(streamed),
        ...polls.flatMap((i) => polled(changes, i) ?? []),
        ...hooks.map((i) => delivered(changes[i] as SourceChange)),
      ];
      const all = once.flatMap((c, i) => Array.from({ length: copies[i % copies.length] ?? 1 }, () => c));
      return fc
        .tuple(
          fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
          fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
        )
        .map(([first, second]) => ({ changes, first, second }));
    }),
);

const final = (order: readonly IncomingChange[]) => order.reduce<TargetState | undefined>(apply, undefined);

describe('one version order across polling, change streams and webhooks', () => {
  it('ends at the source row’s last state for any interleaving of the channels', () => {
    fc.assert(
      fc.property(scenario, ({ changes, first, second }) => {
        // Act
        const a = final(first);
        const b = final(second);

        // Assess
        const last = changes.at(-1) as SourceChange;
        expect(a?.version).toBe(b?.version);
        expect(a?.deleted).toBe(last.op === 'delete');
        if (last.op === 'upsert') expect(canonicalJson(a?.data)).toBe(canonicalJson(rowOf(last)));
        expect(canonicalJson(a)).toBe(canonicalJson(b));
      }),
      RUNS,
    );
  });
});

import { describe, expect, it } from 'vitest';
import type {
  Cursor,
  Partition,
  SourceConnector,
  SourceRow,
  TargetChange,
  TargetConnector,
} from '../../../shared/connectors/types.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { type DeletesSearch, searchDeletes } from '../../../shared/usecases/phases/6-verify-deletes.ts';
import type { VerifyItem } from '../../../shared/usecases/phases/6-verify-partition.ts';
import { VanishedKeys } from '../../../shared/usecases/vanished.ts';

const keyedByEmail = pipelineSchema.parse({
  name: 'p',
  source: {
    type: 'postgres',
    connection: { secret: 'db' },
    table: 'accounts',
    key: ['id'],
    keyExpression: '$contains(email, "@") ? $lowercase(email) : $error("no @")',
    deletes: { mode: 'verify' },
  },
  target: { type: 'dynamodb' },
  verify: { mode: 'full' },
});

/** The candidates of a target read whole: its live records of these keys, each at version v1. */
function targetWith(keys: string[]): VanishedKeys {
  const vanishing = new VanishedKeys(keys.map((key) => ({ key, version: 'v1', hash: 'h', tie: '' })));
  vanishing.targetRead();
  return vanishing;
}
const ALL = [{ id: 'all', spec: {} }];
const START = { part: 0, cursor: null };
const never = () => false;

/** A source of one partition holding rows with these emails. */
const sourceWith = (emails: string[]) =>
  ({
    async planPartitions() {
      return [{ id: 'all', spec: {} }];
    },
    async *read() {
      yield emails.map(
        (email, i): SourceRow => ({
          data: { id: i + 1, email },
          deleted: false,
          cursor: { values: [], key: String(i + 1) },
          version: 'v1',
          ts: '2026-01-01T00:00:00.000Z',
        }),
      );
    },
  }) as unknown as SourceConnector;

describe('VanishedKeys with a key expression', () => {
  it('finds the target keys no source row is keyed by any more', async () => {
    const vanishing = targetWith(['ada@example.com', 'bob@example.com']);

    const stopped = await vanishing.readSource(
      sourceWith(['Ada@Example.com']),
      keyedByEmail,
      ALL,
      START,
      never,
    );

    expect(stopped).toBeUndefined();
    expect([...vanishing.candidates()]).toEqual([['bob@example.com', 'v1']]);
  });

  it('takes no key for deleted while a source row cannot be keyed, as it may be any of them', async () => {
    const vanishing = targetWith(['ada@example.com', 'bob@example.com']);

    const source = sourceWith(['Ada@Example.com', 'bob-at-example.com']);
    const stopped = await vanishing.readSource(source, keyedByEmail, ALL, START, () => true);

    expect(stopped).toBeUndefined();
    expect(vanishing.size).toBe(0);
  });
});

const item: VerifyItem = { partition: { id: 'range-1-of-2', spec: {} }, findDeletes: 'all' };
const SECRET = 'Secret Name';

/** A data bucket in memory, behind the S3 client the search writes and reads through. */
function bucketDeps() {
  const objects = new Map<string, string>();
  const s3 = {
    async send(command: { input: { Key: string; Body?: string } }) {
      const { Key, Body } = command.input;
      if (Body !== undefined) return void objects.set(Key, Body);
      const body = objects.get(Key);
      if (body === undefined) throw new Error(`NoSuchKey ${Key}`);
      return { Body: { transformToString: async () => body } };
    },
  };
  return { objects, deps: { clients: { s3 }, config: { dataBucket: 'data' } } as unknown as Deps };
}

/** A source of two partitions, read two rows a page after a cursor, keyed by their email. */
function sourceOf(emails: readonly string[][]): SourceConnector {
  const partitions: Partition[] = emails.map((_, i) => ({ id: `objects-${i}`, spec: { i } }));
  return {
    async planPartitions() {
      return partitions;
    },
    async *read(_window: unknown, partition: Partition, after?: Cursor) {
      const rows = (emails[Number(partition.spec.i)] ?? []).map(
        (email, n): SourceRow => ({
          data: { id: n, email, name: SECRET },
          deleted: false,
          cursor: { values: [n], key: String(n) },
          version: 'v1',
          ts: '2026-01-01T00:00:00.000Z',
        }),
      );
      const start = after ? Number(after.key) + 1 : 0;
      for (let n = start; n < rows.length; n += 2) yield rows.slice(n, n + 2);
    },
  } as unknown as SourceConnector;
}

/** A target read by segments, two changes a page: deletes and a key's older change among them. */
function targetOf(changes: readonly TargetChange[]): TargetConnector & { pages: number } {
  const target = {
    pages: 0,
    segmented: {
      async readSegment(_segment: unknown, from: string | null) {
        target.pages++;
        const at = from === null ? 0 : Number(from);
        const next = at + 2 < changes.length ? String(at + 2) : null;
        return { changes: changes.slice(at, at + 2), next };
      },
    },
  };
  return target as unknown as TargetConnector & { pages: number };
}

const change = (key: string, version: string, hash: string | null = 'h'): TargetChange => ({
  key,
  version,
  hash,
  tie: '',
});
const TARGET = [
  change('ada@example.com', 'v1'),
  change('bob@example.com', 'v1'),
  change('cy@example.com', 'v1'),
  change('cy@example.com', 'v2', null),
  change('dan@example.com', 'v3'),
  change('eve@example.com', 'v2'),
  change('fay@example.com', 'v1'),
];
const SOURCE = [['Ada@example.com', 'eve@example.com', 'zed@example.com'], ['FAY@example.com']];

/** Runs the search as the state machine's loop does, invocation after invocation, and counts them. */
async function searchInLoop(deps: Deps, timeIsShort: () => boolean) {
  const source = sourceOf(SOURCE);
  const target = targetOf(TARGET);
  let search: string | undefined;
  for (let seq = 0; ; seq++) {
    const found = { targetRead: 0 };
    const at = { pipeline: keyedByEmail, runId: 'run-1', item, seq, search };
    const out: DeletesSearch = await searchDeletes(deps, at, { source, target }, found, timeIsShort);
    if ('vanished' in out) return { vanished: out.vanished, invocations: seq + 1, targetPages: target.pages };
    search = out.search;
  }
}

describe('the search for hard deletes over the whole source', () => {
  it('goes on from where each invocation stopped, and finds what one invocation finds', async () => {
    // Prepare
    const once = bucketDeps();
    const resumed = bucketDeps();

    // Act: one invocation with time to spare; then invocations that each stop after one page.
    const whole = await searchInLoop(once.deps, () => false);
    const paged = await searchInLoop(resumed.deps, () => true);

    // Assess
    const expected = [
      ['bob@example.com', 'v1'],
      ['dan@example.com', 'v3'],
    ];
    expect([...whole.vanished].sort()).toEqual(expected);
    expect(whole.invocations).toBe(1);
    expect(once.objects.size).toBe(0);
    expect([...paged.vanished].sort()).toEqual(expected);
    // The target read once (four pages), then three source pages, one invocation each, and a
    // last one that finds nothing after the last cursor.
    expect(paged.targetPages).toBe(4);
    expect(paged.invocations).toBe(8);
  });

  it('saves keys, versions and positions between invocations, never record data', async () => {
    // Prepare
    const { deps, objects } = bucketDeps();

    // Act
    await searchInLoop(deps, () => true);

    // Assess
    const saved = [...objects.values()].join('\n');
    expect(objects.size).toBeGreaterThan(0);
    expect(saved).toContain('bob@example.com');
    expect(saved).not.toContain(SECRET);
    expect(saved).not.toContain('Ada@example.com');
  });

  it('reads no source when the target holds no live key of the partition', async () => {
    // Prepare
    const { deps } = bucketDeps();
    const source = {
      planPartitions: () => Promise.reject(new Error('the source was read')),
    } as unknown as SourceConnector;

    // Act
    const out = await searchDeletes(
      deps,
      { pipeline: keyedByEmail, runId: 'run-1', item, seq: 0 },
      { source, target: targetOf([change('cy@example.com', 'v2', null)]) },
      { targetRead: 0 },
      () => false,
    );

    // Assess
    expect(out).toEqual({ vanished: new Map() });
  });
});

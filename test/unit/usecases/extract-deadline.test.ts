import { describe, expect, it } from 'vitest';
import type { Cursor, SourceConnector, SourceRow } from '../../../shared/connectors/types.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { RecordsMessage } from '../../../shared/records/messages.ts';
import type { PartitionProgress } from '../../../shared/state/progress.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { type ExtractOutput, extractPartition } from '../../../shared/usecases/phases/3-extract.ts';

const PIPELINE = 'users';
const ROWS = 400;
const PAGE_ROWS = 10;
const PAGE_READ_MS = 1_000;
const SAFETY_MS = 15_000;

// Four records a message: a full flush (40 records, ten messages) is one SendMessageBatch.
const pipeline = pipelineSchema.parse({
  name: PIPELINE,
  source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
  target: { type: 'dynamodb' },
  batch: { size: 4 },
});

function row(id: number): SourceRow {
  const at = new Date(Date.UTC(2026, 10, 1) + id * 1000).toISOString();
  return {
    data: { id, name: `user ${id}` },
    deleted: false,
    cursor: { values: [id], key: String(id) },
    version: `${at}#${id}`,
    ts: at,
  };
}

/**
 * A partition of ROWS rows whose Extract runs on a fake clock: each page read takes
 * PAGE_READ_MS, each SendMessageBatch what `sendMs` says for the n-th one (a slow target or a
 * throttled state table). Keeps the keys sent and the partition's recorded progress.
 */
function slowQueue(sendMs: (n: number) => number) {
  const clock = { now: 0 };
  const sentKeys: string[] = [];
  let sends = 0;
  let progress: PartitionProgress | undefined;
  const source: Pick<SourceConnector, 'read' | 'close'> = {
    async *read(_window, _partition, resumeAfter?: Cursor) {
      const after = Number(resumeAfter?.values[0] ?? 0);
      for (let first = after + 1; first <= ROWS; first += PAGE_ROWS) {
        clock.now += PAGE_READ_MS;
        yield Array.from({ length: Math.min(PAGE_ROWS, ROWS - first + 1) }, (_, i) => row(first + i));
      }
    },
    close: async () => undefined,
  };
  const deps = {
    catalog: { get: () => pipeline },
    config: { queueUrlPrefix: 'https://sqs.local/000000000000/', stage: 'dev', dataBucket: 'data' },
    log: { info: () => undefined },
    createSource: () => source,
    state: {
      runs: { get: async () => ({ runId: 'run-1', planId: 'plan-1', window: { from: null, to: null } }) },
      checkpoints: { get: async () => undefined, verifiedRun: async () => undefined },
      progress: {
        getPartition: async () => progress,
        recordPartition: async (_pipeline: string, _plan: string, recorded: PartitionProgress) => {
          progress = recorded;
        },
        confirmOwner: async () => undefined,
      },
      ledger: { register: async () => undefined },
    },
    clients: {
      sqs: {
        send: async (command: { input: { Entries: { MessageBody: string }[] } }) => {
          clock.now += sendMs(++sends);
          for (const entry of command.input.Entries) {
            const message = JSON.parse(entry.MessageBody) as RecordsMessage;
            sentKeys.push(...message.records.map((r) => r.key));
          }
          return { Successful: [], Failed: [] };
        },
      },
    },
  } as unknown as Deps;
  return { deps, clock, sentKeys, progress: () => progress };
}

/** One invocation given `budgetMs` on the fake clock; what it returned and the time it had left. */
async function invoke(
  queue: ReturnType<typeof slowQueue>,
  budgetMs: number,
  continuation: ExtractOutput['continuation'],
) {
  const start = queue.clock.now;
  const remainingMs = () => budgetMs - (queue.clock.now - start);
  const output = await extractPartition(
    queue.deps,
    {
      pipeline: PIPELINE,
      runId: 'run-1',
      partition: { id: 'p0', spec: {} },
      ...(continuation ? { continuation } : {}),
    },
    { remainingMs, safetyMs: SAFETY_MS },
  );
  return { output, leftMs: remainingMs() };
}

describe('extractPartition under a slow flush', () => {
  it('hands back its continuation in time when a flush takes longer than the safety margin, and the continuations send every row once', async () => {
    // Prepare: a flush takes 20 s, more than the 15 s margin; 113 s would leave the last
    // flush starting 14 s before the deadline under the margin alone.
    const queue = slowQueue(() => 20_000);
    const invocations: { output: ExtractOutput; leftMs: number }[] = [];

    // Act
    let continuation: ExtractOutput['continuation'] = null;
    do {
      const invocation = await invoke(queue, 113_000, continuation);
      invocations.push(invocation);
      continuation = invocation.output.continuation;
      if (continuation) {
        // Nothing read past the recorded cursor is lost: the next invocation goes on from it.
        expect(queue.progress()?.cursor).toEqual(continuation.cursor);
        expect(queue.progress()?.extracted).toBe(queue.sentKeys.length);
      }
    } while (continuation && invocations.length < 20);

    // Assess
    expect(invocations.length).toBeGreaterThan(1);
    expect(invocations.at(-1)?.output.done).toBe(true);
    for (const { leftMs } of invocations) expect(leftMs).toBeGreaterThanOrEqual(0);
    expect([...queue.sentKeys].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: ROWS }, (_, i) => String(i + 1)),
    );
    expect(queue.progress()).toMatchObject({ done: true, extracted: ROWS });
  });

  it('stops earlier, with the slowest flush still in hand, after one flush was slower than the margin', async () => {
    // Prepare: the first flush takes 20 s, every later one 1 s.
    const queue = slowQueue((n) => (n === 1 ? 20_000 : 1_000));

    // Act
    const { output, leftMs } = await invoke(queue, 60_000, null);

    // Assess: under the margin alone it would read on until less than 15 s were left.
    expect(output.done).toBe(false);
    expect(leftMs).toBeGreaterThanOrEqual(SAFETY_MS);
    expect(queue.sentKeys).toHaveLength(output.extracted);
    expect(queue.progress()?.cursor).toEqual(output.continuation?.cursor);
  });
});

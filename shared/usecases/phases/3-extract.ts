import type { z } from 'zod';
import type { ChangeWindow, Cursor, Partition } from '../../connectors/types.ts';
import { recordKeyOf } from '../../domain/record-key.ts';
import { makeEnvelope, type RecordEnvelope } from '../../records/envelope.ts';
import { keys } from '../../state/keys.ts';
import type { extractInputSchema, extractOutputSchema } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { enqueueRecords } from '../enqueue.ts';
import { trackPartition } from '../resume.ts';

export type ExtractInput = z.infer<typeof extractInputSchema>;
export type ExtractOutput = z.infer<typeof extractOutputSchema>;

export interface ExtractOptions {
  /** Milliseconds left before the function times out. */
  readonly remainingMs: () => number;
  /** Stop reading when less than this is left, so the last page is always sent. @default 15000 */
  readonly safetyMs?: number;
}

/**
 * Reads one partition of the run's window and sends its records to the load queue. It stops
 * before the function's time runs out and hands back a continuation cursor; the state machine
 * calls it again from there, so no partition depends on finishing inside one invocation. The
 * partition's progress is recorded as its records reach the queue: a partition an earlier run
 * finished is skipped, one it left unfinished resumes after its recorded cursor.
 */
export async function extractPartition(
  deps: Deps,
  input: ExtractInput,
  options: ExtractOptions,
): Promise<ExtractOutput> {
  const pipeline = deps.catalog.get(input.pipeline);
  const run = await deps.state.runs.get(input.runId);
  const window = (run.window ?? { from: null, to: null }) as ChangeWindow;
  const partition = input.partition as Partition;
  const scope = keys.ledgerScopeOfRun(input.runId);
  // A first load (Load then skips reading the target's state): the window starts at the
  // beginning and no checkpoint was ever written. A checkpoint reset to null keeps its item, so
  // re-reading what the target already holds reads the state and skips the unchanged records,
  // instead of paying a refused conditional write for each.
  const initial = window.from === null && (await deps.state.checkpoints.get(pipeline.name)) === undefined;
  const safetyMs = options.safetyMs ?? 15_000;
  const progress = await trackPartition(
    deps,
    pipeline.name,
    run,
    partition.id,
    input.continuation?.cursor as Cursor | undefined,
  );
  if (progress.finished) {
    deps.log.info('partition already extracted', { pipeline: pipeline.name, partition: partition.id });
    return { done: true, continuation: null, extracted: 0, messages: 0 };
  }
  const source = deps.createSource(pipeline);
  const keyOf = recordKeyOf(pipeline.source);
  let extracted = 0;
  let messages = 0;
  let lastCursor: Cursor | undefined;
  let buffer: RecordEnvelope[] = [];
  const flush = async () => {
    if (buffer.length === 0) return;
    const sent = await enqueueRecords(deps, pipeline.name, scope, buffer, '', {
      partition: partition.id,
      upTo: progress.before + extracted,
    });
    messages += sent.messages;
    buffer = [];
    await progress.sent(lastCursor as Cursor, extracted);
  };
  try {
    for await (const page of source.read(window, partition, progress.resumeAfter)) {
      for (const row of page) {
        const { key, keyError } = await keyOf(row.data);
        buffer.push(
          makeEnvelope({
            key,
            ...(keyError ? { keyError } : {}),
            op: row.deleted ? 'delete' : 'upsert',
            version: row.version,
            ts: row.ts,
            data: row.deleted ? null : row.data,
            provenance: {
              pipeline: pipeline.name,
              runId: input.runId,
              ...(initial ? { initial: true } : {}),
            },
          }),
        );
        lastCursor = row.cursor;
      }
      extracted += page.length;
      if (buffer.length >= pipeline.batch.size * 10) await flush();
      if (options.remainingMs() < safetyMs) {
        await flush();
        return {
          done: false,
          continuation: {
            cursor: { values: [...(lastCursor as Cursor).values], key: (lastCursor as Cursor).key },
            seq: (input.continuation?.seq ?? 0) + 1,
          },
          extracted,
          messages,
        };
      }
    }
    await flush();
    await progress.finish(extracted);
  } finally {
    await source.close();
  }
  deps.log.info('partition extracted', {
    pipeline: pipeline.name,
    runId: input.runId,
    partition: partition.id,
    extracted,
  });
  return { done: true, continuation: null, extracted, messages };
}

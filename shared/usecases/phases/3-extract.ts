import type { z } from 'zod';
import type { ChangeWindow, Cursor, Partition, SourceConnector, SourceRow } from '../../connectors/types.ts';
import { keysOfPage, type RecordKey, type RecordKeyOf, recordKeyOf } from '../../domain/record-key.ts';
import { discardFields } from '../../domain/schema-drift.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../../records/envelope.ts';
import { keys } from '../../state/keys.ts';
import type { extractInputSchema, extractOutputSchema } from '../contracts.ts';
import type { Deps } from '../deps.ts';
import { enqueueRecords } from '../enqueue.ts';
import { type PartitionTracker, trackPartition } from '../resume.ts';
import { type VouchingChain, vouchingChain } from '../unchanged-messages.ts';

export type ExtractInput = z.infer<typeof extractInputSchema>;
export type ExtractOutput = z.infer<typeof extractOutputSchema>;

export interface ExtractOptions {
  /** Milliseconds left before the function times out. */
  readonly remainingMs: () => number;
  /**
   * Time kept in hand beyond the slowest flush of the invocation: reading stops once less than
   * both together is left, so the last flush ends before the function times out. @default 15000
   */
  readonly safetyMs?: number;
}

/** What one Extract invocation reads, and where it reports its progress. */
interface PartitionRead {
  readonly deps: Deps;
  readonly input: ExtractInput;
  readonly pipeline: Pipeline;
  readonly window: ChangeWindow;
  readonly partition: Partition;
  readonly progress: PartitionTracker;
  /** Every record of a first load says so, and Load then skips reading the target's state. */
  readonly initial: boolean;
  /** Fields left out of every record: the columns Discover found added under `schema.onDrift: discard`. */
  readonly discard: readonly string[];
  /** What leaves unsent the messages the last verified run loaded clean; none when Verify could not tell. */
  readonly chain: VouchingChain | undefined;
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
  const read = await openPartition(deps, input);
  const { pipeline, partition } = read;
  if (read.progress.finished) {
    deps.log.info('partition already extracted', { pipeline: pipeline.name, partition: partition.id });
    return { done: true, continuation: null, extracted: 0, messages: 0 };
  }
  const source = deps.createSource(pipeline);
  let output: ExtractOutput;
  try {
    output = await sendPartition(read, source, options);
  } finally {
    await source.close();
  }
  if (output.done)
    deps.log.info('partition extracted', {
      pipeline: pipeline.name,
      runId: input.runId,
      partition: partition.id,
      extracted: output.extracted,
    });
  return output;
}

/** The run's window and the partition's recorded progress. */
async function openPartition(deps: Deps, input: ExtractInput): Promise<PartitionRead> {
  const pipeline = deps.catalog.get(input.pipeline);
  const run = await deps.state.runs.get(input.runId);
  const window = (run.window ?? { from: null, to: null }) as ChangeWindow;
  const partition = input.partition as Partition;
  // A first load: the window starts at the beginning and no checkpoint was ever written. A
  // checkpoint reset to null keeps its item, so re-reading what the target already holds reads
  // the state and skips the unchanged records, instead of paying a refused conditional write
  // for each.
  const initial = window.from === null && (await deps.state.checkpoints.get(pipeline.name)) === undefined;
  const continuation = input.continuation?.cursor as Cursor | undefined;
  const progress = await trackPartition(deps, pipeline.name, run, partition.id, continuation);
  const discard = run.schema?.discarded ?? [];
  const chain = await vouchingChain(deps, pipeline);
  return { deps, input, pipeline, window, partition, progress, initial, discard, chain };
}

/**
 * Reads the partition from its progress on and sends its records, ten messages' worth at a
 * time; hands back a continuation once the time left would not cover another flush
 * ({@link FlushDeadline}).
 */
async function sendPartition(
  read: PartitionRead,
  source: SourceConnector,
  options: ExtractOptions,
): Promise<ExtractOutput> {
  const deadline = new FlushDeadline(options.remainingMs, options.safetyMs ?? 15_000);
  const keyOf = recordKeyOf(read.pipeline.source);
  const outbox = new PartitionOutbox(read);
  for await (const page of readAhead(source.read(read.window, read.partition, read.progress.resumeAfter))) {
    outbox.add(await envelopesOf(read, keyOf, page, outbox.trimmed), page);
    if (outbox.pending >= read.pipeline.batch.size * 10) await deadline.timed(() => outbox.flush());
    if (deadline.near()) {
      await outbox.flush();
      read.deps.log.info('extract continues in a new invocation', {
        pipeline: read.pipeline.name,
        partition: read.partition.id,
        remainingMs: options.remainingMs(),
        slowestFlushMs: deadline.slowestFlushMs,
      });
      return outbox.continuation();
    }
  }
  await outbox.flush();
  await read.progress.finish(outbox.extracted);
  return { done: true, continuation: null, extracted: outbox.extracted, messages: outbox.messages };
}

/**
 * When an Extract stops reading: once the time left is less than `safetyMs` plus the slowest
 * flush this invocation has made. The flush made on stopping holds less than a full one (those
 * go out as soon as the buffer fills), so under the same target and state table it takes no
 * longer than the slowest seen, and `safetyMs` stays in hand for what no measure foresaw. A slow
 * target or a throttled state table (a flush of ten messages, each registered, checked and sent,
 * can take longer than `safetyMs` alone) then shortens the invocation instead of timing it out.
 * Durations are read off `remainingMs`, the function's own clock.
 */
class FlushDeadline {
  slowestFlushMs = 0;
  readonly #remainingMs: () => number;
  readonly #safetyMs: number;

  constructor(remainingMs: () => number, safetyMs: number) {
    this.#remainingMs = remainingMs;
    this.#safetyMs = safetyMs;
  }

  async timed(flush: () => Promise<void>): Promise<void> {
    const before = this.#remainingMs();
    await flush();
    this.slowestFlushMs = Math.max(this.slowestFlushMs, before - this.#remainingMs());
  }

  near(): boolean {
    return this.#remainingMs() < this.#safetyMs + this.slowestFlushMs;
  }
}

/**
 * The pages of `pages`, the next one read while the caller works on the one before (one page
 * ahead at most): a partition's source query then runs while its last page is registered and sent,
 * instead of after. A page read ahead and not taken is read again by whoever goes on from the
 * continuation, which follows the last page taken.
 */
export async function* readAhead<T>(pages: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = pages[Symbol.asyncIterator]();
  let next = iterator.next();
  let done = false;
  try {
    for (;;) {
      const result = await next;
      if (result.done) {
        done = true;
        return;
      }
      next = iterator.next();
      // Awaited on the next turn, or dropped with the iterator below: never unhandled.
      next.catch(() => undefined);
      yield result.value;
    }
  } finally {
    // Stopped early: the read in flight ends before the source is closed.
    if (!done) {
      await next.catch(() => undefined);
      await iterator.return?.();
    }
  }
}

/**
 * A page's rows as the envelopes Load receives, without the fields `read.discard` names; those
 * that had some go into `trimmed`, to be counted in the ledger.
 */
async function envelopesOf(
  read: PartitionRead,
  keyOf: RecordKeyOf,
  page: readonly SourceRow[],
  trimmed: Set<RecordEnvelope>,
): Promise<RecordEnvelope[]> {
  const pageKeys = await keysOfPage(keyOf, page);
  return page.map((row, i) => {
    const { key, keyError } = pageKeys[i] as RecordKey;
    const discarded = !row.deleted && read.discard.length > 0 && discardFields(row.data, read.discard) > 0;
    const envelope = makeEnvelope({
      key,
      ...(keyError ? { keyError } : {}),
      op: row.deleted ? 'delete' : 'upsert',
      version: row.version,
      ts: row.ts,
      data: row.deleted ? null : row.data,
      provenance: {
        pipeline: read.pipeline.name,
        runId: read.input.runId,
        ...(read.initial ? { initial: true } : {}),
      },
    });
    if (discarded) trimmed.add(envelope);
    return envelope;
  });
}

/**
 * The records read but not yet on the load queue. Each flush records the partition's progress
 * up to the last row sent, so a killed Extract resumes after what reached the queue.
 */
class PartitionOutbox {
  extracted = 0;
  messages = 0;
  /** Records of the buffer sent without the fields `schema.onDrift: discard` leaves out. */
  readonly trimmed = new Set<RecordEnvelope>();
  #buffer: RecordEnvelope[] = [];
  #lastCursor: Cursor | undefined;
  readonly #read: PartitionRead;

  constructor(read: PartitionRead) {
    this.#read = read;
  }

  get pending(): number {
    return this.#buffer.length;
  }

  add(envelopes: readonly RecordEnvelope[], page: readonly SourceRow[]): void {
    this.#buffer.push(...envelopes);
    const last = page[page.length - 1];
    if (last) this.#lastCursor = last.cursor;
    this.extracted += page.length;
  }

  async flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const { deps, pipeline, input, partition, progress, chain } = this.#read;
    const sent = await enqueueRecords(
      deps,
      pipeline.name,
      keys.ledgerScopeOfRun(input.runId),
      this.#buffer,
      '',
      {
        origin: { partition: partition.id, upTo: progress.before + this.extracted },
        trimmed: this.trimmed,
        ...(chain ? { chain } : {}),
        ...(progress.confirmOwner ? { confirmOwner: progress.confirmOwner } : {}),
      },
    );
    this.messages += sent.messages;
    this.#buffer = [];
    this.trimmed.clear();
    await progress.sent(this.#lastCursor as Cursor, this.extracted);
  }

  /** Where the next invocation goes on: after the last row read. */
  continuation(): ExtractOutput {
    const cursor = this.#lastCursor as Cursor;
    return {
      done: false,
      continuation: {
        cursor: { values: [...cursor.values], key: cursor.key },
        seq: (this.#read.input.continuation?.seq ?? 0) + 1,
      },
      extracted: this.extracted,
      messages: this.messages,
    };
  }
}

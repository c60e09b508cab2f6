import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoDatabase } from '../../../demo/demo-db.ts';
import { handler as loadHandler } from '../../../functions/load/handler.ts';
import { SOURCE_CONNECTORS } from '../../../shared/connectors/sources/registry.ts';
import type { Cursor } from '../../../shared/connectors/types.ts';
import type { RecordsMessage } from '../../../shared/records/messages.ts';
import { keys } from '../../../shared/state/keys.ts';
import { createDeps, currentDeps, type Deps } from '../../../shared/usecases/deps.ts';
import { extractPartition } from '../../../shared/usecases/phases/3-extract.ts';
import { batchSteps, newRun, type Partition, type RunRef } from './batch-steps.ts';
import type { FunctionsHarness } from './harness.ts';
import { drainQueues, ROWS, startUsersHarness, usersSource } from './users-table.ts';

/**
 * The abandonment race of a resumed plan, step by step: run A's Extract goes on after its
 * execution was stopped (as a Lambda invocation does) while run B takes A's plan over. Whatever
 * the interleaving, every source row must count in exactly one run's ledger, and none be lost.
 * A's Extract is held before one chosen request (its state and queue clients pass through a
 * gate) while B plans, extracts and loads.
 */

const allKeys = Array.from({ length: ROWS }, (_, i) => String(i + 1));
const byNumber = (a: string, b: string) => Number(a) - Number(b);
const PIPELINES = ['own-registered', 'own-sent', 'own-loaded', 'own-finishing', 'own-late'] as const;

let h: FunctionsHarness;
let db: DemoDatabase;

beforeAll(async () => {
  ({ db, h } = await startUsersHarness(
    PIPELINES.map((name) => ({
      name,
      source: usersSource(),
      target: { type: 'dynamodb' },
      batch: { size: 4 },
      // Two key ranges of ten rows: ids 1-10 and 11-20.
      extract: { partitions: 2, manifestThreshold: 40 },
    })),
  ));
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await db?.stop();
});
afterEach(async () => {
  await drainQueues(h);
  for (const pipeline of h.pipelines.keys()) {
    const saved = await h.deps.state.progress.getPlan(pipeline);
    if (saved) await h.deps.state.progress.finishPlan(pipeline, saved.planId);
  }
});

const { discover, plan, extract, awaitLoad } = batchSteps(() => h);

/** A request A's Extract is about to make: its command's class name and input. */
interface Request {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** Holds the first request `at` picks until released; every other request passes. */
class Gate {
  #release: () => void = () => {};
  readonly #released = new Promise<void>((resolve) => {
    this.#release = resolve;
  });
  #reached: () => void = () => {};
  /** Settles once the held request is waiting. */
  readonly reached = new Promise<void>((resolve) => {
    this.#reached = resolve;
  });
  #held = false;

  constructor(private readonly at: (request: Request) => boolean) {}

  async pass(command: object): Promise<void> {
    const request = {
      name: command.constructor.name,
      input: (command as { input: Record<string, unknown> }).input,
    };
    if (this.#held || !this.at(request)) return;
    this.#held = true;
    this.#reached();
    await this.#released;
  }

  release(): void {
    this.#release();
  }
}

/** `client` with every request passing `gate` first (its prototype kept: the SDK's paginators check it). */
function gated<C extends { send: (...args: never[]) => Promise<unknown> }>(client: C, gate: Gate): C {
  const wrapped = Object.create(client) as C;
  const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
  Object.assign(wrapped, {
    send: async (command: object, ...rest: unknown[]) => {
      await gate.pass(command);
      return send(command, ...rest);
    },
  });
  return wrapped;
}

/** The dependencies of A's Extract: the harness's, its state and queue requests through `gate`. */
function extractDeps(gate: Gate): Promise<Deps> {
  const clients = { ...h.clients, ddb: gated(h.clients.ddb, gate), sqs: gated(h.clients.sqs, gate) };
  return currentDeps(
    createDeps(
      { clients, config: h.deps.config, catalog: h.deps.catalog, secrets: h.deps.secrets },
      { sources: SOURCE_CONNECTORS },
    ),
  );
}

const onPartitionItem = (r: Request) =>
  String((r.input.Key as { sk?: string } | undefined)?.sk).startsWith('PART#');
/** A progress write of an Extract (a claim sets no cursor). */
const progressWrite = (r: Request) =>
  r.name === 'UpdateCommand' && onPartitionItem(r) && /#cursor/.test(String(r.input.UpdateExpression));
const finishWrite = (r: Request) =>
  progressWrite(r) && (r.input.ExpressionAttributeValues as Record<string, unknown>)[':done'] === true;

/** The first request after A registered messages: its ownership check, or (without one) its send. */
function afterRegistering(): (r: Request) => boolean {
  let registered = false;
  return (r) => {
    if (r.name === 'BatchWriteCommand') registered = true;
    return (
      registered && ((r.name === 'GetCommand' && onPartitionItem(r)) || r.name === 'SendMessageBatchCommand')
    );
  };
}

/** A's Extract of one partition, as a still running Lambda invocation of a stopped execution. */
async function extractOfA(
  run: RunRef,
  partition: Partition,
  gate: Gate,
  options: { continuation?: Cursor; remainingMs?: number } = {},
) {
  return extractPartition(
    await extractDeps(gate),
    {
      ...run,
      partition,
      ...(options.continuation ? { continuation: { cursor: options.continuation, seq: 1 } } : {}),
    } as Parameters<typeof extractPartition>[1],
    { remainingMs: () => options.remainingMs ?? 600_000 },
  );
}

/** Every message on the queue handed to Load until none is left; what each carried, by ledger key. */
async function loadAll(pipeline: string, carried: Map<string, string[]>): Promise<void> {
  for (;;) {
    const messages = await h.receiveAll(h.queueUrl(pipeline));
    if (messages.length === 0) return;
    for (const m of messages) {
      const body = JSON.parse(m.Body ?? '{}') as RecordsMessage;
      carried.set(
        `${body.scope}|MSG#${body.messageKey}`,
        body.records.map((r) => r.key),
      );
    }
    for (let i = 0; i < messages.length; i += 10) {
      const batch = messages.slice(i, i + 10);
      const response = (await loadHandler(
        h.sqsEvent(pipeline, batch),
        h.context('load'),
      )) as SQSBatchResponse;
      expect(response.batchItemFailures).toEqual([]);
      await h.deleteMessages(h.queueUrl(pipeline), batch);
    }
  }
}

/** The keys of every message the runs' ledgers count (done, not abandoned), each as often as counted. */
async function countedKeys(
  runs: readonly RunRef[],
  carried: ReadonlyMap<string, string[]>,
): Promise<string[]> {
  const counted: string[] = [];
  for (const run of runs) {
    const scope = keys.ledgerScopeOfRun(run.runId);
    for (const item of await h.ledger(scope))
      if (item.state === 'done')
        counted.push(...(carried.get(`${scope}|${String(item.sk)}`) ?? [`${item.sk}?`]));
  }
  return counted.sort(byNumber);
}

/** Run A: planned, its first key range extracted in full; the second is what the race is about. */
async function startA(pipeline: string): Promise<{ runA: RunRef; first: Partition; second: Partition }> {
  const runA = newRun(pipeline);
  await discover(runA);
  const [first, second] = (await plan(runA)).partitions as [Partition, Partition];
  await extractOfA(runA, first, new Gate(() => false));
  return { runA, first, second };
}

/** Run B takes A's plan over: Discover and Plan, nothing extracted yet. */
async function planB(pipeline: string): Promise<{ runB: RunRef; partitions: Partition[] }> {
  const runB = newRun(pipeline);
  await discover(runB);
  return { runB, partitions: (await plan(runB)).partitions };
}

/**
 * A's Extract, held at its gate, while B plans (after `meanwhile`); then A goes on. Answers B's
 * run and partitions, and what A's Extract ended with (the error it stopped with, if any).
 */
async function planBWhileHeld(
  pipeline: string,
  gate: Gate,
  extracting: Promise<unknown>,
  meanwhile: () => Promise<void> = async () => {},
) {
  const failing = extracting.catch((error: Error) => error);
  await gate.reached;
  await meanwhile();
  const { runB, partitions } = await planB(pipeline);
  gate.release();
  return { runB, partitions, failure: await failing };
}

/** B extracts every partition it planned, then Load drains the queue and B's AwaitLoad is done. */
async function finishB(
  pipeline: string,
  runB: RunRef,
  partitions: readonly Partition[],
  carried: Map<string, string[]>,
) {
  const extracted: number[] = [];
  for (const partition of partitions) {
    let out = await extract(runB, partition);
    extracted.push(out.extracted);
    while (!out.done) {
      out = await extract(runB, partition, out.continuation);
      extracted[extracted.length - 1] = (extracted.at(-1) ?? 0) + out.extracted;
    }
  }
  await loadAll(pipeline, carried);
  expect(await awaitLoad(runB)).toMatchObject({ done: true, pendingMessages: 0 });
  return extracted;
}

/** Each run's ledger totals: what it extracted, how many of those Load accounted for, what is pending. */
async function totalsOf(runs: readonly RunRef[]) {
  const all = await Promise.all(runs.map((r) => h.deps.state.ledger.totals(keys.ledgerScopeOfRun(r.runId))));
  return all.map((t) => ({
    extracted: t.extracted,
    accounted: t.loaded + t.skipped,
    pending: t.pendingMessages,
  }));
}

/** The keys of the messages a run sent (as Load received them). */
const sentBy = (run: RunRef, carried: ReadonlyMap<string, string[]>) =>
  [...carried]
    .filter(([k]) => k.startsWith(`${keys.ledgerScopeOfRun(run.runId)}|`))
    .flatMap(([, sent]) => sent)
    .sort(byNumber);

describe('a resumed plan whose earlier Extract still runs', () => {
  it('stops an Extract that registered before the claim and checks after it: nothing sent, B reads the range again', async () => {
    // Prepare: A registered its second range's messages; B plans before A checks its ownership.
    const pipeline = 'own-registered';
    const carried = new Map<string, string[]>();
    const { runA, second } = await startA(pipeline);
    const gate = new Gate(afterRegistering());

    // Act
    const { runB, partitions, failure } = await planBWhileHeld(
      pipeline,
      gate,
      extractOfA(runA, second, gate),
    );
    await loadAll(pipeline, carried);
    const keysSentByA = sentBy(runA, carried);
    const extractedByB = await finishB(pipeline, runB, partitions, carried);

    // Assess: the finished first range is skipped; A sent nothing of the second, B read it all.
    expect(await countedKeys([runA, runB], carried)).toEqual(allKeys);
    expect(partitions.map((p) => p.id)).toEqual([second.id]);
    expect(keysSentByA).toEqual(allKeys.slice(0, 10));
    const abandonedByA = (await h.ledger(keys.ledgerScopeOfRun(runA.runId))).filter(
      (m) => m.state === 'abandoned',
    );
    expect(abandonedByA).toHaveLength(3);
    expect(extractedByB).toEqual([10]);
    expect(await totalsOf([runA, runB])).toEqual([
      { extracted: 10, accounted: 10, pending: 0 },
      { extracted: 10, accounted: 10, pending: 0 },
    ]);
    expect(failure).toMatchObject({ name: 'PartitionTakenOverError' });
  });

  it('stops an Extract that sent before the claim at its progress write, and B resumes from the progress it claimed', async () => {
    // Prepare: A's second range, first invocation: five rows sent and recorded (a continuation).
    // Its next invocation sends the other five and is held before recording them; B plans then.
    const pipeline = 'own-sent';
    const carried = new Map<string, string[]>();
    const { runA, second } = await startA(pipeline);
    const partway = await extractOfA(runA, second, new Gate(() => false), { remainingMs: 0 });
    const gate = new Gate(progressWrite);
    const continuation = partway.continuation?.cursor as Cursor;

    // Act
    const { runB, partitions, failure } = await planBWhileHeld(
      pipeline,
      gate,
      extractOfA(runA, second, gate, { continuation }),
    );
    const extractedByB = await finishB(pipeline, runB, partitions, carried);

    // Assess: B read the five rows after the claimed progress again; A's unrecorded five count
    // nowhere, though Load applied them.
    expect(await countedKeys([runA, runB], carried)).toEqual(allKeys);
    expect(partway).toMatchObject({ done: false, extracted: 5 });
    expect(extractedByB).toEqual([5]);
    expect(sentBy(runA, carried)).toEqual(allKeys);
    expect(await totalsOf([runA, runB])).toEqual([
      { extracted: 15, accounted: 15, pending: 0 },
      { extracted: 5, accounted: 5, pending: 0 },
    ]);
    expect(failure).toMatchObject({ name: 'PartitionTakenOverError' });
  });

  it('abandons what A sent and Load completed before the claim but never recorded, so B counts those rows once', async () => {
    // Prepare: A sent its second range and is held before recording it; Load completes A's
    // messages; then B plans.
    const pipeline = 'own-loaded';
    const carried = new Map<string, string[]>();
    const { runA, second } = await startA(pipeline);
    const gate = new Gate(progressWrite);

    // Act
    const { runB, partitions, failure } = await planBWhileHeld(
      pipeline,
      gate,
      extractOfA(runA, second, gate),
      () => loadAll(pipeline, carried),
    );
    const extractedByB = await finishB(pipeline, runB, partitions, carried);

    // Assess: B read the whole second range again and counts it; A's loaded messages of it count
    // no more.
    expect(await countedKeys([runA, runB], carried)).toEqual(allKeys);
    expect(extractedByB).toEqual([10]);
    expect(await totalsOf([runA, runB])).toEqual([
      { extracted: 10, accounted: 10, pending: 0 },
      { extracted: 10, accounted: 10, pending: 0 },
    ]);
    expect(failure).toMatchObject({ name: 'PartitionTakenOverError' });
  });

  it('keeps what A recorded when it tries to finish the range after B planned: B reads nothing again', async () => {
    // Prepare: A sent and recorded its second range, and is held before marking it finished.
    const pipeline = 'own-finishing';
    const carried = new Map<string, string[]>();
    const { runA, second } = await startA(pipeline);
    const gate = new Gate(finishWrite);

    // Act
    const { runB, partitions, failure } = await planBWhileHeld(
      pipeline,
      gate,
      extractOfA(runA, second, gate),
    );
    const extractedByB = await finishB(pipeline, runB, partitions, carried);

    // Assess
    expect(await countedKeys([runA, runB], carried)).toEqual(allKeys);
    expect(partitions.map((p) => p.id)).toEqual([second.id]);
    expect(extractedByB).toEqual([0]);
    expect((await h.deps.state.progress.getPartition(pipeline, runA.runId, second.id))?.done).toBe(true);
    expect(failure).toMatchObject({ name: 'PartitionTakenOverError' });
  });

  it('stops at once an Extract of A that starts after B claimed the range, before it reads a row', async () => {
    // Prepare: B planned; then A's Extract of the second range starts (a Map iteration late).
    const pipeline = 'own-late';
    const carried = new Map<string, string[]>();
    const { runA, second } = await startA(pipeline);
    const { runB, partitions } = await planB(pipeline);

    // Act
    const failure = await extractOfA(runA, second, new Gate(() => false)).catch((error: Error) => error);
    await loadAll(pipeline, carried);
    const extractedByB = await finishB(pipeline, runB, partitions, carried);

    // Assess
    expect(await countedKeys([runA, runB], carried)).toEqual(allKeys);
    expect(extractedByB).toEqual([10]);
    expect(failure).toMatchObject({ name: 'PartitionTakenOverError' });
  });
});

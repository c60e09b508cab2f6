import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import pg from 'pg';
import type { LocalStack } from '../../local/stack.ts';
import { loadQueueName } from '../../shared/naming.ts';
import { pipelineSchema } from '../../shared/pipeline/schema.ts';
import {
  cpuShares,
  type HotFunction,
  hotFunctions,
  type RequestSeen,
  startProfiler,
  timeRequests,
} from './cpu-profile.ts';
import { seedDatabase, startBenchLocalStack, startDatabase, withPeakRss } from './e2e.ts';
import { benchPipeline } from './records.ts';

/** Where the Extract invocations of one first load spent their time, in ms per record. */
export interface ExtractProfile {
  readonly records: number;
  readonly partitions: number;
  /** Extract invocations, continuations included. */
  readonly invocations: number;
  readonly messages: number;
  /** Wall time of the Execute Map (every partition's Extract loop, run side by side) per record. */
  readonly wallMs: number;
  /** With Load running: the wall time from Extract's end until Load's queue was drained, per record. */
  readonly drainMs: number;
  /** Wall time of Extract's PostgreSQL queries per record (summed over the partitions in flight). */
  readonly pgMs: number;
  /** Garbage collection on the handlers' thread (pauses its performance entries report), per record. */
  readonly gcMs: number;
  /** The process's peak resident set size during the round (every thread: handlers, servers). */
  readonly peakRssMb: number;
  /** Main-thread CPU (the handlers' thread) by owner, in the shares of the sampling profile. */
  readonly cpuMs: Readonly<Record<ExtractCpuOwner, number>>;
  /** CPU of the other threads (the local servers' worker: SQS, dynalite) per record. */
  readonly serverCpuMs: number;
  /**
   * Requests per record, their mean latency and their summed wall time per record, by service and
   * operation; Load's (with `withLoad`) under `Load: `, the others are Extract's.
   */
  readonly requests: readonly {
    readonly what: string;
    readonly perRecord: number;
    readonly meanMs: number;
    readonly msPerRecord: number;
  }[];
  /** The functions with the most self time, ms per record. */
  readonly hot: readonly HotFunction[];
}

export const EXTRACT_CPU_OWNERS = [
  'pg',
  'source rows',
  'envelopes and hash',
  'packing',
  'esync other',
  'sdk',
  'node',
  'libraries',
  'local stack',
  'gc',
  'other',
] as const;
export type ExtractCpuOwner = (typeof EXTRACT_CPU_OWNERS)[number];

/** Sample owners by the script URL of the sampled frame: the steps of Extract apart. */
function ownerOf(url: string, functionName: string): ExtractCpuOwner | 'idle' {
  // The profiler's own session (stopping it, collecting the profile) is not Extract's.
  if (functionName === '(idle)' || url === 'node:inspector') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (url === '') return 'other';
  if (url.startsWith('node:')) return 'node';
  if (/node_modules\/(pg|pg-[a-z]+|postgres-[a-z]+)\//.test(url)) return 'pg';
  if (/node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//.test(url)) return 'sdk';
  if (url.includes('node_modules/')) return 'libraries';
  if (/\/shared\/connectors\//.test(url)) return 'source rows';
  if (/\/shared\/(records|domain\/record-key)/.test(url)) return 'envelopes and hash';
  if (/\/shared\/(domain\/pack|usecases\/enqueue)/.test(url)) return 'packing';
  if (/\/(shared|functions)\//.test(url)) return 'esync other';
  if (/\/(local|test)\//.test(url)) return 'local stack';
  return 'other';
}

/** The warm-up's source table: the first tenth of the users table's rows, so cold starts cost it little. */
const WARM_UP_TABLE = 'users_warm_up';

/** Marks the work of the Extract invocations this profile makes: what else runs is Load's. */
const extracting = new AsyncLocalStorage<true>();

const requestOf = ({ service, command, input }: RequestSeen) => {
  const what =
    service === 'dynamodb'
      ? `${service} ${command} ${input.TableName ?? ''}`.trim()
      : `${service} ${command}`;
  return extracting.getStore() ? what : `Load: ${what}`;
};

/**
 * Times every query a pg client sends inside an Extract invocation, until `uninstall`: the source's
 * page reads (the read ahead included), wall time from the call to its answer. pg-pool calls a
 * client with a callback, a direct caller gets a promise: both are timed.
 */
function timePgQueries(): { readonly timed: { count: number; ms: number }; uninstall(): void } {
  const timed = { count: 0, ms: 0 };
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function timedQuery(this: unknown, ...args: unknown[]) {
    if (!extracting.getStore()) return query.apply(this, args);
    const started = performance.now();
    const done = () => {
      timed.count++;
      timed.ms += performance.now() - started;
    };
    const last = args[args.length - 1];
    if (typeof last === 'function')
      args[args.length - 1] = (...answer: unknown[]) => {
        done();
        return last(...answer);
      };
    const answer = query.apply(this, args);
    return answer instanceof Promise ? answer.finally(done) : answer;
  };
  return {
    timed,
    uninstall: () => {
      proto.query = query;
    },
  };
}

/** Sums the handlers' thread's GC pauses while `body` runs. */
async function withGcMs<T>(body: () => Promise<T>): Promise<{ result: T; gcMs: number }> {
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const result = await body();
    return { result, gcMs };
  } finally {
    observer.disconnect();
  }
}

export interface ExtractProfileOptions {
  /** Rows of the source table. @default 20000 */
  readonly records?: number;
  /** Measured first loads (after one warm-up first load of a tenth of the rows, for cold starts). @default 1 */
  readonly rounds?: number;
  /**
   * Leave Load's event sources running, as the end-to-end benchmark does: Load then shares the
   * servers' thread and the cores with Extract, and each round waits for its queue to drain.
   * @default false - Load stopped, only Extract runs (its messages stay on the queue)
   */
  readonly withLoad?: boolean;
  readonly log?: (line: string) => void;
}

type Invoke = (fn: string, event: unknown) => Promise<unknown>;
interface ExtractOut {
  done: boolean;
  continuation: unknown;
  messages: number;
}

/** Discover and Plan of a new run, then every partition's Extract side by side, as the Execute Map runs them. */
async function firstLoad(invoke: Invoke, pipeline: string, measured: () => Promise<void>) {
  const runId = `${pipeline}-profile-${randomUUID().slice(0, 8)}`;
  const run = {
    pipeline,
    runId,
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:esync-dev-${pipeline}-sm:${runId}`,
  };
  await invoke('discover', { ...run, trigger: 'manual' });
  const plan = (await invoke('plan', run)) as { partitions: { id: string; spec: object }[] };
  let invocations = 0;
  let messages = 0;
  await measured();
  await Promise.all(
    plan.partitions.map(async (partition) => {
      let continuation: unknown = null;
      do {
        invocations++;
        const out = (await extracting.run(true, () =>
          invoke('extract', { ...run, partition, continuation }),
        )) as ExtractOut;
        messages += out.messages;
        continuation = out.done ? null : out.continuation;
      } while (continuation !== null);
    }),
  );
  return { partitions: plan.partitions.length, invocations, messages };
}

/**
 * Profiles Extract on the local stack against the system PostgreSQL (PGlite when none): the
 * benchmark's users table, users-sync as shipped, Load's event source stopped so that only
 * Extract runs (its messages stay on the queue), or running (`withLoad`) as in the end-to-end
 * benchmark. Each round is a first load of a new run whose partitions are extracted side by side;
 * the main thread is sampled, and every thread's CPU read.
 */
export async function profileExtract(options: ExtractProfileOptions = {}): Promise<ExtractProfile[]> {
  const log = options.log ?? (() => {});
  const records = options.records ?? 20_000;
  const rounds = options.rounds ?? 1;
  // A pipeline per round, the warm-up's first: a run takes over its pipeline's unverified plan.
  const pipelines = Array.from({ length: rounds + 1 }, (_, round) => {
    const shipped = benchPipeline();
    const source = round === 0 ? { ...shipped.source, table: WARM_UP_TABLE } : shipped.source;
    return pipelineSchema.parse({ ...shipped, name: `users-sync-x${round}`, source });
  });
  const db = await startDatabase(undefined);
  let stack: LocalStack | undefined;
  const timer = timeRequests(requestOf);
  const pgTimer = timePgQueries();
  try {
    await seedDatabase(db, records, log);
    await db.exec(
      `CREATE TABLE ${WARM_UP_TABLE} (LIKE users INCLUDING ALL); INSERT INTO ${WARM_UP_TABLE} SELECT * FROM users WHERE id <= ${Math.ceil(records / 10)}`,
    );
    stack = await startBenchLocalStack(db, pipelines, 'extract-profile-pipelines', log);
    const running = stack;
    if (!options.withLoad)
      for (const p of pipelines) await running.eventSources.get(loadQueueName('dev', p.name))?.stop();
    const invoke: Invoke = (fn, event) => running.lambda.invoke(fn, event);
    // Load of a round drained before the next: each round's Extract meets only its own Load.
    const drained = () => (options.withLoad ? running.idle(30 * 60_000) : Promise.resolve());
    log(`warm-up: a first load${options.withLoad ? ', Load running' : ''}`);
    await firstLoad(invoke, pipelines[0]?.name as string, async () => {});
    await drained();
    const profiles: ExtractProfile[] = [];
    for (const [round, p] of pipelines.entries()) {
      if (round === 0) continue;
      log(`round ${round}: a first load of ${records} rows`);
      const measured = { records, requests: timer.byWhat, pg: pgTimer.timed, drained };
      profiles.push(await measureRound(invoke, p.name, measured));
    }
    return profiles;
  } finally {
    pgTimer.uninstall();
    timer.uninstall();
    await stack?.stop();
    await db.stop();
  }
}

/** What a round measures besides the profile: the requests and pg queries, counted from its start. */
interface RoundMeters {
  readonly records: number;
  readonly requests: Map<string, { count: number; ms: number }>;
  readonly pg: { count: number; ms: number };
  /** Resolves once Load has drained the round's queue (at once when Load is stopped). */
  readonly drained: () => Promise<void>;
}

async function measureRound(invoke: Invoke, pipeline: string, meters: RoundMeters): Promise<ExtractProfile> {
  const { records, requests } = meters;
  let profiler: Awaited<ReturnType<typeof startProfiler>> | undefined;
  let cpu = process.cpuUsage();
  let mainCpu = process.threadCpuUsage();
  let started = performance.now();
  let wall = 0;
  const {
    result: { result: load, gcMs },
    peakRssMb,
  } = await withPeakRss(() =>
    withGcMs(async () => {
      const extracted = await firstLoad(invoke, pipeline, async () => {
        profiler = await startProfiler();
        requests.clear();
        Object.assign(meters.pg, { count: 0, ms: 0 });
        cpu = process.cpuUsage();
        mainCpu = process.threadCpuUsage();
        started = performance.now();
      });
      wall = performance.now() - started;
      await meters.drained();
      return extracted;
    }),
  );
  const drainMs = performance.now() - started - wall;
  const used = process.cpuUsage(cpu);
  const usedHere = process.threadCpuUsage(mainCpu);
  const sampled = profiler as NonNullable<typeof profiler>;
  const profile = await sampled.stop();
  sampled.close();
  const hereMs = (usedHere.user + usedHere.system) / 1000;
  return {
    records,
    ...load,
    wallMs: wall / records,
    drainMs: drainMs / records,
    pgMs: meters.pg.ms / records,
    gcMs: gcMs / records,
    peakRssMb,
    cpuMs: cpuShares(profile, hereMs / records, EXTRACT_CPU_OWNERS, ownerOf),
    serverCpuMs: Math.max(0, (used.user + used.system) / 1000 - hereMs) / records,
    requests: [...requests].map(([what, r]) => ({
      what,
      perRecord: r.count / records,
      meanMs: r.ms / r.count,
      msPerRecord: r.ms / records,
    })),
    hot: hotFunctions(profile, hereMs / records, 25),
  };
}

import { randomUUID } from 'node:crypto';
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
import { seedDatabase, startBenchLocalStack, startDatabase } from './e2e.ts';
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
  /** Main-thread CPU (the handlers' thread) by owner, in the shares of the sampling profile. */
  readonly cpuMs: Readonly<Record<ExtractCpuOwner, number>>;
  /** CPU of the other threads (the local servers' worker: SQS, dynalite) per record. */
  readonly serverCpuMs: number;
  /** Requests per record and their mean latency, by service and operation. */
  readonly requests: readonly {
    readonly what: string;
    readonly perRecord: number;
    readonly meanMs: number;
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

const requestOf = ({ service, command, input }: RequestSeen) =>
  service === 'dynamodb' ? `${service} ${command} ${input.TableName ?? ''}`.trim() : `${service} ${command}`;

export interface ExtractProfileOptions {
  /** Rows of the source table. @default 20000 */
  readonly records?: number;
  /** Measured first loads (after one warm-up of a tenth of the rows, for cold starts). @default 1 */
  readonly rounds?: number;
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
        const out = (await invoke('extract', { ...run, partition, continuation })) as ExtractOut;
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
 * Extract runs (its messages stay on the queue). Each round is a first load of a new run whose
 * partitions are extracted side by side; the main thread is sampled, and every thread's CPU read.
 */
export async function profileExtract(options: ExtractProfileOptions = {}): Promise<ExtractProfile[]> {
  const log = options.log ?? (() => {});
  const records = options.records ?? 20_000;
  const rounds = options.rounds ?? 1;
  // A pipeline per round, the warm-up's first: a run takes over its pipeline's unverified plan.
  const pipelines = Array.from({ length: rounds + 1 }, (_, round) =>
    pipelineSchema.parse({ ...benchPipeline(), name: `users-sync-x${round}` }),
  );
  const db = await startDatabase(undefined);
  let stack: LocalStack | undefined;
  const timer = timeRequests(requestOf);
  try {
    await seedDatabase(db, records, log);
    stack = await startBenchLocalStack(db, pipelines, 'extract-profile-pipelines', log);
    const running = stack;
    for (const p of pipelines) await running.eventSources.get(loadQueueName('dev', p.name))?.stop();
    const invoke: Invoke = (fn, event) => running.lambda.invoke(fn, event);
    log('warm-up: a first load');
    await firstLoad(invoke, pipelines[0]?.name as string, async () => {});
    const profiles: ExtractProfile[] = [];
    for (const [round, p] of pipelines.entries()) {
      if (round === 0) continue;
      log(`round ${round}: a first load of ${records} rows`);
      profiles.push(await measureRound(invoke, p.name, records, timer.byWhat));
    }
    return profiles;
  } finally {
    timer.uninstall();
    await stack?.stop();
    await db.stop();
  }
}

async function measureRound(
  invoke: Invoke,
  pipeline: string,
  records: number,
  requests: Map<string, { count: number; ms: number }>,
): Promise<ExtractProfile> {
  let profiler: Awaited<ReturnType<typeof startProfiler>> | undefined;
  let cpu = process.cpuUsage();
  let mainCpu = process.threadCpuUsage();
  let started = performance.now();
  const load = await firstLoad(invoke, pipeline, async () => {
    profiler = await startProfiler();
    requests.clear();
    cpu = process.cpuUsage();
    mainCpu = process.threadCpuUsage();
    started = performance.now();
  });
  const wall = performance.now() - started;
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
    cpuMs: cpuShares(profile, hereMs / records, EXTRACT_CPU_OWNERS, ownerOf),
    serverCpuMs: Math.max(0, (used.user + used.system) / 1000 - hereMs) / records,
    requests: [...requests].map(([what, r]) => ({
      what,
      perRecord: r.count / records,
      meanMs: r.ms / r.count,
    })),
    hot: hotFunctions(profile, hereMs / records, 25),
  };
}

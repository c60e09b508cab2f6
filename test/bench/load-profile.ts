import { Session } from 'node:inspector/promises';
import type { SQSEvent } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../../local/servers.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { loadQueueName, resourceName } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { makeEnvelope } from '../../shared/records/envelope.ts';
import { timestampVersion } from '../../shared/records/version.ts';
import { sqsEventOf } from '../support/sqs-event.ts';
import { cpuShares, type Profile, type RequestSeen, timeRequests } from './cpu-profile.ts';
import { benchTemplate } from './e2e.ts';
import { BENCH_SECRET, benchPipelines, benchUser } from './records.ts';

/** Where one Load invocation's main-thread time went, in ms per record. */
export interface LoadProfile {
  readonly pipeline: string;
  readonly invocations: number;
  readonly recordsPerInvocation: number;
  /** Messages the invocations reported failed (partial batch responses), the warm-up's included. */
  readonly failedMessages: number;
  /** Wall time of the invocations per record: what Lambda bills. */
  readonly wallMs: number;
  /** Main-thread CPU (the handler's thread) by owner, in the shares of the sampling profile. */
  readonly cpuMs: Readonly<Record<CpuOwner, number>>;
  /** Wall time the main thread did not run: waiting for answers, or for a core on a busy machine. */
  readonly waitingMs: number;
  /** CPU of the other threads (the local servers' worker: dynalite, SQS, S3) per record. */
  readonly serverCpuMs: number;
  /** DynamoDB requests per record and their mean latency, by table role and operation. */
  readonly requests: readonly {
    readonly what: string;
    readonly perRecord: number;
    readonly meanMs: number;
  }[];
}

export type CpuOwner = 'esync' | 'sdk' | 'node' | 'libraries' | 'local stack' | 'gc' | 'other';

const OWNERS: readonly CpuOwner[] = ['esync', 'sdk', 'node', 'libraries', 'local stack', 'gc', 'other'];

/** Sample owners by the script URL of the sampled frame. */
function ownerOf(url: string, functionName: string): CpuOwner | 'idle' {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (url === '') return 'other';
  if (url.startsWith('node:')) return 'node';
  if (/node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//.test(url)) return 'sdk';
  if (url.includes('node_modules/')) return 'libraries';
  if (/\/(shared|functions)\//.test(url)) return 'esync';
  if (/\/(local|test)\//.test(url)) return 'local stack';
  return 'other';
}

/** DynamoDB requests by table role (target, state) and operation. */
function dynamoRequest(targetTable: (table: string) => boolean) {
  return ({ service, command, input }: RequestSeen) => {
    if (service !== 'dynamodb') return undefined;
    const table =
      input.TableName ?? Object.keys(input.RequestItems ?? {})[0] ?? (input.Statements ? 'target' : '');
    return `${targetTable(table) || table === 'target' ? 'target' : 'state'} ${command}`;
  };
}

/** One invocation's SQS event: `messages` messages of `perMessage` users each, as Extract packs them. */
function loadEvent(pipeline: Pipeline, invocation: number, messages: number, perMessage: number): SQSEvent {
  const queueArn = `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${loadQueueName('dev', pipeline.name)}`;
  const scope = `RUN#profile-${pipeline.name}`;
  const firstOf = (m: number) => (invocation * messages + m) * perMessage + 1;
  const bodies = Array.from({ length: messages }, (_, m) => {
    const records = Array.from({ length: perMessage }, (_, i) => {
      const data = benchUser(firstOf(m) + i);
      const key = String(data.id);
      return makeEnvelope({
        key,
        op: 'upsert',
        version: timestampVersion(String(data.updated_at), key),
        ts: String(data.updated_at),
        data,
        provenance: { pipeline: pipeline.name, runId: 'profile', initial: true },
      });
    });
    const messageKey = `p${firstOf(m)}`;
    return JSON.stringify({ kind: 'records', v: 1, pipeline: pipeline.name, messageKey, scope, records });
  });
  return sqsEventOf(queueArn, bodies, (m) => `p${firstOf(m)}`);
}

export interface LoadProfileOptions {
  /** Measured invocations per pipeline (after one warm-up invocation). @default 5 */
  readonly invocations?: number;
  /** Records per queue message. @default - the pipeline's batch.size (500) */
  readonly recordsPerMessage?: number;
  readonly log?: (line: string) => void;
}

/** What one pipeline's measured invocations need: the stack, the profiler and the request timer. */
interface Probe {
  readonly stack: LocalStack;
  readonly session: Session;
  readonly requests: Map<string, { count: number; ms: number }>;
}

/** Runs `invocations` Load invocations of `pipeline` under the profiler; `first` numbers the users. */
async function measure(
  probe: Probe,
  pipeline: Pipeline,
  first: number,
  invocations: number,
  perMessage: number,
): Promise<LoadProfile> {
  const fn = resourceName('dev', pipeline.name, 'load-fn');
  const messages = pipeline.load.batchSize;
  const records = messages * perMessage;
  const failures = async (n: number) => {
    const out = (await probe.stack.lambda.invoke(
      fn,
      loadEvent(pipeline, first + n, messages, perMessage),
    )) as {
      batchItemFailures?: unknown[];
    };
    return out.batchItemFailures?.length ?? 0;
  };
  let failed = await failures(0);
  probe.requests.clear();
  await probe.session.post('Profiler.start');
  const cpu = process.cpuUsage();
  const mainCpu = process.threadCpuUsage();
  const started = performance.now();
  for (let i = 1; i <= invocations; i++) failed += await failures(i);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const usedHere = process.threadCpuUsage(mainCpu);
  const { profile } = (await probe.session.post('Profiler.stop')) as { profile: Profile };
  const total = invocations * records;
  const hereMs = (usedHere.user + usedHere.system) / 1000;
  return {
    pipeline: pipeline.name,
    invocations,
    recordsPerInvocation: records,
    failedMessages: failed,
    wallMs: wall / total,
    cpuMs: cpuShares(profile, hereMs / total, OWNERS, ownerOf),
    waitingMs: Math.max(0, wall - hereMs) / total,
    serverCpuMs: Math.max(0, (used.user + used.system) / 1000 - hereMs) / total,
    requests: [...probe.requests].map(([what, r]) => ({
      what,
      perRecord: r.count / total,
      meanMs: r.ms / r.count,
    })),
  };
}

/**
 * Profiles the Load function's invocations on the local stack: first-load messages of the
 * benchmark's users (`load.batchSize` messages of `batch.size` records per invocation, 2 of 500 as
 * the shipped pipeline's queue batching hands them over), with a PutItem per record and with batched inserts. Nothing else runs
 * meanwhile, so the main thread's samples are Load's (and the local stack's polling).
 */
export async function profileLoad(options: LoadProfileOptions = {}): Promise<LoadProfile[]> {
  const log = options.log ?? (() => {});
  const invocations = options.invocations ?? 5;
  const all = benchPipelines();
  const pipelines = [all['dynamodb-puts'], all.dynamodb];
  const { template, pipelinesDir } = await benchTemplate(pipelines, 'profile-pipelines');
  const timer = timeRequests(dynamoRequest((table) => table.endsWith('-target')));
  let stack: LocalStack | undefined;
  const session = new Session();
  session.connect();
  try {
    stack = await startLocalStack({
      pipelines,
      template,
      pipelinesDir,
      stage: 'dev',
      secrets: { [BENCH_SECRET]: '{}' },
      schedules: false,
      writeDevFile: false,
      log: (line) => /^(warn|error)/.test(line) && log(line),
    });
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    const probe: Probe = { stack, session, requests: timer.byWhat };
    const profiles: LoadProfile[] = [];
    for (const [p, pipeline] of pipelines.entries()) {
      const perMessage = options.recordsPerMessage ?? pipeline.batch.size;
      log(
        `${pipeline.name}: a warm-up invocation, then ${invocations} of ${pipeline.load.batchSize * perMessage} records`,
      );
      profiles.push(await measure(probe, pipeline, p * (invocations + 1), invocations, perMessage));
    }
    return profiles;
  } finally {
    session.disconnect();
    timer.uninstall();
    await stack?.stop();
  }
}

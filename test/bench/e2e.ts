import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { apiPath, ManagementClient } from '../../cli/api-client.ts';
import { startDemoDatabase } from '../../demo/demo-db.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import type { ExecutionRecord } from '../../local/stepfunctions-server.ts';
import { loadStackTemplate } from '../../local/template.ts';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { ownedTargetTableName, stateTableName } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { STATE_GSI1 } from '../../shared/state/keys.ts';
import type { RunRecord } from '../../shared/state/runs.ts';
import { requireSystemServer, startPostgres } from '../support/system-servers.ts';
import { priceRun, type RunCost, UsageRecorder } from './observe.ts';
import { rawCopyDynamoDb, rawCopyLake, rawCopyPostgres } from './raw-copy.ts';
import {
  BENCH_PIPELINE,
  BENCH_SECRET,
  BENCH_TARGETS,
  type BenchTarget,
  benchPipelines,
  CREATE_USERS_SQL,
  REPO_ROOT,
  SEED_CHUNK,
  seedSql,
} from './records.ts';

/** Which PostgreSQL serves the source table. */
export type DatabaseKind = 'postgresql' | 'pglite';

export interface E2eOptions {
  readonly records: number;
  /** @default - Debian's PostgreSQL when installed, else PGlite */
  readonly database?: DatabaseKind;
  /** Targets synced besides DynamoDB, each beside its own raw copy. @default - all of BENCH_TARGETS */
  readonly targets?: readonly BenchTarget[];
  readonly log?: (line: string) => void;
}

/** A raw copy, measured. */
export interface MeasuredCopy {
  readonly seconds: number;
  readonly recordsPerSec: number;
  readonly cost: RunCost;
}

/** One target's first load beside its raw copy, both measured in the same run. */
export interface TargetRun {
  readonly first: MeasuredRun;
  readonly raw: MeasuredCopy;
}

/** One batch run through the state machine, measured. */
export interface MeasuredRun {
  readonly run: RunRecord;
  readonly seconds: number;
  readonly recordsPerSec: number;
  readonly cost: RunCost;
  /**
   * Highest resident set size of this process during the run, in MB, sampled every 250 ms: the
   * local stack's servers, handlers and queue pollers run in it (worker threads included).
   */
  readonly peakRssMb: number;
  /** Where the run's time went, phase by phase, from its execution history. */
  readonly phaseSeconds: PhaseSeconds;
}

/** Seconds (to a tenth) of each phase of a run: from the first entry into one of its states to the last exit. */
export interface PhaseSeconds {
  readonly discover: number;
  readonly plan: number;
  /** The Execute Map (inline or over the manifest): every partition's Extract loop. */
  readonly extract: number;
  /** AwaitLoad's polls and the waits between them, until the last Load completed. */
  readonly awaitLoad: number;
  readonly verify: number;
  readonly cleanup: number;
}

/** The states of the synthesized state machine that make up each phase. */
const PHASE_STATES: Readonly<Record<keyof PhaseSeconds, readonly string[]>> = {
  discover: ['Discover'],
  plan: ['Plan'],
  extract: ['Execute', 'ExecuteLarge'],
  awaitLoad: ['AwaitLoad', 'LoadDone?', 'WaitForLoad'],
  verify: ['VerifyPlan', 'VerifyPartitions', 'VerifyPartitionsLarge', 'VerifySummary'],
  cleanup: ['Cleanup'],
};

/** {@link PhaseSeconds} of an execution, from the entries and exits of its history. */
function phaseSecondsOf(execution: ExecutionRecord): PhaseSeconds {
  const phaseOf = new Map(
    Object.entries(PHASE_STATES).flatMap(([phase, states]) => states.map((s) => [s, phase] as const)),
  );
  const spans = new Map<string, { from: number; to: number }>();
  for (const event of execution.events) {
    const details = (event.stateEnteredEventDetails ?? event.stateExitedEventDetails) as
      | { name: string }
      | undefined;
    const phase = details && phaseOf.get(details.name);
    if (phase === undefined) continue;
    const span = spans.get(phase) ?? { from: event.timestamp, to: event.timestamp };
    span.from = Math.min(span.from, event.timestamp);
    span.to = Math.max(span.to, event.timestamp);
    spans.set(phase, span);
  }
  const seconds = (phase: keyof PhaseSeconds) => {
    const span = spans.get(phase);
    return span ? Math.round((span.to - span.from) / 100) / 10 : 0;
  };
  return {
    discover: seconds('discover'),
    plan: seconds('plan'),
    extract: seconds('extract'),
    awaitLoad: seconds('awaitLoad'),
    verify: seconds('verify'),
    cleanup: seconds('cleanup'),
  };
}

/** Runs `body` while sampling this process's resident set size; returns its result and the peak in MB. */
export async function withPeakRss<T>(body: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 250);
  try {
    const result = await body();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakRssMb: Math.round(peak / 1_048_576) };
  } finally {
    clearInterval(timer);
  }
}

export interface E2eResult {
  readonly records: number;
  /** `PostgreSQL 15 (system)` or `PGlite (embedded)`. */
  readonly database: string;
  readonly first: MeasuredRun;
  /** The same rows again after the checkpoint was reset to null: every record re-read and skipped. */
  readonly rerun: MeasuredRun;
  readonly raw: MeasuredCopy;
  /** Every target's first load and raw copy; `dynamodb` is `first` and `raw` again. */
  readonly byTarget: Partial<Record<BenchTarget, TargetRun>>;
}

const PRINCIPAL = 'arn:aws:iam::000000000000:user/bench';
/** The raw copies' fresh table, PostgreSQL table and bucket. */
const RAW_TABLE = 'esync-dev-bench-raw-copy';
const RAW_PG_TABLE = 'users_raw_copy';
const RAW_BUCKET = 'esync-dev-bench-raw-copy';
/** Connections of the PostgreSQL raw copy: as many as the PostgreSQL target's pool. */
const RAW_PG_CONNECTIONS = 2;

export interface BenchDatabase {
  readonly kind: DatabaseKind;
  readonly label: string;
  readonly connection: { host: string; port: number; user: string; password: string; database: string };
  exec(sql: string): Promise<void>;
  stop(): Promise<void>;
}

/** The benchmark's database: `kind`, or Debian's PostgreSQL when installed, else PGlite. */
export async function startDatabase(asked: DatabaseKind | undefined): Promise<BenchDatabase> {
  const kind = asked ?? defaultDatabase();
  if (kind === 'postgresql') {
    const server = await startPostgres();
    const connection = {
      host: '127.0.0.1',
      port: server.port,
      user: server.user,
      password: server.password,
      database: server.database,
    };
    const client = new pg.Client(connection);
    await client.connect();
    const version = (await client.query('SHOW server_version')).rows[0]?.server_version as string;
    return {
      kind,
      label: `PostgreSQL ${version.split(' ')[0]} (system server)`,
      connection,
      exec: async (sql) => {
        await client.query(sql);
      },
      stop: async () => {
        await client.end();
        await server.stop();
      },
    };
  }
  const demo = await startDemoDatabase();
  return {
    kind,
    label: 'PGlite (embedded PostgreSQL in WASM)',
    connection: {
      host: demo.host,
      port: demo.port,
      user: 'postgres',
      password: 'postgres',
      database: 'postgres',
    },
    exec: async (sql) => {
      await demo.db.exec(sql);
    },
    stop: () => demo.stop(),
  };
}

const defaultDatabase = (): DatabaseKind =>
  requireSystemServer('postgresql').available ? 'postgresql' : 'pglite';

const managementApi = (stack: LocalStack) =>
  new ManagementClient(stack.apiUrl, { localPrincipal: PRINCIPAL });

/**
 * Starts a run through the management API and waits for its execution to end, without polling
 * the API (each poll would read the run's ledger and count against the run).
 */
async function runOnce(stack: LocalStack, pipeline: string): Promise<{ executionArn: string }> {
  const started = await managementApi(stack).post(apiPath('pipelines', pipeline, 'runs'), {
    reason: 'benchmark',
  });
  const executionArn = String(started.executionArn);
  const execution = await stack.stepFunctions.whenDone(executionArn);
  if (execution.status !== 'SUCCEEDED')
    throw new Error(
      `benchmark run ${executionArn} ended ${execution.status}: ${execution.error} ${execution.cause}`,
    );
  return { executionArn };
}

/** The local stack serving the benchmark's pipelines, with its request recorder and clients. */
interface BenchStack {
  readonly stack: LocalStack;
  readonly recorder: UsageRecorder;
  readonly clients: ReturnType<typeof createAwsClients>;
  readonly records: number;
  readonly log: (line: string) => void;
}

/** Runs `copy`, measured as one segment, and checks it copied every row. */
async function measureCopy(
  bench: BenchStack,
  label: string,
  copy: () => Promise<number>,
): Promise<MeasuredCopy> {
  bench.log(`raw copy: ${label}`);
  const segment = await bench.recorder.segment(copy);
  if (segment.result !== bench.records)
    throw new Error(`the raw copy (${label}) wrote ${segment.result} rows of ${bench.records}`);
  return {
    seconds: segment.ms / 1000,
    recordsPerSec: bench.records / (segment.ms / 1000),
    cost: priceRun({ usage: segment.usage, executions: [], targetTable: RAW_TABLE }),
  };
}

/** Runs `pipeline` once through the state machine, measured as one segment. */
async function measureRun(bench: BenchStack, pipeline: string, label: string): Promise<MeasuredRun> {
  const { stack, recorder, records } = bench;
  bench.log(`${label}: ${records} records through the state machine`);
  const { result: segment, peakRssMb } = await withPeakRss(() =>
    recorder.segment(() => runOnce(stack, pipeline)),
  );
  const execution = stack.stepFunctions.execution(segment.result.executionArn) as ExecutionRecord;
  const body = await managementApi(stack).get<{ run?: RunRecord } & RunRecord>(
    apiPath('runs', execution.name),
  );
  return {
    run: body.run ?? body,
    seconds: segment.ms / 1000,
    recordsPerSec: records / (segment.ms / 1000),
    peakRssMb,
    phaseSeconds: phaseSecondsOf(execution),
    cost: priceRun({
      usage: segment.usage,
      executions: [execution],
      targetTable: ownedTargetTableName(stack.stage, pipeline),
    }),
  };
}

/**
 * The other targets: the same rows again, each beside its own raw copy (DynamoDB with a PutItem
 * per record beside the DynamoDB raw copy `dynamoRaw`).
 */
async function otherTargets(
  bench: BenchStack,
  db: BenchDatabase,
  pipelines: ReturnType<typeof benchPipelines>,
  targets: readonly BenchTarget[],
  dynamoRaw: MeasuredCopy,
): Promise<Partial<Record<BenchTarget, TargetRun>>> {
  const runs: Partial<Record<BenchTarget, TargetRun>> = {};
  if (targets.includes('dynamodb-puts'))
    runs['dynamodb-puts'] = {
      raw: dynamoRaw,
      first: await measureRun(
        bench,
        pipelines['dynamodb-puts'].name,
        'first load into DynamoDB, a conditional PutItem per record',
      ),
    };
  if (targets.includes('postgres'))
    runs.postgres = {
      raw: await measureCopy(
        bench,
        `multi-row INSERT of ${pipelines.postgres.batch.size} into a fresh PostgreSQL table`,
        () => rawCopyPostgres(db, RAW_PG_TABLE, RAW_PG_CONNECTIONS, pipelines.postgres.batch.size),
      ),
      first: await measureRun(bench, pipelines.postgres.name, 'first load into PostgreSQL'),
    };
  if (targets.includes('s3'))
    runs.s3 = {
      raw: await measureCopy(bench, 'one JSON Lines object per 100 rows into a fresh bucket', () =>
        rawCopyLake(db, bench.clients.s3, RAW_BUCKET),
      ),
      first: await measureRun(bench, pipelines.s3.name, 'first load into the S3 lake'),
    };
  return runs;
}

export async function seedDatabase(
  db: BenchDatabase,
  records: number,
  log: (line: string) => void,
): Promise<void> {
  log(`seeding ${records} users (~1 KB each) into ${db.label}`);
  await db.exec(CREATE_USERS_SQL);
  for (let from = 1; from <= records; from += SEED_CHUNK)
    await db.exec(seedSql(from, Math.min(records, from + SEED_CHUNK - 1)));
  await db.exec('ANALYZE users');
}

/** The stage template for `pipelines`, synthesized with their files in a temporary folder `dir`. */
export async function benchTemplate(
  pipelines: readonly Pipeline[],
  dir: string,
  log?: (line: string) => void,
): Promise<{ template: Awaited<ReturnType<typeof loadStackTemplate>>['template']; pipelinesDir: string }> {
  const pipelinesDir = path.join(tmpdir(), 'esync-bench', dir);
  mkdirSync(pipelinesDir, { recursive: true });
  const { template } = await loadStackTemplate({
    rootDir: REPO_ROOT,
    stage: 'dev',
    pipelines,
    pipelinesDir,
    cdkOut: false,
    ...(log && { log }),
  });
  return { template, pipelinesDir };
}

/**
 * The local stack serving `pipelines` (their files in the temporary folder `dir`) over the
 * benchmark's database; `options` adds to or overrides the benchmark's settings.
 */
export async function startBenchLocalStack(
  db: BenchDatabase,
  pipelines: readonly Pipeline[],
  dir: string,
  log: (line: string) => void,
  options: Partial<LocalStackOptions> = {},
): Promise<LocalStack> {
  const { template, pipelinesDir } = await benchTemplate(pipelines, dir, log);
  return startLocalStack({
    pipelines,
    template,
    pipelinesDir,
    stage: 'dev',
    secrets: { [BENCH_SECRET]: JSON.stringify(db.connection) },
    schedules: false,
    writeDevFile: false,
    log: (line) => /^(warn|error)/.test(line) && log(line),
    ...options,
  });
}

async function startBenchStack(
  db: BenchDatabase,
  pipelines: readonly Pipeline[],
  recorder: UsageRecorder,
  log: (line: string) => void,
): Promise<LocalStack> {
  recorder.install();
  const stack = await startBenchLocalStack(db, pipelines, 'pipelines', log, {
    // Wait states wait as deployed, not shortened as for tests: the AwaitLoad loop then polls as
    // often as on AWS, and its transitions, invocations and ledger reads count as deployed.
    waitOverrideMs: 'deployed',
  });
  recorder.instrument(stack.lambda);
  return stack;
}

/**
 * Measures a PostgreSQL → DynamoDB sync of `records` users on the local stack, through the state
 * machine as `esync run` starts it, beside a raw copy of the same rows through the same servers.
 * Every AWS request the handlers send is counted and priced; then the checkpoint is reset to
 * null and the same rows run again, to price a rerun of unchanged data. The same rows then go
 * to a PostgreSQL table and to the S3 lake, each beside its own raw copy.
 */
export async function runE2e(options: E2eOptions): Promise<E2eResult> {
  const log = options.log ?? (() => {});
  const targets = options.targets ?? BENCH_TARGETS;
  const db = await startDatabase(options.database);
  const recorder = new UsageRecorder((table) => (table === stateTableName('dev') ? [STATE_GSI1] : []));
  let stack: LocalStack | undefined;
  try {
    await seedDatabase(db, options.records, log);
    const pipelines = benchPipelines();
    const served = [pipelines.dynamodb, ...targets.flatMap((t) => (t === 'dynamodb' ? [] : [pipelines[t]]))];
    stack = await startBenchStack(db, served, recorder, log);
    const clients = createAwsClients();
    const bench: BenchStack = { stack, recorder, clients, records: options.records, log };

    const raw = await measureCopy(bench, 'keyset pages → BatchWriteItem into a fresh table', () =>
      rawCopyDynamoDb(db, clients, RAW_TABLE),
    );
    // dynalite keeps every table in one store, whose requests cost more as it grows; on AWS a
    // table apart does not slow the target. Dropped, the raw copy's rows do not weigh on the sync.
    await clients.dynamodb.send(new DeleteTableCommand({ TableName: RAW_TABLE }));
    const first = await measureRun(bench, BENCH_PIPELINE, 'first load');
    await managementApi(stack).put(apiPath('pipelines', BENCH_PIPELINE, 'checkpoint'), {
      cursor: null,
      reason: 'benchmark: rerun of unchanged data',
    });
    const rerun = await measureRun(
      bench,
      BENCH_PIPELINE,
      'rerun of unchanged data (checkpoint reset to null)',
    );
    const others = await otherTargets(bench, db, pipelines, targets, raw);
    return {
      records: options.records,
      database: db.label,
      first,
      rerun,
      raw,
      byTarget: { dynamodb: { first, raw }, ...others },
    };
  } finally {
    recorder.uninstall();
    await stack?.stop();
    await db.stop();
  }
}

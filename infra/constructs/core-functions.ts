import { Aws, Duration } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CORE, pipelineParameterPath, resourceName, type Stage } from '../../shared/naming.ts';
import { PIPELINE_PARAMETERS_ENV } from '../../shared/pipeline/catalog-source.ts';
import type { Pipeline, StageAlerts } from '../../shared/pipeline/schema.ts';
import type { FunctionName } from '../../shared/usecases/contracts.ts';
import type { BundledExtension } from '../extensions.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { ANY_PIPELINE, type StageNetwork, talksToDatabase } from '../network.ts';
import type { StageSettings } from '../stage.ts';
import { assumeAccessRoles, reachesPipelineData } from './access-roles.ts';
import type { DatabaseNetwork } from './database-network.ts';
import type { EncryptionKey } from './encryption-key.ts';
import { EsyncFunction, type EsyncFunctionProps } from './esync-function.ts';
import {
  FUNCTION_ACCESS,
  type FunctionAccess,
  grantOn,
  IDEMPOTENCY_TABLE_ACTIONS,
  STATE_TABLE_ACTIONS,
} from './function-access.ts';
import { EVERY_PIPELINE, grantPipelineResources } from './pipeline-resource-grants.ts';
import type { Storage } from './storage.ts';
import type { PhaseFunctions } from './sync-state-machine.ts';

/** What every function is built from and granted on, shared by all pipelines. */
export interface CoreResources {
  readonly stage: Stage;
  readonly settings: StageSettings;
  readonly key: EncryptionKey;
  readonly storage: Storage;
  readonly bus: events.IEventBus;
  /** Key of `mask: hash`, generated per stage; functions get its name in ESYNC_MASK_KEY_SECRET. */
  readonly maskKey: secretsmanager.ISecret;
  /**
   * The pipelines, as `serializeCatalog` writes them, baked into the shared functions (one stack
   * holds everything, EsyncStackProps.catalog `baked`).
   * @default - none: each pipeline publishes its definition under the stage's SSM path
   * (pipelineParameterPath) and the shared functions read them there, so adding, changing or
   * removing a pipeline leaves the shared functions as they are
   */
  readonly pipelineCatalog?: string;
  /**
   * Whether the pipelines deploy in stacks of their own: nothing the shared stack builds may then
   * depend on which pipelines there are (EsyncStackProps.layout `per-pipeline`).
   */
  readonly pipelinesApart: boolean;
  /** The variables shared/config.ts reads. */
  readonly environment: Readonly<Record<string, string>>;
  /** @see EsyncFunctionProps.bundle */
  readonly bundle: boolean;
  /** @see EsyncFunctionProps.extensions */
  readonly extensions: readonly BundledExtension[];
  /** Every pipeline of the stage. */
  readonly pipelines: readonly Pipeline[];
  /**
   * The stage's VPC side, when it names one: functions that open database connections run in it.
   * @default - no VPC: every function runs outside one
   */
  readonly network?: DatabaseNetwork;
  /**
   * The network of each pipeline whose databases sit elsewhere, by pipeline name: such a
   * pipeline builds its VPC side (a DatabaseNetwork) beside its own {@link PIPELINE_PHASES}
   * functions, in its own stack when it has one.
   */
  readonly pipelineNetworks: ReadonlyMap<string, StageNetwork>;
  /** Who hears about every pipeline's alarms: the stage's `alerts` (cdk.json). */
  readonly alerts: StageAlerts;
}

/**
 * The phases that open source or target connections: shared by the pipelines of the stage
 * network, and a pipeline's own when it has a network of its own.
 */
export const PIPELINE_PHASES = ['discover', 'plan', 'extract', 'verify'] as const;

/**
 * Whether the pipelines deploy apart from the shared functions (each in a stack of its own), so
 * nothing the shared stack builds may depend on which pipelines there are.
 */
export function pipelinesApart(core: CoreResources): boolean {
  return core.pipelinesApart;
}

/** Whether the shared function `name` serves `pipeline` (else the pipeline has its own). */
export function servesPipeline(core: CoreResources, name: FunctionName, pipeline: Pipeline): boolean {
  return !(core.pipelineNetworks.has(pipeline.name) && (PIPELINE_PHASES as readonly string[]).includes(name));
}

interface FunctionSettings {
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
}

/** Load is built per pipeline; the alert formatter only when a pipeline names chat webhooks (AlertWebhooks). */
export type SharedFunctionName = Exclude<FunctionName, 'load' | 'alert-webhook'>;

/**
 * Timeouts and memory of the functions all pipelines share (Load is per pipeline, with the
 * pipeline's own timeout). Extract stops reading before its timeout and continues in the next
 * invocation; the webhook answers well inside API Gateway's 30 s.
 */
export const SHARED_FUNCTION_SETTINGS: Readonly<Record<SharedFunctionName, FunctionSettings>> = {
  discover: {
    description: 'Discover: source schema, capabilities, credentials',
    timeout: Duration.seconds(60),
    memorySize: 512,
  },
  plan: {
    description: 'Plan: change window and partitions',
    timeout: Duration.seconds(120),
    memorySize: 512,
  },
  extract: {
    description: 'Extract: one partition into load messages',
    timeout: Duration.minutes(5),
    memorySize: 1024,
  },
  'await-load': {
    description: 'AwaitLoad: is every extracted record accounted for?',
    timeout: Duration.seconds(30),
    memorySize: 256,
  },
  verify: {
    description: 'Verify: compare source and target over the window',
    timeout: Duration.minutes(15),
    memorySize: 1024,
  },
  cleanup: {
    description: 'Cleanup: checkpoint, report, run summary',
    timeout: Duration.minutes(5),
    memorySize: 512,
  },
  'record-failure': {
    description: 'RecordFailure: record why a run failed',
    timeout: Duration.seconds(30),
    memorySize: 256,
  },
  'run-ended': {
    description: 'RunEnded: end a run on its record when its execution ends',
    timeout: Duration.seconds(30),
    memorySize: 256,
  },
  webhook: {
    description: 'Webhook: verify, deduplicate, enqueue',
    timeout: Duration.seconds(15),
    memorySize: 512,
  },
  api: { description: 'Management API', timeout: Duration.seconds(29), memorySize: 512 },
};

/**
 * What every function of the stage is built with: environment, catalog, logs, bundling. A
 * function of one pipeline passes that pipeline as `ownCatalog` and has it baked in; a shared
 * one has the stage's catalog baked in, or reads the stage's SSM parameters.
 */
export function stageFunctionProps(
  core: CoreResources,
  ownCatalog?: string,
): Pick<
  EsyncFunctionProps,
  | 'environment'
  | 'pipelineCatalog'
  | 'logRetention'
  | 'logKey'
  | 'removalPolicy'
  | 'bundle'
  | 'extensions'
  | 'tracing'
> {
  const pipelineCatalog = ownCatalog ?? core.pipelineCatalog;
  return {
    environment:
      pipelineCatalog === undefined
        ? { ...core.environment, [PIPELINE_PARAMETERS_ENV]: pipelineParameterPath(core.stage) }
        : core.environment,
    ...(pipelineCatalog !== undefined && { pipelineCatalog }),
    logRetention: core.settings.logRetention,
    logKey: core.key.key,
    removalPolicy: core.settings.dataRemovalPolicy,
    bundle: core.bundle,
    extensions: core.extensions,
    tracing: core.settings.tracing,
  };
}

/** Builds one house function and grants it its access to the shared resources. */
export function createEsyncFunction(
  scope: Construct,
  id: string,
  core: CoreResources,
  options: FunctionSettings & {
    readonly handlerName: FunctionName;
    readonly functionName: string;
    /** The pipelines it serves. @default - all of the stage's */
    readonly pipelines?: readonly Pipeline[];
    /** The one pipeline it serves, baked in: see {@link stageFunctionProps}. @default - a shared function */
    readonly ownCatalog?: string;
  },
): EsyncFunction {
  const { pipelines = core.pipelines, ownCatalog, ...settings } = options;
  const access = FUNCTION_ACCESS[options.handlerName];
  const served = ownCatalog === undefined && pipelinesApart(core) ? ANY_PIPELINE : pipelines;
  const fn = new EsyncFunction(scope, id, {
    ...settings,
    ...(core.network && talksToDatabase(access, served) ? { placement: core.network.placement } : {}),
    ...stageFunctionProps(core, ownCatalog),
  });
  grantCoreAccess(fn, access, core);
  if (ownCatalog === undefined && core.pipelineCatalog === undefined) grantPipelineParameters(fn, core.stage);
  return fn;
}

/**
 * Lets a shared function read the stage's pipelines: GetParametersByPath on the path itself,
 * which is what SSM authorizes that call against (not each parameter returned).
 */
export function grantPipelineParameters(fn: EsyncFunction, stage: Stage): void {
  grantOn(
    fn,
    ['ssm:GetParametersByPath'],
    [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${pipelineParameterPath(stage)}`],
  );
}

/** Grants the shared part of `access`: state table, idempotency table, key, bus, data bucket prefixes. */
export function grantCoreAccess(fn: EsyncFunction, access: FunctionAccess, core: CoreResources): void {
  const { stateTable, idempotencyTable, dataBucket } = core.storage;
  core.key.grantDataUse(fn);
  // The index is named, so the grant needs no `index/*` wildcard.
  grantOn(fn, STATE_TABLE_ACTIONS, [stateTable.tableArn, `${stateTable.tableArn}/index/gsi1`]);
  if (access.idempotency) grantOn(fn, IDEMPOTENCY_TABLE_ACTIONS, [idempotencyTable.tableArn]);
  if (access.putEvents) core.bus.grantPutEventsTo(fn);
  if (access.maskKey) core.maskKey.grantRead(fn);
  const objects = access.objects ?? {};
  if (objects.list) grantOn(fn, ['s3:ListBucket'], [dataBucket.bucketArn]);
  const byAction: ReadonlyArray<readonly [string, readonly string[] | undefined]> = [
    ['s3:GetObject', objects.get],
    ['s3:PutObject', objects.put],
    ['s3:DeleteObject', objects.delete],
  ];
  for (const [action, prefixes] of byAction) {
    if (!prefixes?.length) continue;
    const arns = prefixes.map((prefix) => dataBucket.arnForObjects(`${prefix}*`));
    grantOn(fn, [action], arns);
    for (const arn of arns)
      acknowledgeWildcardResource(
        fn.executionRole,
        arn,
        'Objects under this data bucket prefix are named per run, message and record at run time; the grant is limited to the prefix.',
      );
  }
}

/**
 * The pipelines whose queues and runs the shared function `name` reaches: every pipeline of the
 * stage by the naming pattern when it serves them all or the pipelines deploy apart (which ones
 * there are is known at run time only), else those it serves by name (the webhook only those
 * that take webhooks; apart none, their queues' policies admit it).
 */
function servedPipelineNames(core: CoreResources, name: SharedFunctionName): string[] {
  const access = FUNCTION_ACCESS[name];
  // Apart, the load queue of each pipeline that takes webhooks admits the webhook (SyncPipeline).
  if (pipelinesApart(core)) return access.webhookPipelinesOnly ? [] : [EVERY_PIPELINE];
  const served = core.pipelines.filter(
    (p) => servesPipeline(core, name, p) && (!access.webhookPipelinesOnly || p.triggers.webhook),
  );
  if (served.length > 0 && served.length === core.pipelines.length) return [EVERY_PIPELINE];
  return served.map((p) => p.name);
}

/** The functions every pipeline shares, named `esync-<stage>-core-<function>`. */
export class CoreFunctions extends Construct {
  readonly functions: Readonly<Record<SharedFunctionName, EsyncFunction>>;

  constructor(scope: Construct, id: string, core: CoreResources) {
    super(scope, id);
    const entries = (Object.keys(SHARED_FUNCTION_SETTINGS) as SharedFunctionName[]).map((name) => {
      const fn = createEsyncFunction(this, pascalCase(name), core, {
        ...SHARED_FUNCTION_SETTINGS[name],
        handlerName: name,
        functionName: resourceName(core.stage, CORE, name),
        pipelines: core.pipelines.filter((p) => servesPipeline(core, name, p)),
      });
      grantPipelineResources(fn, FUNCTION_ACCESS[name], core.stage, servedPipelineNames(core, name));
      if (pipelinesApart(core) && reachesPipelineData(FUNCTION_ACCESS[name]))
        assumeAccessRoles(fn, core.stage, name);
      return [name, fn] as const;
    });
    this.functions = Object.fromEntries(entries) as Record<SharedFunctionName, EsyncFunction>;
  }

  /** The task functions of a pipeline's state machine. */
  phaseFunctions(): PhaseFunctions {
    const f = this.functions;
    return {
      discover: f.discover,
      plan: f.plan,
      extract: f.extract,
      awaitLoad: f['await-load'],
      verify: f.verify,
      cleanup: f.cleanup,
      recordFailure: f['record-failure'],
    };
  }
}

/** `await-load` → `AwaitLoad`, for construct ids. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

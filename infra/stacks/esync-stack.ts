import { Aws, CfnOutput, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  CORE,
  eventBusName,
  idempotencyTableName,
  resourceName,
  type Stage,
  stateTableName,
} from '../../shared/naming.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import type { CatalogMode } from '../../shared/pipeline/catalog-source.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { AlarmTopic } from '../constructs/alarm-topic.ts';
import { AlertWebhooks } from '../constructs/alert-webhooks.ts';
import { CoreFunctions, type CoreResources, pascalCase } from '../constructs/core-functions.ts';
import { DatabaseNetwork, DatabasePorts } from '../constructs/database-network.ts';
import { EncryptionKey } from '../constructs/encryption-key.ts';
import { EventBus } from '../constructs/event-bus.ts';
import { HttpApi } from '../constructs/http-api.ts';
import { EVERY_PIPELINE, pipelineResourceArns } from '../constructs/pipeline-resource-grants.ts';
import { RunEndRoute } from '../constructs/run-end-route.ts';
import { StageAlertEmails } from '../constructs/stage-alert-emails.ts';
import { Storage } from '../constructs/storage.ts';
import { SyncPipeline } from '../constructs/sync-pipeline.ts';
import type { BundledExtension } from '../extensions.ts';
import { checkPipelineNetworks, databasePorts, type StageNetworks, stageNetworks } from '../network.ts';
import {
  apiThrottles,
  STACK_LAYOUTS,
  type StackLayout,
  secretsMaxAgeSeconds,
  stageAlerts,
  stageSettings,
  stageTracing,
} from '../stage.ts';

export interface EsyncStackProps extends StackProps {
  readonly stage: Stage;
  /** Validated pipelines (shared/pipeline/load.ts). */
  readonly pipelines: readonly Pipeline[];
  /**
   * Bundle the functions with esbuild; off, they deploy a stub (template-only tests).
   * @default true
   */
  readonly bundle?: boolean;
  /**
   * Extension modules (shared/extensions/load.ts), each bundled into the functions that run what it
   * registers.
   * @default - none
   */
  readonly extensions?: readonly BundledExtension[];
  /**
   * `per-pipeline`: this stack holds what the pipelines share and each pipeline gets a stack of
   * its own, `<id>-<pipeline>`, so a stage holds hundreds of pipelines under CloudFormation's 500
   * resources per stack, and adding, changing or removing a pipeline deploys its stack alone.
   * `single`: this stack holds everything (the local stack, most template tests, and a small
   * stage that prefers one stack: about 17 pipelines fit).
   * @default 'per-pipeline'
   */
  readonly layout?: StackLayout;
  /**
   * Where the shared functions find the stage's pipelines. `parameters`: each pipeline publishes
   * its validated definition as the SSM parameter `/esync/<stage>/pipelines/<pipeline>`, and the
   * shared functions read that path at run time (`ssm:GetParametersByPath` on it alone), so a
   * pipeline deployed, changed or removed reaches them without a redeploy of theirs. `baked`: the
   * catalog is bundled into them. The per-pipeline layout takes `parameters` only (a baked
   * catalog would change the shared stack with every pipeline); `single` takes either (the local
   * stack runs both).
   * @default - `parameters` with the per-pipeline layout, `baked` with the single one
   */
  readonly catalog?: CatalogMode;
}

/** What the stack builds before the functions: key, tables and bucket, bus, alarm topic, mask key. */
interface SharedStorage {
  readonly key: EncryptionKey;
  readonly storage: Storage;
  readonly bus: events.IEventBus;
  readonly alarms: AlarmTopic;
  readonly maskKey: secretsmanager.Secret;
}

/** One stage of ESync: the shared resources, then one {@link SyncPipeline} per pipeline. */
export class EsyncStack extends Stack {
  readonly pipelines: ReadonlyMap<string, SyncPipeline>;

  constructor(scope: Construct, id: string, props: EsyncStackProps) {
    super(scope, id, props);
    checkPipelineNames(props.pipelines);
    const shared = this.sharedStorage(props);
    const resources = this.coreResources(props, shared);
    const functions = new CoreFunctions(this, 'Functions', resources);
    const api = new HttpApi(this, 'Http', {
      apiName: resourceName(props.stage, CORE, 'api'),
      webhookFunction: functions.functions.webhook,
      managementFunction: functions.functions.api,
      throttles: apiThrottles(resources.settings.throttles, (key) => this.node.tryGetContext(key)),
      logKey: shared.key.key,
      logRetention: resources.settings.logRetention,
      removalPolicy: resources.settings.dataRemovalPolicy,
    });
    this.pipelines = this.addPipelines(scope, props, resources, functions, shared.alarms);
    if (pipelinesInOwnStacks(props)) this.addDatabasePorts(scope, props, resources);
    this.addAlerting(props, resources, functions, shared.alarms);
    this.addOutputs(api, shared);
  }

  /** The stage key, the state and idempotency tables with the data bucket, the bus, the alarm topic and the mask key. */
  private sharedStorage(props: EsyncStackProps): SharedStorage {
    const settings = stageSettings(props.stage);
    const core = (role: string) => resourceName(props.stage, CORE, role);
    const key = new EncryptionKey(this, 'Encryption', {
      aliasName: core('key'),
      removalPolicy: settings.dataRemovalPolicy,
    });
    const storage = new Storage(this, 'Storage', {
      stateTableName: stateTableName(props.stage),
      idempotencyTableName: idempotencyTableName(props.stage),
      encryptionKey: key.key,
      removalPolicy: settings.dataRemovalPolicy,
      deletionProtection: settings.tableDeletionProtection,
    });
    const { bus } = new EventBus(this, 'Events', {
      busName: eventBusName(props.stage),
      archiveName: core('archive'),
    });
    const alarms = new AlarmTopic(this, 'Alarms', { topicName: core('alarms'), encryptionKey: key });
    const maskKey = new secretsmanager.Secret(this, 'MaskKey', {
      secretName: core('mask-key'),
      description: 'Key of the keyed hash that masks fields (mask: hash); never logged.',
      // The Secrets Manager managed key: the stage key would need kms:GenerateDataKey* and
      // kms:ReEncrypt* in its policy for the service, and this secret is read by two functions.
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: settings.dataRemovalPolicy,
    });
    Validations.of(maskKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the mask key changes the hash of every masked value, breaking joins on them; re-keying is a deliberate operation done with a full reload, not a schedule.',
    });
    return { key, storage, bus, alarms, maskKey };
  }

  /** What every function is built from: the shared storage, the networks, the alerts and the environment. */
  private coreResources(props: EsyncStackProps, shared: SharedStorage): CoreResources {
    const { stage } = props;
    const defaults = stageSettings(stage);
    const settings = {
      ...defaults,
      tracing: stageTracing(defaults.tracing, (key) => this.node.tryGetContext(key)),
    };
    const networks = stageNetworks(stage, this.node.tryGetContext('network'));
    checkPipelineNetworks(networks, props.pipelines);
    const apart = pipelinesInOwnStacks(props);
    const baked = catalogMode(props) === 'baked';
    return {
      pipelines: props.pipelines,
      pipelineNetworks: networks.pipelines,
      alerts: stageAlerts(stage, this.node.tryGetContext('alerts')),
      ...(networks.stage && {
        network: new DatabaseNetwork(this, 'Network', {
          network: networks.stage,
          // Apart, the pipelines' ports are opened by a stack of their own (addDatabasePorts).
          databasePorts: apart
            ? (networks.stage.databasePorts ?? [])
            : databasePorts(networks.stage, stageServedPipelines(props.pipelines, networks)),
        }),
      }),
      stage,
      settings,
      key: shared.key,
      storage: shared.storage,
      bus: shared.bus,
      maskKey: shared.maskKey,
      pipelinesApart: apart,
      // Else the shared functions read the pipelines from the parameters each pipeline publishes.
      ...(baked && { pipelineCatalog: serializeCatalog(props.pipelines) }),
      bundle: props.bundle ?? true,
      extensions: props.extensions ?? [],
      environment: this.functionEnvironment(stage, shared),
    };
  }

  /**
   * The variables shared/config.ts reads. Queue URLs and state machine ARNs are derived from
   * their prefixes and the naming pattern, so no per-pipeline map travels in them.
   */
  private functionEnvironment(stage: Stage, shared: SharedStorage): Record<string, string> {
    const { storage, bus, maskKey } = shared;
    return {
      ESYNC_STAGE: stage,
      ESYNC_STATE_TABLE: storage.stateTable.tableName,
      ESYNC_IDEMPOTENCY_TABLE: storage.idempotencyTable.tableName,
      ESYNC_DATA_BUCKET: storage.dataBucket.bucketName,
      ESYNC_EVENT_BUS: bus.eventBusName,
      ESYNC_MASK_KEY_SECRET: maskKey.secretName,
      ESYNC_SECRETS_MAX_AGE_SECONDS: String(
        secretsMaxAgeSeconds(stageSettings(stage).secretsMaxAgeSeconds, (key) =>
          this.node.tryGetContext(key),
        ),
      ),
      ESYNC_QUEUE_URL_PREFIX: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/`,
      ESYNC_STATE_MACHINE_ARN_PREFIX: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:`,
    };
  }

  /** One {@link SyncPipeline} per pipeline, here or in a stack of its own, with its outputs. */
  private addPipelines(
    scope: Construct,
    props: EsyncStackProps,
    resources: CoreResources,
    functions: CoreFunctions,
    alarms: AlarmTopic,
  ): Map<string, SyncPipeline> {
    const pipelines = new Map<string, SyncPipeline>();
    for (const pipeline of props.pipelines) {
      const id = pascalCase(pipeline.name);
      const host = pipelinesInOwnStacks(props) ? this.pipelineStack(scope, pipeline.name, props) : this;
      const built = new SyncPipeline(host, `Pipeline${id}`, {
        pipeline,
        core: resources,
        coreFunctions: functions,
        alarmTopic: alarms.topic,
      });
      pipelines.set(pipeline.name, built);
      new CfnOutput(host, `StateMachineArn${id}`, {
        value: built.syncStateMachine.stateMachine.stateMachineArn,
      });
      new CfnOutput(host, `LoadQueueUrl${id}`, { value: built.queues.loadQueue.queueUrl });
    }
    return pipelines;
  }

  /**
   * Apart, the database ports of the pipelines in the stage's network, opened on the shared
   * functions' group from the stack `<this stack's id>-core-network` ({@link DatabasePorts}); the
   * group's id is exported whatever the pipelines are, so this stack does not change with them.
   * No such stack when the network names its ports (this stack opens them) or no pipeline in it
   * connects to a database.
   */
  private addDatabasePorts(scope: Construct, props: EsyncStackProps, resources: CoreResources): void {
    const network = resources.network;
    if (!network) return;
    const exportName = `${this.stackName}-database-functions-group`;
    new CfnOutput(this, 'DatabaseFunctionsGroupId', {
      value: network.functionsGroup.securityGroupId,
      description: 'Security group of the functions that connect to databases',
      exportName,
    });
    const networks = { stage: network.network, pipelines: resources.pipelineNetworks };
    const ports = databasePorts(network.network, stageServedPipelines(props.pipelines, networks));
    if (network.network.databasePorts || ports.length === 0) return;
    const stack = new Stack(scope, `${this.stackName}-${CORE_NETWORK}`, {
      ...(props.env && { env: props.env }),
      description: `ESync (${props.stage}) database ports of the pipelines in the stage network`,
    });
    stack.addStackDependency(this, 'the rules belong to the shared functions’ security group');
    new DatabasePorts(stack, 'DatabasePorts', {
      network: network.network,
      functionsGroupId: Fn.importValue(exportName),
      databasePorts: ports,
    });
  }

  /** The run-ends route, and whoever hears about alarms: the stage's emails, the chat webhooks. */
  private addAlerting(
    props: EsyncStackProps,
    resources: CoreResources,
    functions: CoreFunctions,
    alarms: AlarmTopic,
  ): void {
    const core = (role: string) => resourceName(props.stage, CORE, role);
    new RunEndRoute(this, 'RunEnds', {
      ruleName: core('run-ends'),
      deadLetterQueueName: core('run-ends-dlq'),
      stateMachineArnPattern: pipelineResourceArns(props.stage, EVERY_PIPELINE).stateMachine,
      handler: functions.functions['run-ended'],
      encryptionKey: resources.key,
    });
    const { notify } = resources.alerts;
    if (notify.emails.length > 0)
      new StageAlertEmails(this, 'StageAlertEmails', { alarmTopic: alarms.topic, emails: notify.emails });
    const webhooks = [...notify.webhooks, ...props.pipelines.flatMap((p) => p.alerts.notify.webhooks)];
    // Apart, the formatter is there whatever the pipelines say, so no pipeline's webhooks change this stack.
    if (webhooks.length > 0 || pipelinesInOwnStacks(props))
      new AlertWebhooks(this, 'AlertWebhooks', {
        core: resources,
        alarmTopic: alarms.topic,
        pipelines: props.pipelines.map((pipeline) => ({
          pipeline,
          alarms: this.pipelines.get(pipeline.name)?.observability.alarms ?? [],
        })),
      });
  }

  private addOutputs(api: HttpApi, { storage, bus, alarms }: SharedStorage): void {
    new CfnOutput(this, 'ApiUrl', {
      value: api.url,
      description: 'Base URL of the webhook and management API',
    });
    new CfnOutput(this, 'StateTableName', { value: storage.stateTable.tableName });
    new CfnOutput(this, 'DataBucketName', { value: storage.dataBucket.bucketName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
  }

  /**
   * The template with its outputs in name order. CDK adds an output per value a pipeline's stack
   * reads from this one (weak references) in the order it resolves them, which varies with what
   * the process synthesized before: sorted, the shared template stays byte-identical.
   */
  protected override _toCloudFormation(): Record<string, unknown> {
    const template = super._toCloudFormation() as Record<string, unknown>;
    const outputs = template.Outputs as Record<string, unknown> | undefined;
    if (outputs)
      template.Outputs = Object.fromEntries(Object.entries(outputs).sort(([a], [b]) => a.localeCompare(b)));
    return template;
  }

  /** The stack of one pipeline, `<this stack's id>-<pipeline>`, deployed after this one. */
  private pipelineStack(scope: Construct, pipeline: string, props: EsyncStackProps): Stack {
    const stack = new Stack(scope, `${this.stackName}-${pipeline}`, {
      ...(props.env && { env: props.env }),
      description: `ESync (${props.stage}) pipeline ${pipeline}`,
    });
    stack.addStackDependency(this, 'the pipeline uses the shared resources and functions');
    return stack;
  }
}

/** Whether each pipeline gets a stack of its own (the default layout). */
function pipelinesInOwnStacks(props: EsyncStackProps): boolean {
  return (props.layout ?? STACK_LAYOUTS[0]) === 'per-pipeline';
}

/**
 * Where the shared functions find the pipelines: see EsyncStackProps.catalog.
 * @throws Error when the per-pipeline layout is asked for a baked catalog.
 */
function catalogMode(props: EsyncStackProps): CatalogMode {
  const apart = pipelinesInOwnStacks(props);
  const mode = props.catalog ?? (apart ? 'parameters' : 'baked');
  if (apart && mode === 'baked')
    throw new Error(
      'catalog "baked" needs layout "single": with a stack per pipeline the shared functions read the pipelines from SSM parameters (catalog "parameters")',
    );
  return mode;
}

/** The suffix of the stack that opens a stage's database ports when pipelines deploy apart. */
const CORE_NETWORK = `${CORE}-network`;

/** The pipelines whose databases the stage's network reaches: those without a network of their own. */
function stageServedPipelines(pipelines: readonly Pipeline[], networks: StageNetworks): Pipeline[] {
  return pipelines.filter((p) => !networks.pipelines.has(p.name));
}

/**
 * @throws Error when a pipeline takes a reserved name or two share one.
 */
function checkPipelineNames(pipelines: readonly Pipeline[]): void {
  const names = pipelines.map((p) => p.name);
  for (const reserved of [CORE, CORE_NETWORK])
    if (names.includes(reserved))
      throw new Error(
        `a pipeline may not be named "${reserved}": the name is reserved for the resources all pipelines share`,
      );
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`pipeline name "${twice}" is used twice`);
}

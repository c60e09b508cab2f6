import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  ownedTargetTableName,
  pipelineParameterName,
  resourceName,
  stateMachineName,
} from '../../shared/naming.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { databasePorts } from '../network.ts';
import { type AccessGrantee, createAccessRole, reachesPipelineData, sharedRoleArn } from './access-roles.ts';
import { CdcRoute } from './cdc-route.ts';
import {
  type CoreFunctions,
  type CoreResources,
  createEsyncFunction,
  PIPELINE_PHASES,
  pascalCase,
  pipelinesApart,
  SHARED_FUNCTION_SETTINGS,
  type SharedFunctionName,
  servesPipeline,
} from './core-functions.ts';
import { DatabaseNetwork } from './database-network.ts';
import type { EsyncFunction } from './esync-function.ts';
import { FUNCTION_ACCESS, type FunctionAccess } from './function-access.ts';
import { LoadConsumer } from './load-consumer.ts';
import { PipelineObservability } from './observability.ts';
import { PipelineAccess } from './pipeline-access.ts';
import { PipelineQueues } from './pipeline-queues.ts';
import { grantPipelineResources } from './pipeline-resource-grants.ts';
import { PipelineSchedule } from './schedule.ts';
import { type PhaseFunctions, SyncStateMachine } from './sync-state-machine.ts';

export interface SyncPipelineProps {
  readonly pipeline: Pipeline;
  readonly core: CoreResources;
  readonly coreFunctions: CoreFunctions;
  readonly alarmTopic: sns.ITopic;
}

/**
 * Everything one pipeline adds: its queues, its Load function and event source, the target table
 * ESync owns (DynamoDB targets that name none), its state machine, schedule, CDC route, alarms and
 * dashboard, and the shared functions' access to all of it.
 */
export class SyncPipeline extends Construct {
  readonly queues: PipelineQueues;
  readonly loadFunction: EsyncFunction;
  readonly syncStateMachine: SyncStateMachine;
  readonly targetTable?: dynamodb.Table;
  readonly cdcRoute?: CdcRoute;
  readonly schedule?: PipelineSchedule;
  readonly observability: PipelineObservability;
  /** The database-facing phase functions of a pipeline with a network of its own. */
  readonly ownFunctions: Partial<Record<(typeof PIPELINE_PHASES)[number], EsyncFunction>> = {};
  readonly #network?: DatabaseNetwork;

  constructor(scope: Construct, id: string, props: SyncPipelineProps) {
    super(scope, id);
    const { pipeline, core } = props;
    const ownNetwork = core.pipelineNetworks.get(pipeline.name);
    if (ownNetwork)
      this.#network = new DatabaseNetwork(this, 'Network', {
        network: ownNetwork,
        databasePorts: databasePorts(ownNetwork, [pipeline]),
      });
    const loadTimeout = Duration.seconds(pipeline.load.timeoutSeconds);
    this.queues = new PipelineQueues(this, 'Queues', {
      stage: core.stage,
      pipeline,
      loadTimeout,
      encryptionKey: core.key,
      deadLetterRemovalPolicy: core.settings.dataRemovalPolicy,
    });
    if (pipeline.target.type === 'dynamodb' && pipeline.target.table === undefined)
      this.targetTable = this.ownedTargetTable(props);
    const access = new PipelineAccess(this, 'Access', {
      pipeline,
      dataBucket: core.storage.dataBucket,
      ownedTargetTable: this.targetTable,
    });
    this.loadFunction = this.addLoad(props, loadTimeout);
    this.syncStateMachine = this.addStateMachine(props);
    this.grantPipelineAccess(props, access);
    if (core.pipelineCatalog === undefined) publishPipeline(this, core.stage, pipeline);
    const triggers = this.addTriggers(props);
    this.schedule = triggers.schedule;
    this.cdcRoute = triggers.cdcRoute;
    this.observability = new PipelineObservability(this, 'Observability', {
      stage: core.stage,
      pipeline,
      loadQueue: this.queues.loadQueue,
      deadLetterQueue: this.queues.deadLetterQueue,
      cdcDeadLetterQueue: this.cdcRoute?.deadLetterQueue,
      loadFunction: this.loadFunction,
      stateMachine: this.syncStateMachine.stateMachine,
      alarmTopic: props.alarmTopic,
      stageTopics: core.alerts.notify.snsTopics,
    });
  }

  /** The target table ESync owns for a DynamoDB target that names none. */
  private ownedTargetTable({ pipeline, core }: SyncPipelineProps): dynamodb.Table {
    if (pipeline.target.type !== 'dynamodb')
      throw new Error(`pipeline "${pipeline.name}": only a DynamoDB target has a table ESync owns`);
    return new dynamodb.Table(this, 'TargetTable', {
      tableName: ownedTargetTableName(core.stage, pipeline.name),
      partitionKey: { name: pipeline.target.keyAttribute, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: core.key.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: core.settings.dataRemovalPolicy,
      deletionProtection: core.settings.tableDeletionProtection,
    });
  }

  /**
   * One Load function per pipeline: its timeout is the pipeline's, and it may write this
   * pipeline's target only. The event source caps its concurrency.
   */
  private addLoad({ pipeline, core }: SyncPipelineProps, loadTimeout: Duration): EsyncFunction {
    const placed = this.placedIn(core);
    const loadFunction = createEsyncFunction(this, 'LoadFunction', placed, {
      handlerName: 'load',
      functionName: resourceName(core.stage, pipeline.name, 'load-fn'),
      description: `Load: writes ${pipeline.name} messages to its target`,
      timeout: loadTimeout,
      memorySize: 1024,
      pipelines: [pipeline],
      ownCatalog: serializeCatalog([pipeline]),
    });
    new LoadConsumer(this, 'LoadConsumer', {
      pipeline,
      loadQueue: this.queues.loadQueue,
      loadFunction,
      ...(placed.network ? { placement: placed.network.placement } : {}),
    });
    return loadFunction;
  }

  /** The run's state machine, over the shared phase functions or the pipeline's own. */
  private addStateMachine(props: SyncPipelineProps): SyncStateMachine {
    const { pipeline, core } = props;
    const own = this.ownPhaseFunctions(this.#network, props);
    const machine = new SyncStateMachine(this, 'Run', {
      pipeline,
      stateMachineName: stateMachineName(core.stage, pipeline.name),
      functions: { ...props.coreFunctions.phaseFunctions(), ...own },
      dataBucket: core.storage.dataBucket,
      logKey: core.key.key,
      logRetention: core.settings.logRetention,
      removalPolicy: core.settings.dataRemovalPolicy,
    });
    // The Distributed Map reads the plan's manifest, which is encrypted with the stage key.
    core.key.grantDecrypt(machine.stateMachine);
    return machine;
  }

  /**
   * The pipeline's source, target and secrets to the functions that use them: its own functions,
   * and the shared ones directly in one stack, or apart through an access role each in this
   * pipeline's stack (access-roles.ts), so the shared stack holds no grant of any pipeline. Its
   * queues, dead letters and runs go to its own functions by name (the shared ones have them by
   * the naming pattern, CoreFunctions; apart, the webhook by the load queue's policy).
   */
  private grantPipelineAccess(props: SyncPipelineProps, access: PipelineAccess): void {
    const { pipeline, core } = props;
    const grant = (to: AccessGrantee, a: FunctionAccess) => {
      if (a.source) access.grantSourceRead(to);
      if (a.rereadSource) access.grantSourceRereads(to);
      if (a.target) access.grantTarget(to, a.target);
      if (a.webhookSecrets) access.grantWebhookSecret(to);
    };
    const ownFunctions: Array<[EsyncFunction, FunctionAccess]> = [
      [this.loadFunction, FUNCTION_ACCESS.load],
      ...Object.entries(this.ownFunctions).map(
        ([fnName, fn]) =>
          [fn, FUNCTION_ACCESS[fnName as SharedFunctionName]] as [EsyncFunction, FunctionAccess],
      ),
    ];
    for (const [fn, a] of ownFunctions) {
      grant(fn, a);
      grantPipelineResources(fn, a, core.stage, [pipeline.name]);
    }
    for (const [fnName, fn] of Object.entries(props.coreFunctions.functions)) {
      const name = fnName as SharedFunctionName;
      const a = FUNCTION_ACCESS[name];
      if (!servesPipeline(core, name, pipeline) || (a.webhookPipelinesOnly && !pipeline.triggers.webhook))
        continue;
      if (!pipelinesApart(core)) {
        grant(fn, a);
        continue;
      }
      if (a.webhookPipelinesOnly && a.sendToQueues) this.queues.admitSender(sharedRoleArn(core.stage, name));
      if (reachesPipelineData(a)) {
        const role = createAccessRole(this, `${pascalCase(name)}Access`, {
          stage: core.stage,
          pipeline: pipeline.name,
          name,
        });
        // Targets and archives in the data bucket and the owned table are under the stage key.
        core.key.grantDataUse(role);
        grant(role, a);
      }
    }
    // The alert formatter posts this pipeline's alarms to its chat webhooks (AlertWebhooks).
    if (pipelinesApart(core) && pipeline.alerts.notify.webhooks.length > 0)
      access.grantAlertWebhookSecrets(
        createAccessRole(this, 'AlertWebhookAccess', {
          stage: core.stage,
          pipeline: pipeline.name,
          name: 'alert-webhook',
        }),
      );
  }

  /** What starts a run or feeds the load queue: the schedule, the CDC route. */
  private addTriggers({ pipeline, core }: SyncPipelineProps): {
    schedule?: PipelineSchedule;
    cdcRoute?: CdcRoute;
  } {
    const name = (role: string) => resourceName(core.stage, pipeline.name, role);
    const { schedule, cdc } = pipeline.triggers;
    return {
      ...(schedule && {
        schedule: new PipelineSchedule(this, 'Schedule', {
          ruleName: name('schedule'),
          expression: schedule,
          stateMachine: this.syncStateMachine.stateMachine,
          pipelineName: pipeline.name,
        }),
      }),
      ...(cdc && {
        cdcRoute: new CdcRoute(this, 'CdcRoute', {
          ruleName: name('cdc-rule'),
          deadLetterQueueName: name('cdc-dlq'),
          pipelineName: pipeline.name,
          bus: core.bus,
          eventPattern: cdc.pattern,
          loadQueue: this.queues.loadQueue,
          encryptionKey: core.key,
        }),
      }),
    };
  }

  /** The core resources with this pipeline's own network, when it has one. */
  private placedIn(core: CoreResources): CoreResources {
    return this.#network ? { ...core, network: this.#network } : core;
  }

  /**
   * The phase functions a pipeline with a network of its own runs in it, named
   * `esync-<stage>-<pipeline>-<phase>-fn`; none when it shares the stage's.
   */
  private ownPhaseFunctions(
    network: DatabaseNetwork | undefined,
    props: SyncPipelineProps,
  ): Partial<PhaseFunctions> {
    if (!network) return {};
    const { pipeline, core } = props;
    const own = this.ownFunctions as Record<(typeof PIPELINE_PHASES)[number], EsyncFunction>;
    for (const phase of PIPELINE_PHASES)
      own[phase] = createEsyncFunction(this, `${pascalCase(phase)}Function`, this.placedIn(core), {
        ...SHARED_FUNCTION_SETTINGS[phase],
        handlerName: phase,
        functionName: resourceName(core.stage, pipeline.name, `${phase}-fn`),
        pipelines: [pipeline],
        ownCatalog: serializeCatalog([pipeline]),
      });
    return own;
  }
}

/** SSM's limit for a standard parameter's value; an advanced one holds up to 8 KB. */
const STANDARD_PARAMETER_BYTES = 4096;
const ADVANCED_PARAMETER_BYTES = 8192;

/**
 * Publishes the pipeline where the shared functions read the stage's pipelines
 * (`/esync/<stage>/pipelines/<pipeline>`): deploying, changing or deleting this pipeline's stack
 * is all it takes for them to serve it, change it or forget it.
 * @throws Error naming the pipeline when its definition exceeds what one parameter holds.
 */
function publishPipeline(scope: Construct, stage: string, pipeline: Pipeline): ssm.StringParameter {
  const value = JSON.stringify(pipeline);
  const bytes = Buffer.byteLength(value);
  if (bytes > ADVANCED_PARAMETER_BYTES)
    throw new Error(
      `pipeline "${pipeline.name}": its definition is ${bytes} bytes as JSON, more than the ${ADVANCED_PARAMETER_BYTES} an SSM parameter holds`,
    );
  return new ssm.StringParameter(scope, 'Definition', {
    parameterName: pipelineParameterName(stage, pipeline.name),
    description: `ESync pipeline ${pipeline.name}, validated, as the shared functions read it`,
    stringValue: value,
    tier: bytes > STANDARD_PARAMETER_BYTES ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
  });
}

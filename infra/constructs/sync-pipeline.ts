import { Arn, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ownedTargetTableName, resourceName, stateMachineName } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { CdcRoute } from './cdc-route.ts';
import {
  type CoreFunctions,
  type CoreResources,
  createEsyncFunction,
  PIPELINE_PHASES,
  pascalCase,
  SHARED_FUNCTION_SETTINGS,
  type SharedFunctionName,
  servesPipeline,
} from './core-functions.ts';
import type { DatabaseNetwork } from './database-network.ts';
import type { EsyncFunction } from './esync-function.ts';
import { FUNCTION_ACCESS, type FunctionAccess, grantOn } from './function-access.ts';
import { LoadConsumer } from './load-consumer.ts';
import { PipelineObservability } from './observability.ts';
import { PipelineAccess } from './pipeline-access.ts';
import { PipelineQueues } from './pipeline-queues.ts';
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
    const { stage } = core;
    this.#network = core.pipelineNetworks.get(pipeline.name);
    const name = (role: string) => resourceName(stage, pipeline.name, role);
    const loadTimeout = Duration.seconds(pipeline.load.timeoutSeconds);

    this.queues = new PipelineQueues(this, 'Queues', {
      stage,
      pipeline,
      loadTimeout,
      encryptionKey: core.key,
      deadLetterRemovalPolicy: core.settings.dataRemovalPolicy,
    });
    if (pipeline.target.type === 'dynamodb' && pipeline.target.table === undefined)
      this.targetTable = new dynamodb.Table(this, 'TargetTable', {
        tableName: ownedTargetTableName(stage, pipeline.name),
        partitionKey: { name: pipeline.target.keyAttribute, type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: core.key.key,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy: core.settings.dataRemovalPolicy,
        deletionProtection: core.settings.tableDeletionProtection,
      });
    const access = new PipelineAccess(this, 'Access', {
      pipeline,
      dataBucket: core.storage.dataBucket,
      ownedTargetTable: this.targetTable,
    });

    // One Load function per pipeline: its timeout is the pipeline's, and it may write this
    // pipeline's target only. The event source caps its concurrency.
    this.loadFunction = createEsyncFunction(this, 'LoadFunction', this.placedIn(core), {
      handlerName: 'load',
      functionName: name('load-fn'),
      description: `Load: writes ${pipeline.name} messages to its target`,
      timeout: loadTimeout,
      memorySize: 1024,
      pipelines: [pipeline],
    });
    new LoadConsumer(this, 'LoadConsumer', {
      pipeline,
      loadQueue: this.queues.loadQueue,
      loadFunction: this.loadFunction,
    });

    const own = this.ownPhaseFunctions(core.pipelineNetworks.get(pipeline.name), props);
    this.syncStateMachine = new SyncStateMachine(this, 'Run', {
      pipeline,
      stateMachineName: stateMachineName(stage, pipeline.name),
      functions: { ...props.coreFunctions.phaseFunctions(), ...own },
      dataBucket: core.storage.dataBucket,
      logKey: core.key.key,
      logRetention: core.settings.logRetention,
      removalPolicy: core.settings.dataRemovalPolicy,
    });
    // The Distributed Map reads the plan's manifest, which is encrypted with the stage key.
    core.key.grantDecrypt(this.syncStateMachine.stateMachine);

    const grant = (fn: EsyncFunction, a: FunctionAccess) => {
      if (a.webhookPipelinesOnly && !pipeline.triggers.webhook) return;
      if (a.source) access.grantSourceRead(fn);
      if (a.target) access.grantTarget(fn, a.target);
      if (a.webhookSecrets) access.grantWebhookSecret(fn);
      if (a.sendToQueues) this.queues.grantSend(fn);
      if (a.inspectQueues) this.queues.grantInspect(fn);
      if (a.handleDeadLetters) this.queues.grantDeadLetterHandling(fn);
      if (a.startRuns) {
        const machine = this.syncStateMachine.stateMachine;
        machine.grantStartExecution(fn);
        // Execution names are run ids made at run time: the grant is limited to this machine's executions.
        const executions = Arn.format(
          {
            service: 'states',
            resource: 'execution',
            resourceName: `${machine.stateMachineName}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          },
          Stack.of(this),
        );
        grantOn(fn, ['states:GetExecutionHistory', 'states:DescribeExecution'], [executions]);
        acknowledgeWildcardResource(
          fn.executionRole,
          executions,
          'Runs are executions named by their run id at run time; the grant covers only this pipeline’s state machine.',
        );
      }
    };
    grant(this.loadFunction, FUNCTION_ACCESS.load);
    for (const [fnName, fn] of Object.entries(this.ownFunctions))
      grant(fn, FUNCTION_ACCESS[fnName as SharedFunctionName]);
    for (const [fnName, fn] of Object.entries(props.coreFunctions.functions))
      if (servesPipeline(core, fnName as SharedFunctionName, pipeline))
        grant(fn, FUNCTION_ACCESS[fnName as SharedFunctionName]);

    const { schedule, cdc } = pipeline.triggers;
    if (schedule)
      this.schedule = new PipelineSchedule(this, 'Schedule', {
        ruleName: name('schedule'),
        expression: schedule,
        stateMachine: this.syncStateMachine.stateMachine,
        pipelineName: pipeline.name,
      });
    if (cdc)
      this.cdcRoute = new CdcRoute(this, 'CdcRoute', {
        ruleName: name('cdc-rule'),
        deadLetterQueueName: name('cdc-dlq'),
        pipelineName: pipeline.name,
        bus: core.bus,
        eventPattern: cdc.pattern,
        loadQueue: this.queues.loadQueue,
        encryptionKey: core.key,
      });

    this.observability = new PipelineObservability(this, 'Observability', {
      stage,
      pipeline,
      loadQueue: this.queues.loadQueue,
      deadLetterQueue: this.queues.deadLetterQueue,
      cdcDeadLetterQueue: this.cdcRoute?.deadLetterQueue,
      loadFunction: this.loadFunction,
      stateMachine: this.syncStateMachine.stateMachine,
      alarmTopic: props.alarmTopic,
    });
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
      });
    return own;
  }
}

import { Aws, CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
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
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { AlarmTopic } from '../constructs/alarm-topic.ts';
import { AlertWebhooks } from '../constructs/alert-webhooks.ts';
import { CoreFunctions, type CoreResources, pascalCase } from '../constructs/core-functions.ts';
import { DatabaseNetwork } from '../constructs/database-network.ts';
import { EncryptionKey } from '../constructs/encryption-key.ts';
import { EventBus } from '../constructs/event-bus.ts';
import { HttpApi } from '../constructs/http-api.ts';
import { EVERY_PIPELINE, pipelineResourceArns } from '../constructs/pipeline-resource-grants.ts';
import { RunEndRoute } from '../constructs/run-end-route.ts';
import { StageAlertEmails } from '../constructs/stage-alert-emails.ts';
import { Storage } from '../constructs/storage.ts';
import { SyncPipeline } from '../constructs/sync-pipeline.ts';
import { checkPipelineNetworks, databasePorts, stageNetworks } from '../network.ts';
import { apiThrottles, secretsMaxAgeSeconds, stageAlerts, stageSettings } from '../stage.ts';

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
   * `single`: this stack holds everything (the local stack and the template tests read one
   * template). `per-pipeline`: this stack holds what the pipelines share and each pipeline gets a
   * stack of its own, `<id>-<pipeline>`, so a stage holds hundreds of pipelines under
   * CloudFormation's 500 resources per stack, and adding or changing a pipeline leaves the other
   * pipelines' stacks as they are.
   * @default 'single'
   */
  readonly layout?: 'single' | 'per-pipeline';
}

/** One stage of ESync: the shared resources, then one {@link SyncPipeline} per pipeline. */
export class EsyncStack extends Stack {
  readonly pipelines: ReadonlyMap<string, SyncPipeline>;

  constructor(scope: Construct, id: string, props: EsyncStackProps) {
    super(scope, id, props);
    const { stage } = props;
    const perPipeline = props.layout === 'per-pipeline';
    const names = props.pipelines.map((p) => p.name);
    if (names.includes(CORE))
      throw new Error(
        `a pipeline may not be named "${CORE}": the name is reserved for the resources all pipelines share`,
      );
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new Error(`pipeline name "${twice}" is used twice`);

    const settings = stageSettings(stage);
    const core = (role: string) => resourceName(stage, CORE, role);
    const key = new EncryptionKey(this, 'Encryption', {
      aliasName: core('key'),
      removalPolicy: settings.dataRemovalPolicy,
    });
    const storage = new Storage(this, 'Storage', {
      stateTableName: stateTableName(stage),
      idempotencyTableName: idempotencyTableName(stage),
      pipelines: props.pipelines,
      encryptionKey: key.key,
      removalPolicy: settings.dataRemovalPolicy,
      deletionProtection: settings.tableDeletionProtection,
    });
    const { bus } = new EventBus(this, 'Events', {
      busName: eventBusName(stage),
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
    const networks = stageNetworks(stage, this.node.tryGetContext('network'));
    checkPipelineNetworks(networks, props.pipelines);
    const pipelineNetworks = new Map(
      [...networks.pipelines].map(([name, network]) => {
        const served = props.pipelines.filter((p) => p.name === name);
        const built = new DatabaseNetwork(this, `Network${pascalCase(name)}`, {
          network,
          databasePorts: databasePorts(network, served),
        });
        return [name, built] as const;
      }),
    );
    const stageServed = props.pipelines.filter((p) => !networks.pipelines.has(p.name));
    const alerts = stageAlerts(stage, this.node.tryGetContext('alerts'));
    const resources: CoreResources = {
      pipelines: props.pipelines,
      pipelineNetworks,
      alerts,
      ...(networks.stage && {
        network: new DatabaseNetwork(this, 'Network', {
          network: networks.stage,
          databasePorts: databasePorts(networks.stage, stageServed),
        }),
      }),
      stage,
      settings,
      key,
      storage,
      bus,
      maskKey,
      // Apart, the shared functions read the pipelines from the parameters the pipelines' stacks publish.
      ...(!perPipeline && { pipelineCatalog: serializeCatalog(props.pipelines) }),
      bundle: props.bundle ?? true,
      // Queue URLs and state machine ARNs are derived from these prefixes and the naming
      // pattern, so no per-pipeline map travels in environment variables.
      environment: {
        ESYNC_STAGE: stage,
        ESYNC_STATE_TABLE: storage.stateTable.tableName,
        ESYNC_IDEMPOTENCY_TABLE: storage.idempotencyTable.tableName,
        ESYNC_DATA_BUCKET: storage.dataBucket.bucketName,
        ESYNC_EVENT_BUS: bus.eventBusName,
        ESYNC_MASK_KEY_SECRET: maskKey.secretName,
        ESYNC_SECRETS_MAX_AGE_SECONDS: String(
          secretsMaxAgeSeconds(settings.secretsMaxAgeSeconds, (key) => this.node.tryGetContext(key)),
        ),
        ESYNC_QUEUE_URL_PREFIX: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/`,
        ESYNC_STATE_MACHINE_ARN_PREFIX: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:`,
      },
    };
    const functions = new CoreFunctions(this, 'Functions', resources);
    const api = new HttpApi(this, 'Http', {
      apiName: core('api'),
      webhookFunction: functions.functions.webhook,
      managementFunction: functions.functions.api,
      throttles: apiThrottles(settings.throttles, (key) => this.node.tryGetContext(key)),
      logKey: key.key,
      logRetention: settings.logRetention,
      removalPolicy: settings.dataRemovalPolicy,
    });

    const pipelines = new Map<string, SyncPipeline>();
    for (const pipeline of props.pipelines) {
      const id = pascalCase(pipeline.name);
      const host = perPipeline ? this.pipelineStack(scope, pipeline.name, props) : this;
      const built = new SyncPipeline(host, `Pipeline${id}`, {
        pipeline,
        core: resources,
        coreFunctions: functions,
        alarmTopic: alarms.topic,
        ...(host !== this && { sharedGrantScope: this }),
      });
      pipelines.set(pipeline.name, built);
      new CfnOutput(host, `StateMachineArn${id}`, {
        value: built.syncStateMachine.stateMachine.stateMachineArn,
      });
      new CfnOutput(host, `LoadQueueUrl${id}`, { value: built.queues.loadQueue.queueUrl });
    }
    this.pipelines = pipelines;
    new RunEndRoute(this, 'RunEnds', {
      ruleName: core('run-ends'),
      deadLetterQueueName: core('run-ends-dlq'),
      stateMachineArnPattern: pipelineResourceArns(stage, EVERY_PIPELINE).stateMachine,
      handler: functions.functions['run-ended'],
      encryptionKey: key,
    });
    if (alerts.notify.emails.length > 0)
      new StageAlertEmails(this, 'StageAlertEmails', {
        alarmTopic: alarms.topic,
        emails: alerts.notify.emails,
      });
    const webhooks = [...alerts.notify.webhooks, ...props.pipelines.flatMap((p) => p.alerts.notify.webhooks)];
    if (webhooks.length > 0)
      new AlertWebhooks(this, 'AlertWebhooks', {
        core: resources,
        alarmTopic: alarms.topic,
        pipelines: props.pipelines.map((pipeline) => ({
          pipeline,
          alarms: pipelines.get(pipeline.name)?.observability.alarms ?? [],
        })),
      });

    new CfnOutput(this, 'ApiUrl', {
      value: api.url,
      description: 'Base URL of the webhook and management API',
    });
    new CfnOutput(this, 'StateTableName', { value: storage.stateTable.tableName });
    new CfnOutput(this, 'DataBucketName', { value: storage.dataBucket.bucketName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
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

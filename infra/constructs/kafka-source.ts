import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaBase from 'aws-cdk-lib/aws-lambda';
import {
  AuthenticationMethod,
  ConfluentSchemaRegistry,
  SelfManagedKafkaEventSource,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import type { FunctionPlacement } from './database-network.ts';
import type { EsyncFunction } from './esync-function.ts';

type KafkaTrigger = NonNullable<Pipeline['triggers']['kafka']>;

export interface KafkaSourceProps {
  readonly pipeline: Pipeline;
  readonly trigger: KafkaTrigger;
  readonly loadFunction: EsyncFunction;
  /** The pipeline's VPC side: a self-managed cluster's brokers are reached from it. @default - over the internet */
  readonly placement?: FunctionPlacement;
}

const AUTHENTICATION: Readonly<
  Record<NonNullable<KafkaTrigger['authentication']>['method'], AuthenticationMethod>
> = {
  'sasl-scram-512': AuthenticationMethod.SASL_SCRAM_512_AUTH,
  'sasl-scram-256': AuthenticationMethod.SASL_SCRAM_256_AUTH,
  mtls: AuthenticationMethod.CLIENT_CERTIFICATE_TLS_AUTH,
};

/**
 * The Kafka topics of `triggers.kafka` as event sources of the pipeline's Load function, one
 * mapping per topic in the consumer group `esync-<pipeline>`: on Amazon MSK with IAM access to
 * that cluster, its topics and its group only; on a self-managed cluster with the credentials
 * (and root CA) of the named secrets, readable by the function alone, from the pipeline's VPC
 * when it has one.
 */
export class KafkaSource extends Construct {
  constructor(scope: Construct, id: string, props: KafkaSourceProps) {
    super(scope, id);
    if (props.trigger.clusterArn !== undefined) this.addMsk(props, props.trigger.clusterArn);
    else this.addSelfManaged(props, props.trigger.bootstrapServers ?? []);
  }

  /**
   * The mapping and its permissions are written out rather than taken from
   * `ManagedKafkaEventSource`, which attaches an AWS managed policy broader than these reads.
   */
  private addMsk({ pipeline, trigger, loadFunction: fn }: KafkaSourceProps, clusterArn: string): void {
    const arn = Arn.split(clusterArn, ArnFormat.SLASH_RESOURCE_NAME);
    const [clusterName, clusterUuid] = (arn.resourceName ?? '').split('/');
    const base = `arn:${arn.partition}:kafka:${arn.region}:${arn.account}`;
    const group = `esync-${pipeline.name}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'kafka:DescribeCluster',
          'kafka:DescribeClusterV2',
          'kafka:GetBootstrapBrokers',
          'kafka-cluster:Connect',
        ],
        resources: [clusterArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: trigger.topics.map((t) => `${base}:topic/${clusterName}/${clusterUuid}/${t}`),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        resources: [`${base}:group/${clusterName}/${clusterUuid}/${group}`],
      }),
    );
    // Lambda reaches the brokers through network interfaces in the cluster's VPC, created under
    // the function's role.
    fn.allowNetworkInterfaces();
    for (const topic of trigger.topics)
      new lambdaBase.EventSourceMapping(this, `Kafka${topic.replace(/[^A-Za-z0-9]/g, '')}`, {
        target: fn,
        eventSourceArn: clusterArn,
        kafkaTopic: topic,
        batchSize: trigger.batchSize,
        startingPosition: startingPosition(trigger),
        kafkaConsumerGroupId: group,
        ...this.registry(trigger),
      });
  }

  private addSelfManaged(props: KafkaSourceProps, bootstrapServers: readonly string[]): void {
    const { pipeline, trigger, loadFunction: fn, placement } = props;
    if (!trigger.authentication && !placement)
      throw new Error(
        `pipeline ${pipeline.name}: triggers.kafka.authentication: brokers reached over the internet need credentials (sasl-scram or mtls), or give the pipeline a VPC (network.<stage>.pipelines.${pipeline.name})`,
      );
    const secret = (id: string, name: string | undefined) =>
      name === undefined ? undefined : secretsmanager.Secret.fromSecretNameV2(this, id, name);
    const credentials = secret('Credentials', trigger.authentication?.secret);
    const rootCa = secret('RootCa', trigger.rootCaSecret);
    rootCa?.grantRead(fn);
    const network = placement ? this.brokerNetwork(placement, bootstrapServers) : {};
    if (placement) fn.allowNetworkInterfaces();
    for (const topic of trigger.topics)
      fn.addEventSource(
        new SelfManagedKafkaEventSource({
          bootstrapServers: [...bootstrapServers],
          topic,
          consumerGroupId: `esync-${pipeline.name}`,
          batchSize: trigger.batchSize,
          startingPosition: startingPosition(trigger),
          ...(credentials && trigger.authentication
            ? { secret: credentials, authenticationMethod: AUTHENTICATION[trigger.authentication.method] }
            : {}),
          ...(rootCa ? { rootCACertificate: rootCa } : {}),
          ...network,
          ...this.registry(trigger),
        }),
      );
  }

  /**
   * A Confluent schema registry on the event source: each value checked against it and handed on
   * without the registry's framing (SOURCE), its credentials readable by the function alone. The
   * integration needs provisioned pollers.
   */
  private registry(trigger: KafkaTrigger) {
    const registry = trigger.schemaRegistry;
    if (!registry) return {};
    const secret =
      (this.node.tryFindChild('RegistryCredentials') as secretsmanager.ISecret | undefined) ??
      secretsmanager.Secret.fromSecretNameV2(this, 'RegistryCredentials', registry.secret);
    return {
      schemaRegistryConfig: new ConfluentSchemaRegistry({
        schemaRegistryUri: registry.url,
        authenticationType: lambdaBase.KafkaSchemaRegistryAccessConfigType.BASIC_AUTH,
        secret,
        eventRecordFormat: lambdaBase.EventRecordFormat.SOURCE,
        schemaValidationConfigs: [{ attribute: lambdaBase.KafkaSchemaValidationAttribute.VALUE }],
      }),
      provisionedPollerConfig: { minimumPollers: 1, maximumPollers: 3 },
    };
  }

  /**
   * The event source's network interfaces: in the pipeline's subnets, in a group of their own that
   * may reach the brokers' ports and AWS (443) only.
   */
  private brokerNetwork(placement: FunctionPlacement, bootstrapServers: readonly string[]) {
    const group = new ec2.SecurityGroup(this, 'Brokers', {
      vpc: placement.vpc,
      description: `ESync Kafka event source of ${Stack.of(this).stackName}`,
      allowAllOutbound: false,
    });
    const ports = new Set(bootstrapServers.map((server) => Number(server.split(':').pop())));
    for (const port of ports) group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), 'Kafka brokers');
    if (!ports.has(443))
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (VPC endpoints)');
    return { vpc: placement.vpc, vpcSubnets: placement.vpcSubnets, securityGroup: group };
  }
}

function startingPosition(trigger: KafkaTrigger): lambdaBase.StartingPosition {
  return trigger.startingPosition === 'LATEST'
    ? lambdaBase.StartingPosition.LATEST
    : lambdaBase.StartingPosition.TRIM_HORIZON;
}

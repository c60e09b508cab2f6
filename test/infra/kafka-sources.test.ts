import type { Template } from 'aws-cdk-lib/assertions';
import { Template as Templates } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import { fixtureApp, resourceNamed, resourcesOf } from './fixtures.ts';

const BROKERS = ['b-1.kafka.example.com:9096', 'b-2.kafka.example.com:9096'];
const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const NETWORK = {
  vpcId: 'vpc-0123abcd',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0aaa1111', 'subnet-0bbb2222'],
  routeTableIds: ['rtb-0aaa1111', 'rtb-0bbb2222'],
};

const kafkaPipeline = (name: string, kafka: Record<string, unknown>): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'kafka', key: ['id'], cursor: ['updated_at'] },
    target: { type: 'dynamodb' },
    triggers: { kafka },
  });

const REGISTRY = { url: 'https://registry.example.com', secret: 'esync/test/kafka-registry' };

const PIPELINES = [
  kafkaPipeline('orders-msk', { clusterArn: MSK, topics: ['shop.orders'] }),
  kafkaPipeline('orders-msk-registry', {
    clusterArn: MSK,
    topics: ['shop.orders.avro'],
    schemaRegistry: REGISTRY,
  }),
  kafkaPipeline('orders-scram', {
    bootstrapServers: BROKERS,
    authentication: { method: 'sasl-scram-512', secret: 'esync/test/kafka-scram' },
    topics: ['orders', 'refunds'],
    schemaRegistry: REGISTRY,
    batchSize: 50,
  }),
  kafkaPipeline('orders-mtls', {
    bootstrapServers: ['kafka.internal.example.com:9094'],
    authentication: { method: 'mtls', secret: 'esync/test/kafka-client-cert' },
    rootCaSecret: 'esync/test/kafka-root-ca',
    topics: ['orders'],
    startingPosition: 'LATEST',
  }),
];

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

let app: ReturnType<typeof fixtureApp>['app'];
let template: Template;
beforeAll(() => {
  const built = fixtureApp({
    pipelines: PIPELINES,
    context: { network: { dev: { pipelines: { 'orders-mtls': NETWORK } } } },
  });
  app = built.app;
  template = Templates.fromStack(built.stack);
});

function loadRoleStatements(pipeline: string): Statement[] {
  const fn = resourceNamed(
    template,
    'AWS::Lambda::Function',
    'FunctionName',
    `esync-dev-${pipeline}-load-fn`,
  );
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

/** The Kafka secrets (named esync/test/kafka-*) the pipeline's Load function may read. */
const kafkaSecretReads = (pipeline: string) =>
  loadRoleStatements(pipeline)
    .filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'))
    .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
    .map((resource) => JSON.stringify(resource).match(/secret:esync\/test\/kafka[^"]*/)?.[0])
    .filter((name) => name !== undefined)
    .sort();

function selfManagedMappings(): Record<string, unknown>[] {
  return Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'))
    .map((m) => m.Properties)
    .filter((p) => p.SelfManagedEventSource !== undefined);
}

const mappingOf = (topic: string, brokers: string[]) =>
  selfManagedMappings().find(
    (p) =>
      JSON.stringify(p.Topics) === JSON.stringify([topic]) &&
      JSON.stringify(p.SelfManagedEventSource) ===
        JSON.stringify({ Endpoints: { KafkaBootstrapServers: brokers } }),
  );

describe('Kafka event sources of a kafka source', () => {
  it('reads each topic of a self-managed cluster with SASL/SCRAM credentials from the named secret, in the pipeline’s consumer group', () => {
    const mapping = mappingOf('refunds', BROKERS);

    expect(mapping).toMatchObject({
      BatchSize: 50,
      StartingPosition: 'TRIM_HORIZON',
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'esync-orders-scram' },
    });
    expect(JSON.stringify(mapping?.SourceAccessConfigurations)).toMatch(
      /"Type":"SASL_SCRAM_512_AUTH","URI":.*secret:esync\/test\/kafka-scram/,
    );
    expect(mappingOf('orders', BROKERS)).toBeDefined();
  });

  it('lets only that pipeline’s Load function read its Kafka secrets, and grants no network interfaces outside a VPC', () => {
    expect(kafkaSecretReads('orders-scram')).toEqual([
      'secret:esync/test/kafka-registry-??????',
      'secret:esync/test/kafka-scram-??????',
    ]);
    expect(kafkaSecretReads('orders-msk-registry')).toEqual(['secret:esync/test/kafka-registry-??????']);
    expect(kafkaSecretReads('orders-mtls')).toEqual([
      'secret:esync/test/kafka-client-cert-??????',
      'secret:esync/test/kafka-root-ca-??????',
    ]);
    expect(kafkaSecretReads('orders-msk')).toEqual([]);
    expect(actionsOf(loadRoleStatements('orders-scram'))).not.toContain('ec2:CreateNetworkInterface');
    expect(actionsOf(loadRoleStatements('orders-mtls'))).toContain('ec2:CreateNetworkInterface');
    expect(actionsOf(loadRoleStatements('orders-scram'))).not.toContain('kafka-cluster:Connect');
  });

  it('reaches a cluster from the pipeline’s VPC with mTLS and a private root CA, through a group open to the brokers’ port and 443 only', () => {
    const mapping = mappingOf('orders', ['kafka.internal.example.com:9094']);

    const access = JSON.stringify(mapping?.SourceAccessConfigurations);
    expect(access).toMatch(/"Type":"CLIENT_CERTIFICATE_TLS_AUTH","URI":.*kafka-client-cert/);
    expect(access).toMatch(/"Type":"SERVER_ROOT_CA_CERTIFICATE","URI":.*kafka-root-ca/);
    expect(access).toContain('"Type":"VPC_SUBNET","URI":"subnet-0aaa1111"');
    expect(mapping?.StartingPosition).toBe('LATEST');
    const group = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup')).find((g) =>
      String(g.Properties.GroupDescription).startsWith('ESync Kafka event source'),
    );
    expect(
      ((group?.Properties.SecurityGroupEgress ?? []) as { FromPort: number; CidrIp: string }[])
        .map((e) => e.FromPort)
        .sort(),
    ).toEqual([443, 9094]);
  });

  it('reads an MSK cluster’s topics with IAM access to that cluster, its topics and the pipeline’s group only', () => {
    const statements = loadRoleStatements('orders-msk');
    const on = (action: string) =>
      statements.filter((s) => actionsOf([s]).includes(action)).map((s) => JSON.stringify(s.Resource));

    expect(on('kafka-cluster:Connect')).toEqual([JSON.stringify(MSK)]);
    expect(on('kafka-cluster:ReadData')).toEqual([
      JSON.stringify(
        'arn:aws:kafka:eu-west-1:123456789012:topic/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/shop.orders',
      ),
    ]);
    expect(on('kafka-cluster:AlterGroup')).toEqual([
      JSON.stringify(
        'arn:aws:kafka:eu-west-1:123456789012:group/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/esync-orders-msk',
      ),
    ]);
  });

  it('checks values against a Confluent schema registry on MSK and self-managed event sources, handing them on without its framing, with provisioned pollers', () => {
    type KafkaConfig = { SchemaRegistryConfig?: Record<string, unknown> } | undefined;
    const mappings = Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping')).map((m) => {
      const config = (m.Properties.AmazonManagedKafkaEventSourceConfig ??
        m.Properties.SelfManagedKafkaEventSourceConfig) as KafkaConfig;
      return {
        Topics: m.Properties.Topics,
        ProvisionedPollerConfig: m.Properties.ProvisionedPollerConfig,
        SchemaRegistryConfig: config?.SchemaRegistryConfig,
      };
    });
    const withRegistry = mappings.filter((p) => p.SchemaRegistryConfig !== undefined);

    expect(withRegistry.map((p) => p.Topics).sort()).toEqual([['orders'], ['refunds'], ['shop.orders.avro']]);
    for (const mapping of withRegistry) {
      expect(mapping.SchemaRegistryConfig).toMatchObject({
        SchemaRegistryURI: 'https://registry.example.com',
        EventRecordFormat: 'SOURCE',
        SchemaValidationConfigs: [{ Attribute: 'VALUE' }],
      });
      expect(JSON.stringify(mapping.SchemaRegistryConfig)).toMatch(
        /"Type":"BASIC_AUTH","URI":.*kafka-registry/,
      );
      expect(mapping.ProvisionedPollerConfig).toEqual({ MinimumPollers: 1, MaximumPollers: 3 });
    }
    expect(
      mappings.filter((p) => p.SchemaRegistryConfig === undefined && p.ProvisionedPollerConfig !== undefined),
    ).toEqual([]);
  });

  it('is cdk-nag clean', () => {
    const findings = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));

    expect(findings).toEqual([]);
  });

  it('refuses to synthesize a self-managed cluster reached over the internet without credentials, naming the setting', () => {
    const open = kafkaPipeline('orders-open', { bootstrapServers: BROKERS, topics: ['orders'] });

    expect(() => fixtureApp({ pipelines: [open] })).toThrow(
      /pipeline orders-open: triggers\.kafka\.authentication: brokers reached over the internet need credentials/,
    );
  });
});

import { Annotations, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { StageNetwork } from '../network.ts';

/** Where a function runs inside the VPC, as `lambda.Function` takes it. */
export interface FunctionPlacement {
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/**
 * The AWS services the functions in the VPC call, reached through interface endpoints so the
 * subnets need no NAT. S3 and DynamoDB are reached through (free) gateway endpoints.
 */
export const INTERFACE_ENDPOINTS = {
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  StepFunctions: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  EventBridge: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
  Kms: ec2.InterfaceVpcEndpointAwsService.KMS,
  CloudWatch: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  XRay: ec2.InterfaceVpcEndpointAwsService.XRAY,
  // The shared functions read the stage's pipelines from Parameter Store and assume each
  // pipeline's access role (access-roles.ts): without these, a function in the VPC cannot.
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  Sts: ec2.InterfaceVpcEndpointAwsService.STS,
} as const;

export interface DatabaseNetworkProps {
  readonly network: StageNetwork;
  /** The ports the functions reach the databases on; none here when another stack opens them ({@link DatabasePorts}). */
  readonly databasePorts: readonly number[];
}

/**
 * The VPC side of the functions that open database connections: the stage's existing VPC and
 * subnets (imported by id, no lookup), a security group of their own that may reach the
 * databases on their ports and AWS on 443 only, the databases' group admitting that group on
 * those ports only, and the VPC endpoints, created unless the VPC has them.
 */
export class DatabaseNetwork extends Construct {
  readonly functionsGroup: ec2.SecurityGroup;
  readonly placement: FunctionPlacement;
  /** The settings it was built from. */
  readonly network: StageNetwork;

  constructor(scope: Construct, id: string, props: DatabaseNetworkProps) {
    super(scope, id);
    const { network } = props;
    this.network = network;
    const { vpc, subnets } = this.findVpc(network);
    this.functionsGroup = new ec2.SecurityGroup(this, 'Functions', {
      vpc,
      description: 'ESync functions that connect to databases',
      allowAllOutbound: false,
    });
    this.functionsGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (VPC endpoints)');
    admitToDatabases(this, this.functionsGroup, network, props.databasePorts);
    if (network.endpoints === 'create') this.createEndpoints(vpc, subnets);
    this.placement = {
      vpc,
      vpcSubnets: subnets,
      securityGroups: [
        this.functionsGroup,
        ...network.securityGroupIds.map((sg, i) =>
          ec2.SecurityGroup.fromSecurityGroupId(this, `Joined${i}`, sg),
        ),
      ],
    };
  }

  /** The VPC by its ids, or looked up; its subnets the functions and endpoints use. */
  private findVpc(network: StageNetwork): { vpc: ec2.IVpc; subnets: ec2.SubnetSelection } {
    if (network.vpcLookup) {
      const { name, tags } = network.vpcLookup;
      const stack = Stack.of(this);
      if (Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region))
        throw new Error(
          `network.vpcLookup (${JSON.stringify(network.vpcLookup)}) looks the VPC up in an account and region: ` +
            'synthesize with AWS credentials (CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION) or name the VPC by vpcId',
        );
      const vpc = ec2.Vpc.fromLookup(this, 'Vpc', { ...(name && { vpcName: name }), ...(tags && { tags }) });
      const subnets: ec2.SubnetSelection = network.subnetIds
        ? { subnetFilters: [ec2.SubnetFilter.byIds(network.subnetIds)] }
        : { subnets: [...vpc.privateSubnets, ...vpc.isolatedSubnets] };
      return { vpc, subnets };
    }
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: network.vpcId as string,
      availabilityZones: network.availabilityZones ?? [],
      privateSubnetIds: network.subnetIds,
      ...(network.routeTableIds.length > 0 ? { privateSubnetRouteTableIds: network.routeTableIds } : {}),
    });
    // Route tables serve only the gateway endpoints ESync creates; a VPC with its own needs none.
    if (network.routeTableIds.length === 0)
      for (const subnet of vpc.privateSubnets)
        Annotations.of(subnet).acknowledgeWarning(
          '@aws-cdk/aws-ec2:noSubnetRouteTableId',
          'ESync reads a subnet’s route table only to create gateway endpoints, which this VPC has (endpoints: existing)',
        );
    return { vpc, subnets: { subnets: vpc.privateSubnets } };
  }

  private createEndpoints(vpc: ec2.IVpc, subnets: ec2.SubnetSelection): void {
    vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [subnets] });
    vpc.addGatewayEndpoint('DynamoDb', {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [subnets],
    });
    const endpointsGroup = new ec2.SecurityGroup(this, 'Endpoints', {
      vpc,
      description: 'ESync VPC interface endpoints: HTTPS from the ESync functions only',
      allowAllOutbound: false,
    });
    endpointsGroup.addIngressRule(this.functionsGroup, ec2.Port.tcp(443), 'HTTPS from the ESync functions');
    for (const [name, service] of Object.entries(INTERFACE_ENDPOINTS))
      vpc.addInterfaceEndpoint(name, {
        service,
        subnets,
        securityGroups: [endpointsGroup],
        open: false,
        privateDnsEnabled: true,
      });
  }
}

/**
 * Lets `functionsGroup` reach the databases on `ports` only, and, when the network names the
 * databases' group, that group admit `functionsGroup` on those ports only.
 */
function admitToDatabases(
  scope: Construct,
  functionsGroup: ec2.ISecurityGroup,
  network: StageNetwork,
  ports: readonly number[],
): void {
  const databases = network.databaseSecurityGroupId
    ? ec2.SecurityGroup.fromSecurityGroupId(scope, 'Databases', network.databaseSecurityGroupId)
    : undefined;
  for (const port of ports) {
    const description = `ESync functions to the databases on ${port}`;
    if (!databases) {
      functionsGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), description);
      continue;
    }
    functionsGroup.addEgressRule(databases, ec2.Port.tcp(port), description);
    databases.addIngressRule(functionsGroup, ec2.Port.tcp(port), description);
  }
}

export interface DatabasePortsProps {
  readonly network: StageNetwork;
  /** The functions' group of the stage's {@link DatabaseNetwork}, by id (imported from its stack). */
  readonly functionsGroupId: string;
  readonly databasePorts: readonly number[];
}

/**
 * The database ports of a stage whose pipelines deploy apart, opened on the functions' group of
 * the shared stack from a stack of their own: the shared stack stays the same whatever engines
 * its pipelines use, and each port has one rule, which pipelines' stacks could not give (a
 * security group refuses a second rule for the same port and peer, so two PostgreSQL pipelines'
 * stacks could not each add theirs).
 */
export class DatabasePorts extends Construct {
  constructor(scope: Construct, id: string, props: DatabasePortsProps) {
    super(scope, id);
    const functionsGroup = ec2.SecurityGroup.fromSecurityGroupId(this, 'Functions', props.functionsGroupId, {
      allowAllOutbound: false,
    });
    admitToDatabases(this, functionsGroup, props.network, props.databasePorts);
  }
}

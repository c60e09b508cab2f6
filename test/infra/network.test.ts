import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { stageNetwork } from '../../infra/network.ts';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import {
  FIXTURE_PIPELINES,
  fixtureApp,
  fixtureTemplate,
  logicalIdOf,
  resourceNamed,
  resourcesOf,
} from './fixtures.ts';

const NETWORK = {
  vpcId: 'vpc-0123abcd',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0aaa1111', 'subnet-0bbb2222'],
  routeTableIds: ['rtb-0aaa1111', 'rtb-0bbb2222'],
  databaseSecurityGroupId: 'sg-0ddd1111',
};

/** The fixture pipelines (one PostgreSQL source) and one that writes a PostgreSQL target. */
const PIPELINES: readonly Pipeline[] = [
  ...FIXTURE_PIPELINES,
  pipelineSchema.parse({
    name: 'orders-out',
    source: { type: 'webhook', key: ['id'] },
    target: {
      type: 'postgres',
      connection: { secret: 'esync/test/orders-db' },
      table: 'orders',
    },
    triggers: { webhook: { signature: 'github', secret: 'esync/test/orders-hook' } },
  }),
];

let template: Template;
beforeAll(() => {
  template = fixtureTemplate({ pipelines: PIPELINES, context: { network: { dev: NETWORK } } });
});

const functionsGroupId = () => {
  const groups = Object.entries(resourcesOf(template, 'AWS::EC2::SecurityGroup')).filter(
    ([, g]) => g.Properties.GroupDescription === 'ESync functions that connect to databases',
  );
  expect(groups).toHaveLength(1);
  return (groups[0] as [string, unknown])[0];
};

const vpcConfigOf = (functionName: string) =>
  resourceNamed(template, 'AWS::Lambda::Function', 'FunctionName', functionName).Properties.VpcConfig;

describe('networking', () => {
  it('runs the functions that open database connections in the stage’s subnets, in the functions’ group', () => {
    const inVpc = [
      'esync-dev-core-discover',
      'esync-dev-core-plan',
      'esync-dev-core-extract',
      'esync-dev-core-verify',
      'esync-dev-core-api',
      'esync-dev-orders-out-load-fn',
    ];

    for (const name of inVpc)
      expect(vpcConfigOf(name), name).toEqual({
        SubnetIds: NETWORK.subnetIds,
        SecurityGroupIds: [{ 'Fn::GetAtt': [functionsGroupId(), 'GroupId'] }],
      });
  });

  it('keeps every other function outside the VPC', () => {
    const outside = [
      'esync-dev-core-webhook',
      'esync-dev-core-cleanup',
      'esync-dev-core-await-load',
      'esync-dev-core-record-failure',
      'esync-dev-core-run-ended',
      'esync-dev-accounts-sync-load-fn',
      'esync-dev-stock-cdc-load-fn',
      'esync-dev-issues-hook-load-fn',
    ];

    for (const name of outside) expect(vpcConfigOf(name), name).toBeUndefined();
  });

  it('lets the database group admit the functions’ group on the database port only, and nothing else', () => {
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).map(
      (r) => r.Properties,
    );
    const intoDatabases = ingress.filter((r) => r.GroupId === NETWORK.databaseSecurityGroupId);

    expect(intoDatabases).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: { 'Fn::GetAtt': [functionsGroupId(), 'GroupId'] },
      }),
    ]);
    const fromAddresses = [
      ...ingress.filter((r) => r.CidrIp !== undefined || r.CidrIpv6 !== undefined),
      ...Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup')).flatMap(
        (g) => (g.Properties.SecurityGroupIngress as unknown[] | undefined) ?? [],
      ),
    ];
    expect(fromAddresses).toEqual([]);
  });

  it('lets the functions’ group reach the databases on their port and AWS on 443 only', () => {
    const group = resourcesOf(template, 'AWS::EC2::SecurityGroup')[functionsGroupId()];
    const egress = [
      ...((group?.Properties.SecurityGroupEgress as Record<string, unknown>[] | undefined) ?? []),
      ...Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupEgress'))
        .map((r) => r.Properties)
        .filter((r) => JSON.stringify(r.GroupId).includes(functionsGroupId())),
    ];

    expect(egress.map((e) => [e.FromPort, e.ToPort, e.CidrIp ?? e.DestinationSecurityGroupId])).toEqual(
      expect.arrayContaining([
        [443, 443, '0.0.0.0/0'],
        [5432, 5432, NETWORK.databaseSecurityGroupId],
      ]),
    );
    expect(egress).toHaveLength(2);
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('creates S3 and DynamoDB gateways on the subnets’ route tables and interface endpoints reachable from the functions only', () => {
    const endpoints = Object.values(resourcesOf(template, 'AWS::EC2::VPCEndpoint')).map((r) => r.Properties);
    const service = (e: Record<string, unknown>) =>
      JSON.stringify(e.ServiceName).replace(/.*\.(\w+)"\]\]\}$/, '$1');
    const gateways = endpoints.filter((e) => e.VpcEndpointType === 'Gateway');
    const interfaces = endpoints.filter((e) => e.VpcEndpointType === 'Interface');

    expect(gateways.map(service).sort()).toEqual(['dynamodb', 's3']);
    for (const gateway of gateways) expect(gateway.RouteTableIds).toEqual(NETWORK.routeTableIds);
    expect(interfaces.map(service).sort()).toEqual([
      'events',
      'kms',
      'monitoring',
      'secretsmanager',
      'sqs',
      'ssm',
      'states',
      'sts',
      'xray',
    ]);
    const endpointsGroup = logicalIdOf(
      template,
      'AWS::EC2::SecurityGroup',
      'GroupDescription',
      'ESync VPC interface endpoints: HTTPS from the ESync functions only',
    );
    for (const endpoint of interfaces) {
      expect(endpoint.SubnetIds).toEqual(NETWORK.subnetIds);
      expect(endpoint.PrivateDnsEnabled).toBe(true);
      expect(endpoint.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [endpointsGroup, 'GroupId'] }]);
    }
    const intoEndpoints = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((r) => JSON.stringify(r.GroupId).includes(endpointsGroup));
    expect(intoEndpoints).toEqual([
      expect.objectContaining({
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: { 'Fn::GetAtt': [functionsGroupId(), 'GroupId'] },
      }),
    ]);
  });

  it('warns of nothing when the VPC has its own endpoints and no route table is named', () => {
    const { stack } = fixtureApp({
      pipelines: PIPELINES,
      context: { network: { dev: { ...NETWORK, routeTableIds: [], endpoints: 'existing' } } },
    });

    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('creates no endpoint when the VPC has its own, and no network at all when the stage names none', () => {
    const existing = fixtureTemplate({
      pipelines: PIPELINES,
      context: { network: { dev: { ...NETWORK, routeTableIds: [], endpoints: 'existing' } } },
    });
    const none = fixtureTemplate({ pipelines: PIPELINES, context: { network: { prod: NETWORK } } });

    expect(Object.keys(resourcesOf(existing, 'AWS::EC2::VPCEndpoint'))).toEqual([]);
    expect(
      resourceNamed(existing, 'AWS::Lambda::Function', 'FunctionName', 'esync-dev-core-extract').Properties
        .VpcConfig,
    ).toBeDefined();
    expect(JSON.stringify(none.toJSON())).not.toMatch(/AWS::EC2::|VpcConfig/);
  });

  it('lets Lambda manage network interfaces for the VPC functions only, and stays cdk-nag clean', () => {
    const { app } = fixtureApp({ pipelines: PIPELINES, context: { network: { dev: NETWORK } } });
    const policies = Object.keys(resourcesOf(template, 'AWS::IAM::Policy')).filter((id) =>
      /NetworkInterfaces[0-9A-F]{8}$/.test(id),
    );

    expect(policies.map((id) => id.replace(/NetworkInterfaces[0-9A-F]{8}$/, '')).sort()).toEqual([
      'FunctionsApi',
      'FunctionsDiscover',
      'FunctionsExtract',
      'FunctionsPlan',
      'FunctionsVerify',
      'PipelineOrdersOutLoadFunction',
      'PipelineStockCdcLoadFunction',
    ]);
    const findings = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings).toEqual([]);
  });

  it('grants rds-db:connect on the RDS Proxy and user of each iam connection, to the functions that connect only', () => {
    const iam = (proxy: string, user: string) => ({ proxy, user });
    const { app, stack } = fixtureApp({
      pipelines: [
        pipelineSchema.parse({
          name: 'orders-in',
          source: {
            type: 'mysql',
            connection: { secret: 'esync/test/shop-db', iam: iam('prx-0aaa1111bbbb2222c', 'esync_reader') },
            table: 'orders',
            key: ['id'],
          },
          target: {
            type: 'postgres',
            connection: { secret: 'esync/test/lake-db', iam: iam('prx-0ddd3333eeee4444f', 'esync_writer') },
            table: 'orders',
          },
        }),
        ...FIXTURE_PIPELINES,
      ],
      context: { network: { dev: NETWORK } },
    });
    const viaProxy = Template.fromStack(stack);
    const connectGrants = (functionName: string) => {
      const role = (
        resourceNamed(viaProxy, 'AWS::Lambda::Function', 'FunctionName', functionName).Properties.Role as {
          'Fn::GetAtt': [string, string];
        }
      )['Fn::GetAtt'][0];
      return Object.values(resourcesOf(viaProxy, 'AWS::IAM::Policy'))
        .filter((p) => JSON.stringify(p.Properties.Roles).includes(role))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
        .filter((s) => JSON.stringify(s.Action).includes('rds-db'))
        .flatMap((s) =>
          [JSON.stringify(s.Resource).matchAll(/:dbuser:(prx-\w+\/\w+)/g)].flatMap((found) =>
            [...found].map((m) => [s.Action, m[1]]),
          ),
        )
        .sort();
    };
    const reader = ['rds-db:connect', 'prx-0aaa1111bbbb2222c/esync_reader'];
    const writer = ['rds-db:connect', 'prx-0ddd3333eeee4444f/esync_writer'];

    expect(connectGrants('esync-dev-core-extract')).toEqual([reader]);
    expect(connectGrants('esync-dev-core-plan')).toEqual([reader]);
    expect(connectGrants('esync-dev-core-verify')).toEqual([reader, writer]);
    expect(connectGrants('esync-dev-orders-in-load-fn')).toEqual([writer]);
    expect(connectGrants('esync-dev-core-webhook')).toEqual([]);
    expect(connectGrants('esync-dev-core-cleanup')).toEqual([]);
    const arn = JSON.stringify(
      Object.values(resourcesOf(viaProxy, 'AWS::IAM::Policy'))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
        .find((s) => s.Action === 'rds-db:connect')?.Resource,
    );
    expect(arn).toMatch(
      /"arn:",\{"Ref":"AWS::Partition"\},":rds-db:",\{"Ref":"AWS::Region"\},":",\{"Ref":"AWS::AccountId"\},":dbuser:prx-/,
    );
    expect(new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('looks the VPC up by name and places the functions and endpoints in its private subnets', () => {
    const env = { account: '123456789012', region: 'eu-west-1' };
    const network = { dev: { vpcLookup: { name: 'data-vpc' }, databaseSecurityGroupId: 'sg-0ddd1111' } };
    const { app: probe } = fixtureApp({ pipelines: PIPELINES, context: { network }, env });
    const [lookup] = probe.synth().manifest.missing ?? [];
    const subnet = (id: string, zone: string, rtb: string, cidr: string) => ({
      subnetId: id,
      availabilityZone: zone,
      routeTableId: rtb,
      cidr,
    });
    const answer = {
      vpcId: 'vpc-0fff9999',
      vpcCidrBlock: '10.1.0.0/16',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      subnetGroups: [
        {
          name: 'Public',
          type: 'Public',
          subnets: [subnet('subnet-0ccc1111', 'eu-west-1a', 'rtb-0ccc1111', '10.1.0.0/24')],
        },
        {
          name: 'Data',
          type: 'Isolated',
          subnets: [
            subnet('subnet-0eee1111', 'eu-west-1a', 'rtb-0eee1111', '10.1.1.0/24'),
            subnet('subnet-0eee2222', 'eu-west-1b', 'rtb-0eee2222', '10.1.2.0/24'),
          ],
        },
      ],
    };

    const { stack } = fixtureApp({
      pipelines: PIPELINES,
      context: { network, [lookup?.key ?? 'no lookup']: answer },
      env,
    });
    const looked = Template.fromStack(stack);

    expect(lookup?.provider).toBe('vpc-provider');
    expect(lookup?.props).toMatchObject({ filter: { 'tag:Name': 'data-vpc' } });
    const extract = resourceNamed(looked, 'AWS::Lambda::Function', 'FunctionName', 'esync-dev-core-extract');
    expect((extract.Properties.VpcConfig as { SubnetIds: string[] }).SubnetIds).toEqual([
      'subnet-0eee1111',
      'subnet-0eee2222',
    ]);
    const gateways = Object.values(resourcesOf(looked, 'AWS::EC2::VPCEndpoint')).filter(
      (e) => e.Properties.VpcEndpointType === 'Gateway',
    );
    expect(gateways.map((g) => [g.Properties.VpcId, g.Properties.RouteTableIds])).toEqual([
      ['vpc-0fff9999', ['rtb-0eee1111', 'rtb-0eee2222']],
      ['vpc-0fff9999', ['rtb-0eee1111', 'rtb-0eee2222']],
    ]);
  });

  it('refuses a VPC lookup it cannot make, and a VPC named both ways or not at all', () => {
    const lookup = { dev: { vpcLookup: { tags: { team: 'data' } } } };

    expect(() => fixtureApp({ pipelines: PIPELINES, context: { network: lookup } })).toThrow(
      /network\.vpcLookup \(\{"tags":\{"team":"data"\}\}\) looks the VPC up in an account and region: synthesize with AWS credentials/,
    );
    expect(() => stageNetwork('dev', { dev: { ...NETWORK, vpcLookup: { name: 'data-vpc' } } })).toThrow(
      /^network\.dev: give either vpcId or vpcLookup/,
    );
    expect(() => stageNetwork('dev', { dev: { endpoints: 'existing' } })).toThrow(
      /^network\.dev: give either vpcId or vpcLookup/,
    );
    expect(() => stageNetwork('dev', { dev: { vpcLookup: {} } })).toThrow(
      /network\.dev: vpcLookup name or tags/,
    );
    expect(() =>
      stageNetwork('dev', { dev: { vpcLookup: { name: 'data-vpc' }, availabilityZones: ['eu-west-1a'] } }),
    ).toThrow(/with vpcLookup the zones and route tables come from the lookup/);
  });

  describe('a pipeline whose databases sit in another VPC', () => {
    const LEDGER_NETWORK = {
      vpcId: 'vpc-0bbb2222',
      availabilityZones: ['eu-west-1a'],
      subnetIds: ['subnet-0fff3333'],
      routeTableIds: ['rtb-0fff3333'],
      databaseSecurityGroupId: 'sg-0eee3333',
    };
    const ledger = pipelineSchema.parse({
      name: 'ledger-in',
      source: {
        type: 'mysql',
        connection: { secret: 'esync/test/ledger-db' },
        table: 'entries',
        key: ['id'],
      },
      target: { type: 'dynamodb' },
    });
    const network = { dev: { ...NETWORK, pipelines: { 'ledger-in': LEDGER_NETWORK } } };
    let built: ReturnType<typeof fixtureApp>;
    let ledgerTemplate: Template;
    beforeAll(() => {
      built = fixtureApp({ pipelines: [...PIPELINES, ledger], context: { network } });
      ledgerTemplate = Template.fromStack(built.stack);
    });
    const fn = (name: string) => resourceNamed(ledgerTemplate, 'AWS::Lambda::Function', 'FunctionName', name);
    const rolePolicies = (functionName: string) => {
      const role = (fn(functionName).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      return JSON.stringify(
        Object.values(resourcesOf(ledgerTemplate, 'AWS::IAM::Policy')).filter((p) =>
          JSON.stringify(p.Properties.Roles).includes(role),
        ),
      );
    };

    it('runs its own Discover, Plan, Extract and Verify in its VPC, and its state machine calls them', () => {
      const own = ['discover', 'plan', 'extract', 'verify'].map((p) => `esync-dev-ledger-in-${p}-fn`);

      // Its Load writes DynamoDB: no database connection, so no VPC.
      expect(fn('esync-dev-ledger-in-load-fn').Properties.VpcConfig).toBeUndefined();
      for (const name of own)
        expect((fn(name).Properties.VpcConfig as { SubnetIds: string[] }).SubnetIds, name).toEqual([
          'subnet-0fff3333',
        ]);
      expect(
        (fn('esync-dev-core-extract').Properties.VpcConfig as { SubnetIds: string[] }).SubnetIds,
      ).toEqual(NETWORK.subnetIds);
      const definition = JSON.stringify(
        resourceNamed(
          ledgerTemplate,
          'AWS::StepFunctions::StateMachine',
          'StateMachineName',
          'esync-dev-ledger-in-sm',
        ).Properties.DefinitionString,
      );
      for (const phase of ['Discover', 'Plan', 'Extract', 'Verify']) {
        expect(definition).toContain(`PipelineLedgerIn${phase}Function`);
        expect(definition).not.toContain(`Functions${phase}`);
      }
      expect(definition).toContain('FunctionsCleanup');
    });

    it('grants its source to its own functions only, and admits them to its databases on the MySQL port only', () => {
      expect(rolePolicies('esync-dev-ledger-in-extract-fn')).toContain('esync/test/ledger-db');
      expect(rolePolicies('esync-dev-core-extract')).not.toContain('esync/test/ledger-db');
      const ingress = Object.values(resourcesOf(ledgerTemplate, 'AWS::EC2::SecurityGroupIngress')).map(
        (r) => r.Properties,
      );
      const ports = (group: string) =>
        ingress.filter((r) => r.GroupId === group && r.FromPort !== 443).map((r) => [r.FromPort, r.ToPort]);
      expect(ports('sg-0eee3333')).toEqual([[3306, 3306]]);
      expect(ports(NETWORK.databaseSecurityGroupId)).toEqual([[5432, 5432]]);
      const findings = new AwsSolutionsChecks().validateScope(built.app).violations.map((v) => v.ruleName);
      expect(findings).toEqual([]);
    });

    it('refuses a network for a pipeline the stage lacks, and one for a pipeline that writes PostgreSQL', () => {
      const withNetwork = (pipelines: Record<string, unknown>) => () =>
        fixtureApp({ pipelines: PIPELINES, context: { network: { dev: { ...NETWORK, pipelines } } } });

      expect(withNetwork({ 'ledger-out': LEDGER_NETWORK })).toThrow(
        /network pipelines\.ledger-out: no pipeline is named "ledger-out" \(pipelines: accounts-sync, /,
      );
      expect(withNetwork({ 'orders-out': LEDGER_NETWORK })).toThrow(
        /network pipelines\.orders-out: a pipeline with a network of its own cannot write a PostgreSQL target yet/,
      );
      expect(withNetwork({ 'issues-hook': { vpcId: 'vpc-0bbb2222' } })).toThrow(
        /^network\.dev\.pipelines\.issues-hook: with vpcId, give subnetIds and availabilityZones/,
      );
    });

    it('apart, builds its VPC side in its own stack, and the shared stack’s network stays as it is when it comes or goes', () => {
      type Cfn = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
      const stacks = (pipelines: readonly Pipeline[], own: Record<string, unknown>) => {
        const context = { network: { dev: { ...NETWORK, pipelines: own } } };
        const assembly = fixtureApp({ pipelines, layout: 'per-pipeline', context }).app.synth();
        return (name: string) => assembly.getStackByName(name).template as Cfn;
      };
      const networkOf = (template: Cfn) =>
        JSON.stringify(
          Object.entries(template.Resources).map(([id, r]) =>
            r.Type === 'AWS::Lambda::Function'
              ? [id, r.Properties.VpcConfig]
              : r.Type.startsWith('AWS::EC2::') && [id, r],
          ),
        );
      const ingressPorts = (template: Cfn, group: string) =>
        Object.values(template.Resources)
          .filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && r.Properties.GroupId === group)
          .map((r) => r.Properties.FromPort)
          .sort();

      const without = stacks(PIPELINES.slice(0, 3), {});
      const withLedger = stacks([...PIPELINES, ledger], { 'ledger-in': LEDGER_NETWORK });

      expect(networkOf(withLedger('esync-dev'))).toBe(networkOf(without('esync-dev')));
      expect(ingressPorts(withLedger('esync-dev'), NETWORK.databaseSecurityGroupId)).toEqual([]);
      expect(ingressPorts(withLedger('esync-dev-core-network'), NETWORK.databaseSecurityGroupId)).toEqual([
        5432,
      ]);
      expect(ingressPorts(withLedger('esync-dev'), 'sg-0eee3333')).toEqual([]);
      expect(ingressPorts(withLedger('esync-dev-ledger-in'), 'sg-0eee3333')).toEqual([3306]);
      const ledgerFunctions = Object.values(withLedger('esync-dev-ledger-in').Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.VpcConfig !== undefined,
      );
      expect(ledgerFunctions.map((r) => r.Properties.FunctionName).sort()).toEqual(
        ['discover', 'extract', 'plan', 'verify'].map((phase) => `esync-dev-ledger-in-${phase}-fn`),
      );
    });
  });

  describe('apart, the database ports of the pipelines in the stage network', () => {
    type Cfn = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const mysqlOn3307 = pipelineSchema.parse({
      name: 'shop-in',
      source: {
        type: 'mysql',
        connection: { secret: 'esync/test/shop-db', port: 3307 },
        table: 'orders',
        key: ['id'],
      },
      target: { type: 'dynamodb' },
    });
    const synth = (pipelines: readonly Pipeline[], network: Record<string, unknown> = NETWORK) =>
      fixtureApp({ pipelines, layout: 'per-pipeline', context: { network: { dev: network } } }).app.synth();
    const rules = (template: Cfn) =>
      Object.values(template.Resources)
        .filter(
          (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' || r.Type === 'AWS::EC2::SecurityGroupEgress',
        )
        .filter((r) => r.Properties.FromPort !== 443)
        .map((r) => ({
          rule: r.Type.replace('AWS::EC2::SecurityGroup', ''),
          group: r.Properties.GroupId,
          peer: r.Properties.SourceSecurityGroupId ?? r.Properties.DestinationSecurityGroupId,
          ports: [r.Properties.FromPort, r.Properties.ToPort],
        }))
        .sort((a, b) => `${a.ports}${a.rule}`.localeCompare(`${b.ports}${b.rule}`));
    const functionsGroup = { 'Fn::ImportValue': 'esync-dev-database-functions-group' };
    const admitted = (port: number) => [
      { rule: 'Egress', group: functionsGroup, peer: NETWORK.databaseSecurityGroupId, ports: [port, port] },
      { rule: 'Ingress', group: NETWORK.databaseSecurityGroupId, peer: functionsGroup, ports: [port, port] },
    ];

    it('opens only the PostgreSQL port for PostgreSQL pipelines, from the functions’ group only, in a stack of their own', () => {
      const assembly = synth(PIPELINES);
      const core = assembly.getStackByName('esync-dev').template as Cfn & {
        Outputs: Record<string, unknown>;
      };

      expect(rules(assembly.getStackByName('esync-dev-core-network').template as Cfn)).toEqual(
        admitted(5432),
      );
      expect(rules(core)).toEqual([]);
      expect(core.Outputs.DatabaseFunctionsGroupId).toEqual({
        Description: 'Security group of the functions that connect to databases',
        Value: { 'Fn::GetAtt': [expect.stringMatching(/^NetworkFunctions/), 'GroupId'] },
        Export: { Name: 'esync-dev-database-functions-group' },
      });
      for (const pipeline of PIPELINES)
        expect(rules(assembly.getStackByName(`esync-dev-${pipeline.name}`).template as Cfn)).toEqual([]);
    });

    it('opens a MySQL pipeline’s own port when it comes, and leaves the shared stack as it was', () => {
      const before = synth(PIPELINES);
      const after = synth([...PIPELINES, mysqlOn3307]);

      expect(rules(after.getStackByName('esync-dev-core-network').template as Cfn)).toEqual([
        ...admitted(3307),
        ...admitted(5432),
      ]);
      expect(JSON.stringify(after.getStackByName('esync-dev').template)).toBe(
        JSON.stringify(before.getStackByName('esync-dev').template),
      );
    });

    it('opens the ports the network names in the shared stack instead, and is cdk-nag clean either way', () => {
      const named = synth([...PIPELINES, mysqlOn3307], { ...NETWORK, databasePorts: [5432] });
      const { app } = fixtureApp({
        pipelines: [...PIPELINES, mysqlOn3307],
        layout: 'per-pipeline',
        context: { network: { dev: NETWORK } },
      });

      expect(named.stacks.map((s) => s.stackName)).not.toContain('esync-dev-core-network');
      expect(rules(named.getStackByName('esync-dev').template as Cfn).map((r) => [r.rule, r.ports])).toEqual([
        ['Egress', [5432, 5432]],
        ['Ingress', [5432, 5432]],
      ]);
      expect(new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName)).toEqual([]);
    });

    it('refuses a pipeline named as the stack of the ports', () => {
      const named = pipelineSchema.parse({ ...PIPELINES[0], name: 'core-network' });

      expect(() => synth([named])).toThrow(
        /a pipeline may not be named "core-network": the name is reserved/,
      );
    });
  });

  it('refuses malformed settings, naming the stage, the setting and the value', () => {
    expect(() => stageNetwork('prod', { prod: { ...NETWORK, vpcId: 'my-vpc' } })).toThrow(
      /network\.prod: vpcId expected an id like vpc-0123abcd/,
    );
    expect(() => stageNetwork('prod', { prod: { ...NETWORK, routeTableIds: ['rtb-0aaa1111'] } })).toThrow(
      /^network\.prod: endpoints "create" needs one routeTableIds entry per subnet \(2\), got 1/,
    );
    expect(() => stageNetwork('prod', '{"prod":')).toThrow(/-c network=\{"prod":: not JSON/);
    expect(stageNetwork('dev', JSON.stringify({ prod: NETWORK }))).toBeUndefined();
  });
});

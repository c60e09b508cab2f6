import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANY_RESOURCE_ACTIONS } from '../../infra/constructs/any-resource-policy.ts';
import { MANAGEMENT_ROUTES } from '../../infra/constructs/http-api.ts';
import { pipelineSchema } from '../../shared/pipeline/schema.ts';
import { MANAGEMENT_ROUTES as ROUTES_SERVED } from '../../shared/usecases/api/routes.ts';
import { fixtureTemplate, logicalIdOf, resourceNamed, resourcesOf } from './fixtures.ts';

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

let template: Template;
beforeAll(() => {
  template = fixtureTemplate();
});

const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** Every policy statement of the template: identity policies, key, queue, bucket and topic policies. */
function allStatements(): Array<{ owner: string; statement: Statement }> {
  const documents: Array<[string, unknown]> = [];
  for (const [id, r] of Object.entries(
    template.toJSON().Resources as Record<string, { Properties?: Record<string, unknown> }>,
  )) {
    const p = r.Properties ?? {};
    if (p.PolicyDocument) documents.push([id, p.PolicyDocument]);
    if (p.KeyPolicy) documents.push([id, p.KeyPolicy]);
    for (const inline of (p.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? [])
      documents.push([id, inline.PolicyDocument]);
  }
  return documents.flatMap(([owner, doc]) =>
    (doc as { Statement: Statement[] }).Statement.map((statement) => ({ owner, statement })),
  );
}

/** Statements of the identity policies attached to a function's role. */
function roleStatements(functionName: string, of: Template = template): Statement[] {
  const fn = resourceNamed(of, 'AWS::Lambda::Function', 'FunctionName', functionName);
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resourcesOf(of, 'AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const grants = (statements: Statement[], action: string) =>
  statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action));

describe('IAM', () => {
  it('allows no wildcard action in any policy: no "*", no "service:*", no "service:Prefix*"', () => {
    const wildcards = allStatements()
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ owner, statement }) =>
        asList(statement.Action)
          .filter((a) => a.includes('*'))
          .map((a) => `${owner}: ${a}`),
      );

    expect(wildcards).toEqual([]);
  });

  it('grants resource "*" only in policies of one statement each, for X-Ray, log delivery or VPC network interfaces', () => {
    const allowed = new Set(Object.values(ANY_RESOURCE_ACTIONS).map((actions) => [...actions].sort().join()));
    const identityPolicies = Object.entries(resourcesOf(template, 'AWS::IAM::Policy'));
    const onAnyResource = identityPolicies.flatMap(([id, policy]) =>
      (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter((s) =>
        asList(s.Resource).includes('*'),
      ).map((statement) => ({
        id,
        statement,
        statements: (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.length,
      })),
    );
    const inlineOnAnyResource = Object.entries(resourcesOf(template, 'AWS::IAM::Role')).filter(([, role]) =>
      JSON.stringify(role.Properties.Policies ?? []).includes('"Resource":"*"'),
    );

    expect(onAnyResource.length).toBeGreaterThan(0);
    const misplaced = onAnyResource.filter(
      ({ statement, statements }) =>
        statements !== 1 ||
        statement.Effect !== 'Allow' ||
        statement.Resource !== '*' ||
        !allowed.has(asList(statement.Action).sort().join()),
    );
    expect(misplaced.map(({ id, statement }) => `${id}: ${JSON.stringify(statement)}`)).toEqual([]);
    expect(
      onAnyResource.every(({ id }) => /(Tracing|LogDelivery|NetworkInterfaces)[0-9A-F]{8}$/.test(id)),
    ).toBe(true);
    expect(inlineOnAnyResource).toEqual([]);
  });

  it('lets each state machine read its own pipeline’s plan manifests and no other object', () => {
    const dataBucket = Object.keys(resourcesOf(template, 'AWS::S3::Bucket')).filter((id) =>
      id.startsWith('StorageDataBucket'),
    );
    expect(dataBucket).toHaveLength(1);
    const bucketArn = { 'Fn::GetAtt': [dataBucket[0], 'Arn'] };
    for (const pipeline of ['accounts-sync', 'stock-cdc', 'issues-hook']) {
      const machine = resourceNamed(
        template,
        'AWS::StepFunctions::StateMachine',
        'StateMachineName',
        `esync-dev-${pipeline}-sm`,
      );
      const roleId = (machine.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const reads = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
        .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .filter((s) => asList(s.Action).some((a) => a.startsWith('s3:')));

      expect(reads, pipeline).toEqual([
        {
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: { 'Fn::Join': ['', [bucketArn, `/manifests/${pipeline}/*`]] },
        },
      ]);
    }
  });

  it('attaches no managed policy to any role', () => {
    for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role')))
      expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
  });

  it('lets a Load function write its own pipeline’s target table and no other', () => {
    const tableId = logicalIdOf(
      template,
      'AWS::DynamoDB::Table',
      'TableName',
      'esync-dev-accounts-sync-target',
    );
    const tableArn = JSON.stringify({ 'Fn::GetAtt': [tableId, 'Arn'] });

    const own = grants(roleStatements('esync-dev-accounts-sync-load-fn'), 'dynamodb:PutItem');
    const other = grants(roleStatements('esync-dev-stock-cdc-load-fn'), 'dynamodb:PutItem');

    expect(own.some((s) => JSON.stringify(s.Resource).includes(tableArn))).toBe(true);
    expect(other.some((s) => JSON.stringify(s.Resource).includes(tableArn))).toBe(false);
    // Its target.batchInserts: its Load inserts with PartiQL, on that table only.
    const inserts = grants(roleStatements('esync-dev-accounts-sync-load-fn'), 'dynamodb:PartiQLInsert');
    expect(inserts.map((s) => JSON.stringify(s.Resource))).toEqual([
      JSON.stringify({ 'Fn::GetAtt': [tableId, 'Arn'] }),
    ]);
    expect(grants(roleStatements('esync-dev-issues-hook-load-fn'), 'dynamodb:PartiQLInsert')).toEqual([]);
  });

  it('lets Load archive changes for history only for pipelines that keep it (an s3 lake always does)', () => {
    const archives = (fn: string, pipeline: string) =>
      grants(roleStatements(fn), 's3:PutObject').some((s) =>
        JSON.stringify(s.Resource).includes(`/archive/${pipeline}/*`),
      );

    expect(archives('esync-dev-accounts-sync-load-fn', 'accounts-sync')).toBe(true);
    expect(archives('esync-dev-stock-cdc-load-fn', 'stock-cdc')).toBe(true);
    expect(archives('esync-dev-issues-hook-load-fn', 'issues-hook')).toBe(false);
    expect(archives('esync-dev-accounts-sync-load-fn', 'stock-cdc')).toBe(false);
  });

  const maskKeyId = () =>
    logicalIdOf(template, 'AWS::SecretsManager::Secret', 'Name', 'esync-dev-core-mask-key');

  it('lets functions read the secrets pipelines name, by name, and only where they use them', () => {
    const secretArns = (fn: string) =>
      JSON.stringify(grants(roleStatements(fn), 'secretsmanager:GetSecretValue').map((s) => s.Resource));

    expect(secretArns('esync-dev-core-extract')).toContain(':secret:esync/test/accounts-db-??????');
    expect(secretArns('esync-dev-core-webhook')).toContain(':secret:esync/test/github-hook-??????');
    expect(secretArns('esync-dev-issues-hook-load-fn')).toContain(':secret:esync/test/issues-api-??????');
    expect(secretArns('esync-dev-core-extract')).not.toContain('github-hook');
    expect(secretArns('esync-dev-stock-cdc-load-fn')).toBe(JSON.stringify([{ Ref: maskKeyId() }]));
  });

  it('lets the Load function of a github source read its token, to read tied records again', () => {
    const github = (name: string, token?: string) =>
      pipelineSchema.parse({
        name,
        source: {
          type: 'github',
          owner: 'octo',
          repo: 'hello',
          key: ['id'],
          cursor: ['updated_at'],
          ...(token && { token: { secret: token } }),
        },
        target: { type: 'dynamodb' },
        triggers: { webhook: { signature: 'github', secret: 'esync/test/repo-hook' } },
      });
    const own = fixtureTemplate({
      pipelines: [github('repo-issues', 'esync/test/repo-token'), github('open-repo')],
    });
    const secretArns = (fn: string) =>
      JSON.stringify(grants(roleStatements(fn, own), 'secretsmanager:GetSecretValue').map((s) => s.Resource));

    expect(secretArns('esync-dev-repo-issues-load-fn')).toContain(':secret:esync/test/repo-token-??????');
    expect(secretArns('esync-dev-repo-issues-load-fn')).not.toContain('repo-hook');
    expect(secretArns('esync-dev-open-repo-load-fn')).not.toContain('repo-token');
    // A source without an API for one record (PostgreSQL) gives its Load none of its secrets.
    expect(
      JSON.stringify(
        grants(roleStatements('esync-dev-accounts-sync-load-fn'), 'secretsmanager:GetSecretValue'),
      ),
    ).not.toContain('accounts-db');
  });

  it('lets only the functions that hash masked fields read the stage mask key', () => {
    const readers = [
      'esync-dev-core-verify',
      'esync-dev-accounts-sync-load-fn',
      'esync-dev-stock-cdc-load-fn',
    ];
    const others = [
      'esync-dev-core-extract',
      'esync-dev-core-webhook',
      'esync-dev-core-api',
      'esync-dev-core-cleanup',
    ];
    const readsMaskKey = (fn: string) =>
      JSON.stringify(
        grants(roleStatements(fn), 'secretsmanager:GetSecretValue').map((s) => s.Resource),
      ).includes(maskKeyId());

    for (const fn of readers) expect(readsMaskKey(fn), fn).toBe(true);
    for (const fn of others) expect(readsMaskKey(fn), fn).toBe(false);
  });

  it('lets the webhook function send only to the load queues of pipelines that take webhooks', () => {
    // By name (the queues may sit in the pipelines' own stacks): `…:<account>:<queue name>`.
    const sends = JSON.stringify(
      grants(roleStatements('esync-dev-core-webhook'), 'sqs:SendMessage').map((s) => s.Resource),
    );

    expect(sends).toContain(':esync-dev-issues-hook-load"');
    expect(sends).not.toContain('esync-dev-accounts-sync-load');
    expect(sends).not.toContain('esync-dev-stock-cdc-load');
    expect(sends).not.toContain('*');
  });

  it('lets the functions that announce runs put events on the ESync bus, and no other', () => {
    const announcers = [
      'esync-dev-core-discover',
      'esync-dev-core-cleanup',
      'esync-dev-core-record-failure',
      'esync-dev-core-run-ended',
    ];
    const silent = [
      'esync-dev-core-plan',
      'esync-dev-core-extract',
      'esync-dev-core-await-load',
      'esync-dev-core-verify',
    ];

    for (const fn of announcers) expect(grants(roleStatements(fn), 'events:PutEvents'), fn).toHaveLength(1);
    for (const fn of silent) expect(grants(roleStatements(fn), 'events:PutEvents'), fn).toHaveLength(0);
  });

  it('lets the management API start runs and the webhook only send to load queues', () => {
    expect(grants(roleStatements('esync-dev-core-api'), 'states:StartExecution')).toHaveLength(1);
    expect(grants(roleStatements('esync-dev-core-webhook'), 'states:StartExecution')).toHaveLength(0);
    expect(grants(roleStatements('esync-dev-core-webhook'), 'sqs:SendMessage').length).toBeGreaterThan(0);
    expect(grants(roleStatements('esync-dev-core-webhook'), 'sqs:ReceiveMessage')).toHaveLength(0);
  });
});

describe('encryption and TLS', () => {
  const keyId = () =>
    logicalIdOf(template, 'AWS::KMS::Key', 'Description', 'ESync data key (esync-dev-core-key)');

  it('encrypts every queue with the stage key', () => {
    const queues = Object.entries(resourcesOf(template, 'AWS::SQS::Queue'));

    expect(queues.length).toBe(9);
    for (const [id, q] of queues)
      expect(q.Properties.KmsMasterKeyId, id).toEqual({ 'Fn::GetAtt': [keyId(), 'Arn'] });
  });

  it('encrypts every table with the stage key, with point-in-time recovery', () => {
    for (const [id, t] of Object.entries(resourcesOf(template, 'AWS::DynamoDB::Table'))) {
      expect(t.Properties.SSESpecification, id).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
      expect(t.Properties.PointInTimeRecoverySpecification, id).toEqual({ PointInTimeRecoveryEnabled: true });
    }
  });

  it('encrypts every bucket: data with the stage key, access logs with S3-managed keys', () => {
    const algorithms = Object.values(resourcesOf(template, 'AWS::S3::Bucket')).map((b) =>
      JSON.stringify(b.Properties.BucketEncryption),
    );

    expect(algorithms).toHaveLength(2);
    expect(algorithms.filter((a) => a.includes('"aws:kms"') && a.includes(keyId()))).toHaveLength(1);
    expect(algorithms.filter((a) => a.includes('"AES256"'))).toHaveLength(1);
  });

  it('rotates the key', () => {
    expect(resourcesOf(template, 'AWS::KMS::Key')[keyId()]?.Properties.EnableKeyRotation).toBe(true);
  });

  it('denies requests without TLS on every queue, bucket and the alarm topic', () => {
    const denied = allStatements()
      .filter(
        ({ statement: s }) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      )
      .map(({ owner }) => owner);
    const policiesOf = (type: string) => Object.keys(resourcesOf(template, type));

    for (const policy of [
      ...policiesOf('AWS::SQS::QueuePolicy'),
      ...policiesOf('AWS::S3::BucketPolicy'),
      ...policiesOf('AWS::SNS::TopicPolicy'),
    ])
      expect(denied, policy).toContain(policy);
    expect(policiesOf('AWS::SQS::QueuePolicy')).toHaveLength(9);
    expect(policiesOf('AWS::S3::BucketPolicy')).toHaveLength(2);
  });

  it('blocks public access to every bucket', () => {
    for (const [id, b] of Object.entries(resourcesOf(template, 'AWS::S3::Bucket')))
      expect(b.Properties.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
  });
});

describe('HTTP API', () => {
  const routes = () =>
    Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route')).map((r) => ({
      key: r.Properties.RouteKey as string,
      auth: r.Properties.AuthorizationType as string,
    }));

  it('requires SigV4 (AWS_IAM) on every management route', () => {
    const management = routes().filter((r) => !r.key.startsWith('POST /webhooks/'));

    expect(management).toHaveLength(MANAGEMENT_ROUTES.length);
    for (const route of management) expect(route.auth, route.key).toBe('AWS_IAM');
  });

  it('takes webhooks without IAM (the function checks signatures)', () => {
    expect(routes().filter((r) => r.key === 'POST /webhooks/{pipeline}')).toEqual([
      { key: 'POST /webhooks/{pipeline}', auth: 'NONE' },
    ]);
  });

  it('declares exactly the routes the management function serves', () => {
    const declared = MANAGEMENT_ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    const served = ROUTES_SERVED.map((r) => `${r.method} ${r.template}`).sort();

    expect(declared).toEqual(served);
  });

  it('throttles its stage by default at the management limits, and access-logs it', () => {
    const stage = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'));

    expect(stage).toHaveLength(1);
    expect(stage[0]?.Properties).toMatchObject({
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      AccessLogSettings: { Format: expect.stringContaining('$context.identity.userArn') },
    });
  });
});

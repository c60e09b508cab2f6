import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { MANAGEMENT_ROUTES } from '../../infra/constructs/http-api.ts';
import { loadPipelineFiles } from '../../shared/pipeline/load.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { FIXTURE_PIPELINES, fixtureApp } from '../infra/fixtures.ts';

/**
 * Security properties of the synthesized stack, for the example pipelines and the infra test
 * fixtures together (every source and target type): least privilege without wildcard actions,
 * encryption at rest with the stage's key, TLS required, the management API behind IAM, and a
 * cdk-nag AwsSolutions run without unacknowledged findings.
 */

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Principal?: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

let pipelines: Pipeline[];
let resources: Record<string, Resource>;

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every policy statement in the template, with where it is. */
function statements(): Array<{ where: string; statement: Statement }> {
  const out: Array<{ where: string; statement: Statement }> = [];
  const add = (where: string, document: unknown) => {
    for (const statement of list(
      (document as { Statement?: Statement | Statement[] } | undefined)?.Statement,
    ))
      out.push({ where, statement });
  };
  for (const [id, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    add(`${id} (${r.Type})`, p.PolicyDocument);
    add(`${id} (${r.Type}) key policy`, p.KeyPolicy);
    add(`${id} (${r.Type}) trust policy`, p.AssumeRolePolicyDocument);
    for (const inline of list(p.Policies as Array<{ PolicyDocument: unknown }> | undefined))
      add(`${id} (${r.Type}) inline policy`, inline.PolicyDocument);
  }
  return out;
}

/** The value CloudFormation resolves to the ARN (or id) of resource `logicalId`. */
function refersTo(value: unknown, logicalId: string): boolean {
  const json = JSON.stringify(value);
  return (
    json === JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }) ||
    json === JSON.stringify({ Ref: logicalId })
  );
}

function isTlsDeny(statement: Statement, action: string): boolean {
  return (
    statement.Effect === 'Deny' &&
    list(statement.Action).includes(action) &&
    JSON.stringify(statement.Principal) === JSON.stringify({ AWS: '*' }) &&
    statement.Condition?.Bool?.['aws:SecureTransport'] === 'false'
  );
}

beforeAll(async () => {
  const loaded = await loadPipelineFiles([
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../pipelines'),
  ]);
  expect(loaded.problems).toEqual([]);
  pipelines = [...loaded.pipelines, ...FIXTURE_PIPELINES];
  const { app, stack } = fixtureApp({ pipelines });
  resources = app.synth().getStackByName(stack.stackName).template.Resources as Record<string, Resource>;
});

describe('IAM', () => {
  it('grants no wildcard action: no Allow statement names `*`, `service:*` or a `*` pattern, nor uses NotAction', () => {
    const wildcards = statements()
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ where, statement }) => [
        ...list(statement.Action)
          .filter((action) => typeof action !== 'string' || action.includes('*'))
          .map((action) => `${where}: ${JSON.stringify(action)}`),
        ...(statement.NotAction === undefined
          ? []
          : [`${where}: NotAction ${JSON.stringify(statement.NotAction)}`]),
      ]);

    expect(statements().length).toBeGreaterThan(20);
    expect(wildcards).toEqual([]);
  });

  it('denies with a wildcard action only to refuse requests without TLS', () => {
    const denies = statements().filter(
      ({ statement }) => statement.Effect === 'Deny' && list(statement.Action).some((a) => a.includes('*')),
    );

    const other = denies.filter(
      ({ statement }) => statement.Condition?.Bool?.['aws:SecureTransport'] !== 'false',
    );

    expect(other.map((d) => d.where)).toEqual([]);
  });

  it('attaches no managed policy, whose actions the template would not show', () => {
    const managed = [...ofType('AWS::IAM::Role'), ...ofType('AWS::IAM::User'), ...ofType('AWS::IAM::Group')]
      .filter(([, r]) => list(r.Properties?.ManagedPolicyArns as unknown[]).length > 0)
      .map(([id, r]) => `${id}: ${JSON.stringify(r.Properties?.ManagedPolicyArns)}`);

    expect(ofType('AWS::IAM::Role').length).toBeGreaterThan(5);
    expect(managed).toEqual([]);
    expect(ofType('AWS::IAM::ManagedPolicy')).toEqual([]);
  });
});

describe('encryption at rest', () => {
  let keyId: string;
  beforeAll(() => {
    const keys = ofType('AWS::KMS::Key');
    expect(keys).toHaveLength(1);
    keyId = (keys[0] as [string, Resource])[0];
  });

  it('encrypts every SQS queue with the stage’s KMS key', () => {
    const queues = ofType('AWS::SQS::Queue');

    const unencrypted = queues
      .filter(([, r]) => !refersTo(r.Properties?.KmsMasterKeyId, keyId))
      .map(([id]) => id);

    expect(queues.length).toBeGreaterThanOrEqual(2 * pipelines.length);
    expect(unencrypted).toEqual([]);
  });

  it('encrypts every DynamoDB table with the stage’s KMS key', () => {
    const tables = ofType('AWS::DynamoDB::Table');

    const unencrypted = tables
      .filter(([, r]) => {
        const sse = r.Properties?.SSESpecification as Record<string, unknown> | undefined;
        return !(sse?.SSEEnabled === true && sse.SSEType === 'KMS' && refersTo(sse.KMSMasterKeyId, keyId));
      })
      .map(([id]) => id);

    expect(tables.length).toBeGreaterThanOrEqual(3);
    expect(unencrypted).toEqual([]);
  });

  it('encrypts every bucket with the stage’s KMS key, except the access-log bucket, which S3 can only encrypt with S3-managed keys', () => {
    const buckets = ofType('AWS::S3::Bucket');
    const logDestinations = new Set(
      buckets.flatMap(([, r]) => {
        const logging = r.Properties?.LoggingConfiguration as
          | { DestinationBucketName?: { Ref?: string } }
          | undefined;
        return logging?.DestinationBucketName?.Ref ? [logging.DestinationBucketName.Ref] : [];
      }),
    );

    const wrong = buckets
      .filter(([id, r]) => {
        const rules = (
          r.Properties?.BucketEncryption as { ServerSideEncryptionConfiguration?: unknown[] } | undefined
        )?.ServerSideEncryptionConfiguration as
          | Array<{ ServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: unknown } }>
          | undefined;
        const byDefault = rules?.[0]?.ServerSideEncryptionByDefault;
        if (logDestinations.has(id)) return byDefault?.SSEAlgorithm !== 'AES256';
        return !(byDefault?.SSEAlgorithm === 'aws:kms' && refersTo(byDefault.KMSMasterKeyID, keyId));
      })
      .map(([id]) => id);

    expect(buckets.length).toBeGreaterThanOrEqual(1);
    expect(wrong).toEqual([]);
  });

  it('encrypts the alarm topic and every log group with the stage’s KMS key', () => {
    const topics = ofType('AWS::SNS::Topic').filter(
      ([, r]) => !refersTo(r.Properties?.KmsMasterKeyId, keyId),
    );
    const logGroups = ofType('AWS::Logs::LogGroup').filter(
      ([, r]) => !refersTo(r.Properties?.KmsKeyId, keyId),
    );

    expect(topics.map(([id]) => id)).toEqual([]);
    expect(logGroups.map(([id]) => id)).toEqual([]);
  });
});

describe('encryption in transit', () => {
  it('refuses requests without TLS on every queue', () => {
    const policies = ofType('AWS::SQS::QueuePolicy');

    const unguarded = ofType('AWS::SQS::Queue')
      .filter(
        ([queueId]) =>
          !policies.some(([, policy]) => {
            const p = policy.Properties ?? {};
            const covers = list(p.Queues as unknown[]).some((q) => refersTo(q, queueId));
            const statementsOf = list((p.PolicyDocument as { Statement?: Statement[] }).Statement);
            return (
              covers &&
              statementsOf.some(
                (s) => isTlsDeny(s, 'sqs:*') && list(s.Resource).some((res) => refersTo(res, queueId)),
              )
            );
          }),
      )
      .map(([id]) => id);

    expect(unguarded).toEqual([]);
  });

  it('refuses requests without TLS on every bucket and its objects', () => {
    const policies = ofType('AWS::S3::BucketPolicy');

    const unguarded = ofType('AWS::S3::Bucket')
      .filter(([bucketId]) => {
        const policy = policies.find(([, p]) => refersTo(p.Properties?.Bucket, bucketId));
        const statementsOf = list(
          (policy?.[1].Properties?.PolicyDocument as { Statement?: Statement[] })?.Statement,
        );
        return !statementsOf.some((s) => {
          const targets = list(s.Resource).map((res) => JSON.stringify(res));
          return (
            isTlsDeny(s, 's3:*') &&
            targets.includes(JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] })) &&
            targets.some((t) => t.includes(bucketId) && t.includes('/*'))
          );
        });
      })
      .map(([id]) => id);

    expect(unguarded).toEqual([]);
  });
});

describe('HTTP API', () => {
  it('authorizes every management route with AWS_IAM and leaves only the webhook route to signature checks', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => ({
      key: r.Properties?.RouteKey as string,
      auth: (r.Properties?.AuthorizationType as string | undefined) ?? 'NONE',
    }));

    const open = routes.filter((r) => r.auth !== 'AWS_IAM').map((r) => r.key);
    const iam = routes.filter((r) => r.auth === 'AWS_IAM').map((r) => r.key);

    expect(open).toEqual(['POST /webhooks/{pipeline}']);
    expect(iam.sort()).toEqual(MANAGEMENT_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions pack', () => {
    // Prepare
    const { app } = fixtureApp({ pipelines });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    let findings: string[] = [];
    try {
      app.synth();
    } catch (error) {
      const reportFile = path.join(app.outdir, 'validation-report.json');
      if (!existsSync(reportFile)) throw error;
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
        pluginReports: Array<{
          violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }>;
        }>;
      };
      findings = report.pluginReports.flatMap((plugin) =>
        plugin.violations.flatMap((v) =>
          v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`),
        ),
      );
    }

    // Assess
    expect(findings).toEqual([]);
  });
});

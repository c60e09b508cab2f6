import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, startDemoDatabase } from '../../demo/demo-db.ts';
import type { CfnTemplate } from '../../local/template.ts';
import { createAwsClients } from '../../shared/aws/clients.ts';
import { loadQueueName, ownedTargetTableName } from '../../shared/naming.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  examplePipeline,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';
import { seedE2eUsers } from '../support/e2e-users.ts';

const PIPELINE = 'users-sync';
const EXTRACT = 'esync-dev-core-extract';
const LOAD_QUEUE_ARN = `arn:aws:sqs:us-east-1:000000000000:${loadQueueName('dev', PIPELINE)}`;

/** The template with `action` taken out of every statement of the policies attached to `roleIdPrefix`. */
function withoutGrant(roleIdPrefix: string, action: string) {
  return (template: CfnTemplate): CfnTemplate => {
    const resources = structuredClone(template.Resources);
    for (const resource of Object.values(resources)) {
      const props = resource.Properties as
        | { Roles?: Array<{ Ref?: string }>; PolicyDocument?: { Statement: Array<{ Action: unknown }> } }
        | undefined;
      if (resource.Type !== 'AWS::IAM::Policy' || !props?.Roles?.some((r) => r.Ref?.startsWith(roleIdPrefix)))
        continue;
      const statements = props.PolicyDocument?.Statement ?? [];
      for (const statement of statements) {
        const actions = ([] as unknown[]).concat(statement.Action);
        statement.Action = actions.filter((a) => a !== action);
      }
      props.PolicyDocument = { Statement: statements.filter((s) => (s.Action as unknown[]).length > 0) };
    }
    return { ...template, Resources: resources };
  };
}

async function startRun(e2e: E2eStack): Promise<string> {
  const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
  expect(started.status).toBe(202);
  return started.body.runId;
}

describe('IAM from the synthesized template, enforced by the local stack', () => {
  let db: DemoDatabase;
  let project: E2eProject;
  let e2e: E2eStack | undefined;

  beforeAll(async () => {
    db = await startDemoDatabase();
    await seedE2eUsers(db.db, 40);
    project = createProject({ [PIPELINE]: examplePipeline(PIPELINE) });
  });

  afterEach(async () => {
    await e2e?.stop();
    e2e = undefined;
  });

  afterAll(async () => {
    await db?.stop();
    project?.remove();
  });

  it('fails a run whose Extract lost sqs:SendMessage, naming the action and the queue', async () => {
    // Prepare
    e2e = await startE2eStack(
      project,
      { 'esync/demo/users-db': db.secretValue },
      { template: withoutGrant('FunctionsExtractRole', 'sqs:SendMessage') },
    );

    // Act
    const run = await waitForRun(e2e.stack, await startRun(e2e));

    // Assess
    expect(run.status).toBe('failed');
    expect(run.counts.loaded).toBe(0);
    expect(JSON.stringify(run.failure)).toContain(
      `is not authorized to perform: sqs:SendMessage on resource: ${LOAD_QUEUE_ARN}`,
    );
    expect(e2e.stack.iam.denials).toContainEqual(
      expect.objectContaining({
        caller: `function ${EXTRACT}`,
        action: 'sqs:SendMessage',
        resource: LOAD_QUEUE_ARN,
      }),
    );
  });

  it('answers a denied call with the error the SDK raises on AWS', async () => {
    // Prepare
    e2e = await startE2eStack(project, { 'esync/demo/users-db': db.secretValue });
    const clients = createAwsClients();
    const asExtract = <T>(call: () => Promise<T>) => e2e?.stack.iam.runAsFunction(EXTRACT, call);
    const table = ownedTargetTableName('dev', PIPELINE);

    // Act
    const errors = await Promise.all(
      [
        () => clients.dynamodb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'x' } } })),
        () =>
          clients.s3.send(
            new PutObjectCommand({ Bucket: e2e?.dataBucket, Key: 'reports/x.json', Body: '{}' }),
          ),
        () =>
          clients.sqs.send(
            new SendMessageCommand({
              QueueUrl: `${e2e?.stack.env.ESYNC_QUEUE_URL_PREFIX}${table}`,
              MessageBody: '{}',
            }),
          ),
      ].map((call) =>
        asExtract(call)?.then(
          () => undefined,
          (error: Error) => error,
        ),
      ),
    );
    const allowed = await asExtract(() =>
      clients.s3.send(
        new PutObjectCommand({ Bucket: e2e?.dataBucket, Key: 'claim-check/x.json', Body: '{}' }),
      ),
    );

    // Assess
    const [dynamodb, s3, sqs] = errors;
    expect(dynamodb?.name).toBe('AccessDeniedException');
    expect(dynamodb?.message).toMatch(
      new RegExp(
        `^User: arn:aws:sts::000000000000:assumed-role/[\\w-]+/${EXTRACT} is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${table} because no identity-based policy allows the dynamodb:PutItem action$`,
      ),
    );
    expect(s3?.name).toBe('AccessDenied');
    expect((s3 as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(403);
    expect(s3?.message).toContain(`s3:PutObject on resource: arn:aws:s3:::${e2e.dataBucket}/reports/x.json`);
    expect(sqs?.name).toMatch(/^AccessDenied/);
    expect(sqs?.message).toContain(
      `sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:${table}`,
    );
    expect(allowed?.$metadata.httpStatusCode).toBe(200);
    for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
  });

  it('in report mode lets the run through and lists every call that would be denied', async () => {
    // Prepare
    e2e = await startE2eStack(
      project,
      { 'esync/demo/users-db': db.secretValue },
      { iam: 'report', template: withoutGrant('FunctionsExtractRole', 'sqs:SendMessage') },
    );

    // Act
    const run = await waitForRun(e2e.stack, await startRun(e2e));

    // Assess
    expect(run.status).toBe('succeeded');
    expect(e2e.stack.iam.denials).toEqual([
      expect.objectContaining({
        caller: `function ${EXTRACT}`,
        action: 'sqs:SendMessage',
        resource: LOAD_QUEUE_ARN,
      }),
    ]);
    expect(e2e.log).toContainEqual(
      expect.stringContaining(`iam: would deny function ${EXTRACT}: sqs:SendMessage`),
    );
  });

  it('refuses to start when an event source mapping role may not read its queue', async () => {
    // Act
    const starting = startE2eStack(
      project,
      { 'esync/demo/users-db': db.secretValue },
      { template: withoutGrant('PipelineUsersSyncLoadFunctionRole', 'sqs:ReceiveMessage') },
    );

    // Assess
    await expect(starting).rejects.toThrow(
      `event source mapping of function esync-dev-users-sync-load-fn: sqs:ReceiveMessage on ${LOAD_QUEUE_ARN}`,
    );
  });
});

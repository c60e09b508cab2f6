import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManagementHandler, type ManagementEvent } from '../../../functions/api/handler.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../../local/servers.ts';
import { createStateRepositories } from '../../../shared/state/index.ts';
import { type ApiHarness, startApiHarness } from './harness.ts';

let h: ApiHarness;
let handle: ReturnType<typeof createManagementHandler>;
const context = { awsRequestId: 'lambda-req' } as Context;

beforeAll(async () => {
  h = await startApiHarness();
  handle = createManagementHandler(h.deps);
});
afterAll(() => h?.stop());

function event(overrides: {
  method: string;
  rawPath: string;
  body?: string;
  isBase64Encoded?: boolean;
  stage?: string;
  userArn?: string | null;
  query?: Record<string, string>;
}): ManagementEvent {
  return {
    rawPath: overrides.rawPath,
    queryStringParameters: overrides.query,
    body: overrides.body,
    isBase64Encoded: overrides.isBase64Encoded ?? false,
    requestContext: {
      requestId: 'gw-req-1',
      stage: overrides.stage ?? '$default',
      http: { method: overrides.method },
      ...(overrides.userArn === null
        ? {}
        : {
            authorizer: { iam: { userArn: overrides.userArn ?? 'arn:aws:iam::123456789012:user/ops-bob' } },
          }),
    },
  };
}

describe('api handler', () => {
  it('answers JSON with its content type and audits the IAM principal of the event', async () => {
    // Act
    const result = await handle(
      event({
        method: 'PUT',
        rawPath: '/pipelines/users-sync/checkpoint',
        body: JSON.stringify({ cursor: null, reason: 'reload' }),
      }),
      context,
    );

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toEqual({ 'content-type': 'application/json' });
    expect(JSON.parse(String(result.body))).toMatchObject({
      pipeline: 'users-sync',
      checkpoint: { cursor: null },
    });
    expect((await h.deps.state.audit.list('users-sync'))[0]).toMatchObject({
      who: 'arn:aws:iam::123456789012:user/ops-bob',
      action: 'checkpoint.reset',
      why: 'reload',
    });
  });

  it('routes a path that carries a named stage, and decodes a base64 body', async () => {
    const result = await handle(
      event({
        method: 'POST',
        rawPath: '/prod/conflicts/missing/resolve',
        stage: 'prod',
        body: Buffer.from(JSON.stringify({ choice: 'source', reason: 'x' })).toString('base64'),
        isBase64Encoded: true,
      }),
      context,
    );

    expect(result.statusCode).toBe(404);
    expect(JSON.parse(String(result.body))).toEqual({ error: 'conflict "missing" does not exist' });
  });

  it('passes query parameters and answers 400 with the issues', async () => {
    const result = await handle(
      event({ method: 'GET', rawPath: '/runs', query: { limit: 'many' } }),
      context,
    );

    expect(result.statusCode).toBe(400);
    expect(JSON.parse(String(result.body)).issues).toEqual([{ path: 'limit', message: expect.any(String) }]);
  });

  it('records an event without an IAM principal as anonymous', async () => {
    await handle(
      event({
        method: 'PUT',
        rawPath: '/pipelines/lake-sync/checkpoint',
        body: JSON.stringify({ cursor: null, reason: 'no principal' }),
        userArn: null,
      }),
      context,
    );

    expect((await h.deps.state.audit.list('lake-sync'))[0]).toMatchObject({
      who: 'anonymous',
      why: 'no principal',
    });
  });

  it('answers 503 with Retry-After when the state table cannot be reached, naming nothing of it', async () => {
    // Prepare: a state table behind a port nothing listens on.
    const unreachable = new DynamoDBClient({
      region: LOCAL_REGION,
      endpoint: 'http://127.0.0.1:9',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    const deps = {
      ...h.deps,
      state: createStateRepositories(DynamoDBDocumentClient.from(unreachable), h.config.stateTable),
    };

    // Act
    const result = await createManagementHandler(deps)(event({ method: 'GET', rawPath: '/runs/x' }), context);

    // Assess
    expect(result.statusCode).toBe(503);
    expect(result.headers).toEqual({ 'content-type': 'application/json', 'retry-after': '5' });
    expect(JSON.parse(String(result.body))).toEqual({
      error: 'temporarily unavailable, try again',
      requestId: 'gw-req-1',
    });
  });
});

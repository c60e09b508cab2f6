import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas/api-gatewayv2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { createManagementHandler } from '../../../functions/api/handler.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../../local/servers.ts';
import { createStateRepositories } from '../../../shared/state/index.ts';
import { type ApiHarness, startApiHarness } from './harness.ts';

const sample = JSON.parse(
  readFileSync(
    path.join(import.meta.dirname, '..', '..', '..', 'events', 'apigw', 'api-reset-checkpoint.json'),
    'utf8',
  ),
) as HttpApiEvent;

/** An HTTP API payload 2.0 event as AWS sends it (Powertools' schema of it). */
type HttpApiEvent = z.infer<typeof APIGatewayProxyEventV2Schema>;

let h: ApiHarness;
let handle: ReturnType<typeof createManagementHandler>;
const context = { awsRequestId: 'lambda-req' } as Context;

beforeAll(async () => {
  h = await startApiHarness();
  handle = createManagementHandler(h.deps);
});
afterAll(() => h?.stop());

/**
 * The sample of events/apigw with the request's method, path, body, stage and principal; held to
 * Powertools' schema, so the handler is given what AWS sends.
 */
function event(overrides: {
  method: HttpApiEvent['requestContext']['http']['method'];
  rawPath: string;
  body?: string;
  isBase64Encoded?: boolean;
  stage?: string;
  userArn?: string | null;
  query?: Record<string, string>;
}): HttpApiEvent {
  const { requestContext: sampled, ...rest } = sample;
  const { authorizer, ...requestContext } = sampled;
  const userArn = overrides.userArn ?? 'arn:aws:iam::123456789012:user/ops-bob';
  return APIGatewayProxyEventV2Schema.parse({
    ...rest,
    routeKey: '$default',
    rawPath: overrides.rawPath,
    rawQueryString: new URLSearchParams(overrides.query).toString(),
    ...(overrides.query && { queryStringParameters: overrides.query }),
    ...(overrides.body !== undefined && { body: overrides.body }),
    isBase64Encoded: overrides.isBase64Encoded ?? false,
    requestContext: {
      ...requestContext,
      requestId: 'gw-req-1',
      stage: overrides.stage ?? '$default',
      http: { ...requestContext.http, method: overrides.method, path: overrides.rawPath },
      ...(overrides.userArn !== null && { authorizer: { iam: { ...authorizer?.iam, userArn } } }),
    },
  });
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

  it('answers an event that is not an HTTP API payload 2.0 with 400 naming its fields, and runs nothing', async () => {
    // Prepare: an event without its request context, one whose base64 flag is not a boolean.
    const { requestContext: _, ...noContext } = event({ method: 'GET', rawPath: '/runs' });
    const badFlag = { ...event({ method: 'GET', rawPath: '/runs' }), isBase64Encoded: 'yes' };

    // Act
    const answers = [await handle(noContext, context), await handle(badFlag, context)];

    // Assess
    expect(answers.map((a) => a.statusCode)).toEqual([400, 400]);
    expect(JSON.parse(String(answers[0]?.body))).toMatchObject({
      error: expect.stringMatching(
        /^not an API Gateway HTTP API event \(payload 2\.0\): event\.requestContext/,
      ),
      issues: [{ path: 'event.requestContext', message: expect.any(String) }],
    });
    expect(JSON.parse(String(answers[1]?.body)).issues).toEqual([
      { path: 'event.isBase64Encoded', message: expect.any(String) },
    ]);
  });
});

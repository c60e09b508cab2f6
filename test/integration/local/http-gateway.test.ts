import { request as httpRequest } from 'node:http';
import { APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas';
import type { APIGatewayProxyEventV2, APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpGateway, LOCAL_PRINCIPAL_HEADER, startHttpGateway } from '../../../local/http-gateway.ts';
import { ConfigError } from '../../../shared/errors.ts';

const seen: APIGatewayProxyEventV2[] = [];
const logged: unknown[] = [];
let gateway: HttpGateway;

const echo = async (event: APIGatewayProxyEventV2) => {
  seen.push(event);
  return {
    statusCode: 200,
    body: JSON.stringify({ routeKey: event.routeKey, params: event.pathParameters ?? null }),
  };
};

beforeAll(async () => {
  gateway = await startHttpGateway({
    host: '127.0.0.1',
    integrationTimeoutMs: 300,
    logger: {
      warn: (...args: unknown[]) => logged.push(args),
      error: (...args: unknown[]) => logged.push(args),
    },
    routes: [
      { method: 'POST', path: '/webhooks/{pipeline}', handler: echo },
      { method: 'GET', path: '/runs/{runId}', handler: echo },
      { method: 'GET', path: '/runs/latest', handler: echo },
      { method: 'ANY', path: '/files/{proxy+}', handler: echo },
      {
        method: 'GET',
        path: '/structured',
        handler: async () => ({
          statusCode: 201,
          headers: { 'X-Run-Id': 'r-1', 'content-type': 'application/octet-stream' },
          cookies: ['a=1; Path=/', 'b=2'],
          body: Buffer.from([0, 1, 2, 255]).toString('base64'),
          isBase64Encoded: true,
        }),
      },
      { method: 'GET', path: '/inferred', handler: async () => ({ ok: true }) as never },
      {
        method: 'GET',
        path: '/boom',
        handler: async () => {
          throw new Error('secret connection string in a stack trace');
        },
      },
      {
        method: 'GET',
        path: '/slow',
        handler: () => new Promise((resolve) => setTimeout(() => resolve({ statusCode: 200 }), 1000)),
      },
      {
        method: 'GET',
        path: '/whoami',
        iam: true,
        handler: async (event: APIGatewayProxyEventV2WithIAMAuthorizer) => ({
          statusCode: 200,
          body: JSON.stringify(event.requestContext.authorizer.iam),
        }),
      },
    ],
  });
});

afterAll(async () => {
  await gateway.stop();
});

/** Sends raw header lines (repeated names kept), which fetch cannot. */
function rawRequest(
  method: string,
  path: string,
  headers: string[],
  body?: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const host = ['Host', new URL(gateway.url).host];
    const req = httpRequest(`${gateway.url}${path}`, { method, headers: [...host, ...headers] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('local HTTP API', () => {
  it('turns a request into a payload 2.0 event as API Gateway builds it', async () => {
    // Prepare
    seen.length = 0;
    // Act
    const sent = Date.now();
    const response = await rawRequest(
      'POST',
      '/webhooks/github?x=1&x=2&name=a%20b',
      [
        'Content-Type',
        'application/json',
        'X-GitHub-Delivery',
        'd-1',
        'X-Multi',
        'one',
        'X-Multi',
        'two',
        'Cookie',
        'session=abc; theme=dark',
        'User-Agent',
        'GitHub-Hookshot/1',
      ],
      Buffer.from('{"action":"opened"}'),
    );
    const answered = Date.now();

    // Assess
    expect(response.status).toBe(200);
    const event = seen[0] as APIGatewayProxyEventV2;
    expect(APIGatewayProxyEventV2Schema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /webhooks/{pipeline}',
      rawPath: '/webhooks/github',
      rawQueryString: 'x=1&x=2&name=a%20b',
      cookies: ['session=abc', 'theme=dark'],
      queryStringParameters: { x: '1,2', name: 'a b' },
      pathParameters: { pipeline: 'github' },
      body: '{"action":"opened"}',
      isBase64Encoded: false,
      requestContext: {
        stage: '$default',
        routeKey: 'POST /webhooks/{pipeline}',
        accountId: '000000000000',
        apiId: 'local',
        http: {
          method: 'POST',
          path: '/webhooks/github',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'GitHub-Hookshot/1',
        },
      },
    });
    expect(event.headers).toMatchObject({
      'x-github-delivery': 'd-1',
      'x-multi': 'one,two',
      'content-type': 'application/json',
    });
    expect(event.headers.cookie).toBeUndefined();
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(event.requestContext.timeEpoch).toBeGreaterThanOrEqual(sent);
    expect(event.requestContext.timeEpoch).toBeLessThanOrEqual(answered);
  });

  it('base64-encodes bodies whose content type is not text', async () => {
    seen.length = 0;

    await fetch(`${gateway.url}/webhooks/bin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'payload=%7B%7D',
    });

    expect(seen[0]).toMatchObject({
      body: Buffer.from('payload=%7B%7D').toString('base64'),
      isBase64Encoded: true,
    });
  });

  it('prefers literal segments over parameters and parameters over greedy paths', async () => {
    const latest = await (await fetch(`${gateway.url}/runs/latest`)).json();
    const byId = await (await fetch(`${gateway.url}/runs/r-42`)).json();
    const greedy = await (
      await fetch(`${gateway.url}/files/exports/2024/a%20b.csv`, { method: 'DELETE' })
    ).json();

    expect(latest).toEqual({ routeKey: 'GET /runs/latest', params: null });
    expect(byId).toEqual({ routeKey: 'GET /runs/{runId}', params: { runId: 'r-42' } });
    expect(greedy).toEqual({ routeKey: 'ANY /files/{proxy+}', params: { proxy: 'exports/2024/a b.csv' } });
  });

  it('maps a structured result back: status, headers, cookies and a base64 body', async () => {
    const response = await fetch(`${gateway.url}/structured`);

    expect(response.status).toBe(201);
    expect(response.headers.get('x-run-id')).toBe('r-1');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  it('answers 200 with the JSON of a result that has no statusCode', async () => {
    const response = await fetch(`${gateway.url}/inferred`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ ok: true });
  });

  it('answers 404 Not Found for an unknown path or method', async () => {
    const unknownPath = await fetch(`${gateway.url}/nowhere`);
    const wrongMethod = await fetch(`${gateway.url}/runs/latest`, { method: 'POST' });

    expect([unknownPath.status, wrongMethod.status]).toEqual([404, 404]);
    expect(await unknownPath.json()).toEqual({ message: 'Not Found' });
  });

  it('answers 500 Internal Server Error without the error’s details when the handler throws', async () => {
    logged.length = 0;

    const response = await fetch(`${gateway.url}/boom`);

    expect(response.status).toBe(500);
    expect(await response.text()).toBe('{"message":"Internal Server Error"}');
    expect(JSON.stringify(logged.map((entry) => String((entry as unknown[])[1])))).toContain(
      'secret connection string',
    );
  });

  it('answers 503 when the handler runs past the integration timeout', async () => {
    const response = await fetch(`${gateway.url}/slow`);

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ message: 'Service Unavailable' });
  });

  it('answers 413 to a body over 10 MB without invoking the handler', async () => {
    seen.length = 0;

    const response = await fetch(`${gateway.url}/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20),
    });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(seen).toEqual([]);
  });

  it('gives IAM routes the caller’s principal, or the local user by default', async () => {
    const asOps = await fetch(`${gateway.url}/whoami`, {
      headers: {
        [LOCAL_PRINCIPAL_HEADER]: 'arn:aws:iam::111122223333:role/ops',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=x',
      },
    });
    const asDefault = await fetch(`${gateway.url}/whoami`);

    expect(await asOps.json()).toMatchObject({
      userArn: 'arn:aws:iam::111122223333:role/ops',
      accountId: '111122223333',
      accessKey: 'AKIAEXAMPLE',
      cognitoIdentity: null,
    });
    expect(await asDefault.json()).toMatchObject({
      userArn: 'arn:aws:iam::000000000000:user/local',
      accountId: '000000000000',
    });
  });

  it('answers 403 Forbidden to an unsigned call of an IAM route when SigV4 is required', async () => {
    const strict = await startHttpGateway({
      requireSigV4: true,
      routes: [
        { method: 'GET', path: '/whoami', iam: true, handler: async () => ({ statusCode: 200, body: 'in' }) },
      ],
    });
    try {
      const unsigned = await fetch(`${strict.url}/whoami`);
      const signed = await fetch(`${strict.url}/whoami`, {
        headers: {
          authorization:
            'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/execute-api/aws4_request',
        },
      });

      expect(unsigned.status).toBe(403);
      expect(await unsigned.json()).toEqual({ message: 'Forbidden' });
      expect(signed.status).toBe(200);
    } finally {
      await strict.stop();
    }
  });

  it('refuses a route defined twice or a greedy segment that is not last', async () => {
    const handler = async () => ({ statusCode: 200 });
    await expect(
      startHttpGateway({
        routes: [
          { method: 'GET', path: '/a', handler },
          { method: 'get', path: '/a', handler },
        ],
      }),
    ).rejects.toThrow(new ConfigError('route "GET /a" is defined twice'));
    await expect(startHttpGateway({ routes: [{ method: 'GET', path: '/{p+}/x', handler }] })).rejects.toThrow(
      /greedy \{p\+\} must be the last segment/,
    );
  });
});

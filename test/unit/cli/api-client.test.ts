import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  apiPath,
  ConnectionError,
  executeApiSigner,
  findDevFile,
  ManagementClient,
  regionOfApiUrl,
} from '../../../cli/api-client.ts';
import { UsageError } from '../../../cli/io.ts';
import { captureIo, type StubApi, startStubApi } from './api-stub.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const signingDate = new Date('2025-01-02T03:04:05Z');

let api: StubApi;
beforeAll(async () => {
  api = await startStubApi((req) => {
    if (req.path === '/runs') return { status: 200, body: { runs: [], next: null } };
    if (req.path === '/pipelines/users-sync/checkpoint')
      return {
        status: 400,
        body: {
          error: 'invalid request body: reason: reason is required',
          issues: [{ path: 'reason', message: 'reason is required' }],
        },
      };
    if (req.path === '/boom') return { status: 500, body: { error: 'internal error', requestId: 'req-9' } };
    return undefined;
  });
});
afterAll(() => api.stop());

describe('SigV4 signing', () => {
  it('signs for execute-api with the credential scope of the date and region', async () => {
    // Prepare
    const client = new ManagementClient(api.url, {
      signer: executeApiSigner('eu-west-1', credentials, signingDate),
    });

    // Act
    await client.get('/runs', { pipeline: 'users sync', after: 'a+b/c=' });

    // Assess
    const headers = api.requests.at(-1)?.headers ?? {};
    expect(headers['x-amz-date']).toBe('20250102T030405Z');
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20250102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-date, Signature=[0-9a-f]{64}$/,
    );
  });

  it('signs exactly the path, query and body that go on the wire', async () => {
    // Prepare
    const captured: { url: string; headers: Record<string, string>; body: string }[] = [];
    const raw: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        captured.push({
          url: req.url ?? '',
          headers: req.headers as Record<string, string>,
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as { port: number }).port;
    const rawClient = new ManagementClient(`http://127.0.0.1:${port}`, {
      signer: executeApiSigner('eu-west-1', credentials, signingDate),
    });

    // Act
    await rawClient.post(apiPath('pipelines', 'users-sync', 'records', 'a b/#1', 'history'), {
      reason: 'x y',
    });
    await rawClient.get('/runs', { after: "it's (1)*", pipeline: 'p' });
    await new Promise((r) => raw.close(r));

    // Assess: a verifier rebuilding each request from the wire computes the same signature.
    const verifier = new SignatureV4({
      service: 'execute-api',
      region: 'eu-west-1',
      credentials,
      sha256: Sha256,
    });
    for (const request of captured) {
      const url = new URL(request.url, `http://127.0.0.1:${port}`);
      const query: Record<string, string> = {};
      for (const pair of url.search.slice(1).split('&').filter(Boolean)) {
        const [k = '', v = ''] = pair.split('=');
        query[decodeURIComponent(k)] = decodeURIComponent(v);
      }
      const signedNames =
        /SignedHeaders=([^,]+)/.exec(request.headers.authorization ?? '')?.[1]?.split(';') ?? [];
      const headers = Object.fromEntries(signedNames.map((n) => [n, request.headers[n] ?? '']));
      const expected = await verifier.sign(
        {
          method: captured.indexOf(request) === 0 ? 'POST' : 'GET',
          protocol: 'http:',
          hostname: '127.0.0.1',
          port,
          path: url.pathname,
          query,
          headers,
          body: request.body === '' ? undefined : request.body,
        },
        { signingDate },
      );
      expect(request.headers.authorization).toBe(expected.headers.authorization);
    }
    expect(captured.map((c) => c.url)).toEqual([
      '/pipelines/users-sync/records/a%20b%2F%231/history',
      '/runs?after=it%27s%20%281%29%2A&pipeline=p',
    ]);
  });
});

describe('finding the API', () => {
  it('finds .esync/dev.json in a parent of the working directory', () => {
    const nested = path.join(api.devDir, 'pipelines', 'deep');
    mkdirSync(nested, { recursive: true });

    expect(findDevFile(nested)).toBe(path.join(api.devDir, '.esync', 'dev.json'));
  });

  it('takes ESYNC_API_URL when no --api-url is given, and the region from an execute-api URL', async () => {
    const io = captureIo(api.devDir, {
      env: { ESYNC_API_URL: 'https://abc123.execute-api.eu-central-1.amazonaws.com' },
    });

    const client = await ManagementClient.connect({}, io, { credentials });

    expect(client.baseUrl).toBe('https://abc123.execute-api.eu-central-1.amazonaws.com');
    expect(regionOfApiUrl(client.baseUrl)).toBe('eu-central-1');
  });

  it("reads the ApiUrl output of the stage's stack from CloudFormation", async () => {
    // Prepare: a CloudFormation stub speaking the Query protocol.
    const stacks: string[] = [];
    const cfn = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        const name = form.get('StackName') ?? '';
        stacks.push(name);
        if (name !== 'esync-prod') {
          res.writeHead(400, { 'content-type': 'text/xml' });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${name} does not exist</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>
          <StackName>esync-prod</StackName><StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2025-01-01T00:00:00Z</CreationTime>
          <Outputs>
            <member><OutputKey>StateTableName</OutputKey><OutputValue>esync-prod-core-state</OutputValue></member>
            <member><OutputKey>ApiUrl</OutputKey><OutputValue>https://xyz.execute-api.us-west-2.amazonaws.com/</OutputValue></member>
          </Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeStacksResponse>`);
      });
    });
    await new Promise<void>((r) => cfn.listen(0, '127.0.0.1', r));
    const cloudFormation = new CloudFormationClient({
      region: 'us-west-2',
      endpoint: `http://127.0.0.1:${(cfn.address() as { port: number }).port}`,
      credentials,
      maxAttempts: 1,
    });
    const io = captureIo(api.devDir);

    // Act
    const client = await ManagementClient.connect({ stage: 'prod' }, io, { cloudFormation, credentials });
    const missing = await ManagementClient.connect({ stage: 'staging' }, io, {
      cloudFormation,
      credentials,
    }).catch((e: unknown) => e);
    cloudFormation.destroy();
    await new Promise((r) => cfn.close(r));

    // Assess
    expect(stacks).toEqual(['esync-prod', 'esync-staging']);
    expect(client.baseUrl).toBe('https://xyz.execute-api.us-west-2.amazonaws.com/');
    expect(missing).toBeInstanceOf(ConnectionError);
    expect((missing as Error).message).toMatch(
      /^stack esync-staging is not deployed in us-west-2; .* or pass --api-url$/,
    );
  });
});

describe('no region', () => {
  const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
  beforeEach(() => {
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  });

  it('says how to give a region (or use --local) when the deployed stack cannot be looked up without one', async () => {
    // Prepare: no region anywhere, as on a machine with no AWS configuration.
    const cloudFormation = new CloudFormationClient({
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const io = captureIo(api.devDir);

    // Act
    const error = await ManagementClient.connect(
      { stage: 'dev' },
      { ...io, env: {} },
      { cloudFormation },
    ).catch((e: unknown) => e);

    // Assess
    expect(error, String(error)).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/--local .*AWS_REGION/);
  });
});

describe('answers', () => {
  it("turns a non-2xx answer into an error naming the status, the API's message and each issue", async () => {
    const client = new ManagementClient(api.url);

    const error = await client
      .put('/pipelines/users-sync/checkpoint', { cursor: null })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as Error).message).toBe(
      'PUT /pipelines/users-sync/checkpoint failed with 400 Bad Request: invalid request body: reason: reason is required\n  reason: reason is required',
    );
  });

  it('keeps the request id of a 500 so it can be found in the logs', async () => {
    const error = await new ManagementClient(api.url).get('/boom').catch((e: unknown) => e);

    expect((error as Error).message).toBe(
      'GET /boom failed with 500 Internal Server Error: internal error (request id req-9)',
    );
  });
});

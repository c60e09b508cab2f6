import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyResultV2,
  Context,
} from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { closeServer, type LocalLogger, listenLocal, readBody } from './aws-json-server.ts';
import { createLambdaContext } from './lambda-context.ts';

/**
 * A local API Gateway HTTP API in front of Lambda handlers: each request becomes a payload
 * format 2.0 event and the handler's result becomes the response, with the gateway's own
 * answers where it gives them (404 `Not Found` for no route, 413 over 10 MB, 500
 * `Internal Server Error` when the integration fails, 503 when it runs past the integration
 * timeout). Error details never reach the client; they go to the logger.
 */

/** A handler for a route without authorization. */
export type HttpApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;
/** A handler for an IAM-authorized route. */
export type HttpApiIamHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

interface RouteBase {
  /** An HTTP method, or `ANY`. Ignored for the `$default` path. */
  readonly method: string;
  /** A path with `{param}` segments and an optional last `{name+}` greedy segment, or `$default`. */
  readonly path: string;
  /** For the invocation context. @default the route key */
  readonly functionName?: string;
}

/** One route of the API. */
export type HttpRoute =
  | (RouteBase & { readonly iam?: false; readonly handler: HttpApiHandler })
  | (RouteBase & {
      /** The route uses IAM authorization: the event carries `requestContext.authorizer.iam`. */
      readonly iam: true;
      readonly handler: HttpApiIamHandler;
    });

export interface HttpGatewayOptions {
  readonly routes: readonly HttpRoute[];
  /** @default 0 - a free port */
  readonly port?: number;
  /** Only loopback is served. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** @default 10 MiB - API Gateway's payload limit */
  readonly maxBodyBytes?: number;
  /** @default 30000 - API Gateway's integration timeout */
  readonly integrationTimeoutMs?: number;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 'local' */
  readonly apiId?: string;
  /**
   * Answer IAM routes without a SigV4 `Authorization` header with 403, as AWS does. The
   * signature itself is not verified (the local stack has no secret keys to check it with).
   * @default false
   */
  readonly requireSigV4?: boolean;
  /** @default console */
  readonly logger?: LocalLogger;
}

/** A running local HTTP API. */
export interface HttpGateway {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The header a local caller may set to act as a given IAM principal on IAM routes. */
export const LOCAL_PRINCIPAL_HEADER = 'x-esync-local-principal';

/** Content types API Gateway passes as text; every other body arrives base64-encoded. */
const TEXT_TYPES = [
  /^text\//,
  /^application\/(.+\+)?json\b/,
  /^application\/(.+\+)?xml\b/,
  /^application\/javascript\b/,
];

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'greedy'; name: string };

interface CompiledRoute {
  readonly route: HttpRoute;
  readonly routeKey: string;
  readonly method: string;
  readonly segments: readonly Segment[] | undefined;
}

function compileRoute(route: HttpRoute): CompiledRoute {
  const method = route.method.toUpperCase();
  if (route.path === '$default') return { route, routeKey: '$default', method: 'ANY', segments: undefined };
  if (!route.path.startsWith('/'))
    throw new ConfigError(
      `route "${route.method} ${route.path}": the path must start with "/" or be "$default"`,
    );
  const parts = pathParts(route.path);
  const segments = parts.map((part, i): Segment => {
    const param = /^\{([A-Za-z0-9_.-]+)(\+?)\}$/.exec(part);
    if (!param) {
      if (part.includes('{') || part.includes('}'))
        throw new ConfigError(
          `route "${route.method} ${route.path}": segment "${part}" is not a valid {parameter}`,
        );
      return { kind: 'literal', value: part };
    }
    if (param[2] === '+') {
      if (i !== parts.length - 1)
        throw new ConfigError(
          `route "${route.method} ${route.path}": a greedy {${param[1]}+} must be the last segment`,
        );
      return { kind: 'greedy', name: param[1] as string };
    }
    return { kind: 'param', name: param[1] as string };
  });
  return { route, routeKey: `${method} ${route.path}`, method, segments };
}

/** The segments of a path, a trailing slash ignored. */
function pathParts(path: string): string[] {
  const parts = path.split('/').slice(1);
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** Path parameters when the route matches the path, ranked by how specific the match is. */
function matchPath(
  segments: readonly Segment[],
  parts: readonly string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    if (segment.kind === 'greedy') {
      if (i >= parts.length) return undefined;
      params[segment.name] = parts.slice(i).map(decodeURIComponentSafe).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.kind === 'literal') {
      if (segment.value !== part) return undefined;
    } else {
      if (part === '') return undefined;
      params[segment.name] = decodeURIComponentSafe(part);
    }
  }
  return parts.length === segments.length ? params : undefined;
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Orders candidate routes as API Gateway does: literal before {param} before {greedy+}, method before ANY. */
function specificity(compiled: CompiledRoute): number[] {
  if (!compiled.segments) return [-1];
  return [
    ...compiled.segments.map((s) => (s.kind === 'literal' ? 3 : s.kind === 'param' ? 2 : 1)),
    compiled.method === 'ANY' ? 0 : 1,
  ];
}

function compareSpecificity(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (b[i] ?? 0) - (a[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** `12/Mar/2020:19:03:58 +0000`, the request time format of API Gateway. */
function gatewayTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

function requestHeaders(request: IncomingMessage): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return { headers, cookies };
}

function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString))
    params[name] = name in params ? `${params[name]},${value}` : value;
  return params;
}

const jsonMessage = (message: string) => JSON.stringify({ message });

/** Starts the local HTTP API on 127.0.0.1. */
export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const routes = options.routes.map(compileRoute);
  const keys = new Set<string>();
  for (const { routeKey } of routes) {
    if (keys.has(routeKey)) throw new ConfigError(`route "${routeKey}" is defined twice`);
    keys.add(routeKey);
  }
  const settings: GatewaySettings = {
    routes,
    limit: options.maxBodyBytes ?? 10 * 1024 * 1024,
    timeoutMs: options.integrationTimeoutMs ?? 30_000,
    accountId: options.accountId ?? '000000000000',
    region: options.region ?? 'us-east-1',
    apiId: options.apiId ?? 'local',
    logger: options.logger ?? console,
    requireSigV4: options.requireSigV4 ?? false,
  };
  const server = createServer((request, response) => {
    handle(settings, request, response).catch((error: unknown) => {
      settings.logger.error('the local HTTP API failed to answer a request', error);
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(jsonMessage('Internal Server Error'));
    });
  });
  const port = await listenLocal(server, options.port);
  return { url: `http://127.0.0.1:${port}`, port, stop: () => closeServer(server) };
}

/** The gateway's options with their defaults, and its compiled routes. */
interface GatewaySettings {
  readonly routes: readonly CompiledRoute[];
  readonly limit: number;
  readonly timeoutMs: number;
  readonly accountId: string;
  readonly region: string;
  readonly apiId: string;
  readonly logger: LocalLogger;
  readonly requireSigV4: boolean;
}

/** Answers one request: the route's handler is invoked with API Gateway's payload 2.0 event. */
async function handle(
  settings: GatewaySettings,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const now = new Date();
  const requestId = randomBytes(12).toString('base64url').slice(0, 16);
  const body = await readBody(request, settings.limit);
  if (body === undefined) return respond(response, requestId, 413, jsonMessage('Request Entity Too Large'));
  const target = request.url ?? '/';
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);
  const method = (request.method ?? 'GET').toUpperCase();
  const found = findRoute(settings.routes, method, pathParts(rawPath));
  if (!found) return respond(response, requestId, 404, jsonMessage('Not Found'));
  const { compiled, params } = found;
  const { headers, cookies } = requestHeaders(request);
  const sourceIp = forward(request, headers, now);
  const domainName = headers.host ?? `127.0.0.1:${request.socket.localPort}`;
  const contentType = headers['content-type'] ?? '';
  const isText = TEXT_TYPES.some((type) => type.test(contentType.toLowerCase()));
  const requestContext = {
    accountId: settings.accountId,
    apiId: settings.apiId,
    domainName,
    domainPrefix: domainName.split('.')[0] ?? domainName,
    http: {
      method,
      path: rawPath,
      protocol: `HTTP/${request.httpVersion}`,
      sourceIp,
      userAgent: headers['user-agent'] ?? '',
    },
    requestId,
    routeKey: compiled.routeKey,
    stage: '$default',
    time: gatewayTime(now),
    timeEpoch: now.getTime(),
  };
  if (compiled.route.iam) {
    const authorization = headers.authorization ?? '';
    if (settings.requireSigV4 && !authorization.startsWith('AWS4-HMAC-SHA256 '))
      return respond(response, requestId, 403, jsonMessage('Forbidden'));
    Object.assign(requestContext, { authorizer: { iam: iamCaller(headers, settings.accountId) } });
  }
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: compiled.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(rawQueryString ? { queryStringParameters: queryParameters(rawQueryString) } : {}),
    requestContext,
    ...(Object.keys(params).length > 0 ? { pathParameters: params } : {}),
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
  await invokeRoute(settings, compiled, event, response, requestId);
}

/** Adds the headers API Gateway adds (x-forwarded-*, a trace id); returns the caller's IP. */
function forward(request: IncomingMessage, headers: Record<string, string>, now: Date): string {
  const sourceIp = (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-port'] = String(request.socket.localPort ?? '');
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] =
    `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  return sourceIp;
}

/** The IAM caller of an IAM-authorized route: the principal the request claims, else the local user. */
function iamCaller(headers: Record<string, string>, accountId: string) {
  const authorization = headers.authorization ?? '';
  const claimed = headers[LOCAL_PRINCIPAL_HEADER];
  const userArn =
    claimed && /^arn:aws[a-z-]*:(iam|sts)::\d{12}:/.test(claimed)
      ? claimed
      : `arn:aws:iam::${accountId}:user/local`;
  const principalAccount = userArn.split(':')[4] ?? accountId;
  const callerId = `AIDA${Buffer.from(userArn).toString('hex').slice(-16).toUpperCase()}`;
  return {
    accessKey: /Credential=([^/]+)\//.exec(authorization)?.[1] ?? 'ASIALOCALACCESSKEY',
    accountId: principalAccount,
    callerId,
    cognitoIdentity: null,
    principalOrgId: null,
    userArn,
    userId: callerId,
  };
}

/** Invokes the route's handler within the integration timeout (503 past it, 500 when it fails). */
async function invokeRoute(
  settings: GatewaySettings,
  compiled: CompiledRoute,
  event: APIGatewayProxyEventV2,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const { timeoutMs, logger } = settings;
  const context = createLambdaContext({
    functionName: compiled.route.functionName ?? compiled.routeKey,
    timeoutSeconds: timeoutMs / 1000,
    region: settings.region,
    accountId: settings.accountId,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const invocation = Promise.resolve().then(() =>
      (compiled.route.handler as HttpApiIamHandler)(
        event as APIGatewayProxyEventV2WithIAMAuthorizer,
        context,
      ),
    );
    const result = await Promise.race([
      invocation,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
    ]);
    if (result === 'timeout') {
      invocation.catch((error: unknown) =>
        logger.error(`${compiled.routeKey} failed after timing out`, error),
      );
      logger.error(`${compiled.routeKey} ran past the ${timeoutMs} ms integration timeout`);
      return respond(response, requestId, 503, jsonMessage('Service Unavailable'));
    }
    sendResult(response, requestId, result);
  } catch (error) {
    logger.error(`${compiled.routeKey} failed (request ${requestId})`, error);
    if (!response.headersSent) respond(response, requestId, 500, jsonMessage('Internal Server Error'));
  } finally {
    clearTimeout(timer);
  }
}

/** The most specific route that matches; a `$default` route matches anything. */
function findRoute(routes: readonly CompiledRoute[], method: string, parts: string[]) {
  const candidates = routes
    .map((compiled) => {
      if (!compiled.segments) return { compiled, params: {} };
      if (compiled.method !== 'ANY' && compiled.method !== method) return undefined;
      const params = matchPath(compiled.segments, parts);
      return params ? { compiled, params } : undefined;
    })
    .filter((c) => c !== undefined);
  candidates.sort((a, b) => compareSpecificity(specificity(a.compiled), specificity(b.compiled)));
  return candidates[0];
}

function respond(
  response: ServerResponse,
  requestId: string,
  status: number,
  body: string | Buffer,
  headers = {},
) {
  response.writeHead(status, {
    'content-type': 'application/json',
    ...headers,
    'content-length': Buffer.byteLength(body),
    'apigw-requestid': requestId,
  });
  response.end(body);
}

/** Maps a handler result back as API Gateway does: no statusCode means a 200 JSON body. */
function sendResult(response: ServerResponse, requestId: string, result: unknown): void {
  if (typeof result === 'string') {
    respond(response, requestId, 200, result);
    return;
  }
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    respond(response, requestId, 200, JSON.stringify(result ?? null));
    return;
  }
  const structured = result as {
    statusCode?: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  const status = structured.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
    throw new TypeError(`the handler returned an invalid statusCode: ${JSON.stringify(status)}`);
  const headers: Record<string, string | string[]> = {};
  if (structured.headers && typeof structured.headers === 'object')
    for (const [name, value] of Object.entries(structured.headers))
      headers[name.toLowerCase()] = String(value);
  if (Array.isArray(structured.cookies) && structured.cookies.length > 0)
    headers['set-cookie'] = structured.cookies.map(String);
  const text = typeof structured.body === 'string' ? structured.body : '';
  const body = structured.isBase64Encoded === true ? Buffer.from(text, 'base64') : text;
  respond(response, requestId, status, body, headers);
}

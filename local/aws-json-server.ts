import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A tiny base for local servers that speak an AWS JSON 1.1 protocol (EventBridge, Secrets
 * Manager): one POST per call, the operation named by `X-Amz-Target: <prefix>.<Operation>`,
 * errors as `{ "__type": ..., "message": ... }` with `x-amzn-ErrorType`, which is what the
 * unchanged SDK clients parse into their modelled exceptions.
 */

/** An error the emulated service returns to the caller, as the real service would. */
export class AwsServiceError extends Error {
  /** The modelled exception name, e.g. `ResourceNotFoundException`. */
  readonly type: string;
  readonly statusCode: number;
  constructor(type: string, message: string, statusCode = 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.statusCode = statusCode;
  }
}

/** One operation: receives the parsed request object, returns the response object. */
export type AwsJsonOperation = (input: Record<string, unknown>) => unknown;

/** Where a server logs what it cannot return to the caller. */
export type LocalLogger = Pick<Console, 'warn' | 'error'>;

export interface AwsJsonServerOptions {
  /** The `X-Amz-Target` prefix, e.g. `AWSEvents` or `secretsmanager`. */
  readonly targetPrefix: string;
  readonly operations: Readonly<Record<string, AwsJsonOperation>>;
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** @default console */
  readonly logger?: LocalLogger;
}

/** What every local AWS service emulator takes. */
export interface LocalServiceOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default console */
  readonly logger?: LocalLogger;
}

/** The operations a store serves: its methods that take a request, capitalised. */
export type StoreOperation<S> = {
  [M in keyof S & string]: S[M] extends AwsJsonOperation ? Capitalize<M> : never;
}[keyof S & string];

/** A running local server. */
export interface LocalServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`, for `AWS_ENDPOINT_URL_<SERVICE>`. */
  readonly endpoint: string;
  readonly port: number;
  /** Closes the listener and every open connection (SDK clients keep connections alive). */
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1 only; resolves with the bound port. */
export function listenLocal(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Stops a server without waiting for idle keep-alive connections to time out. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) return resolve();
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/** Reads a request body, or undefined when it exceeds `limit` bytes (the rest is drained). */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown, requestId: string): void {
  const payload = JSON.stringify(body ?? {});
  const headers: Record<string, string | number> = {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': requestId,
  };
  if (status >= 400 && body && typeof body === 'object' && '__type' in body)
    headers['x-amzn-errortype'] = String((body as { __type: unknown }).__type);
  response.writeHead(status, headers).end(payload);
}

const errorBody = (type: string, message: string) => ({ __type: type, message });

/** Starts an AWS JSON 1.1 protocol server on 127.0.0.1. */
export async function startAwsJsonServer(options: AwsJsonServerOptions): Promise<LocalServer> {
  const limit = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const logger = options.logger ?? console;
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    const body = await readBody(request, limit);
    if (request.method !== 'POST')
      return send(response, 405, errorBody('MethodNotAllowedException', 'only POST is supported'), requestId);
    if (body === undefined)
      return send(
        response,
        413,
        errorBody('RequestEntityTooLargeException', 'request is too large'),
        requestId,
      );
    const target = String(request.headers['x-amz-target'] ?? '');
    const [prefix, name] = target.split('.', 2);
    const known =
      prefix === options.targetPrefix && name !== undefined && Object.hasOwn(options.operations, name);
    const operation = known ? options.operations[name] : undefined;
    if (!operation)
      return send(
        response,
        400,
        errorBody('UnknownOperationException', `unknown operation "${target}"`),
        requestId,
      );
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return send(
        response,
        400,
        errorBody('SerializationException', 'request body is not valid JSON'),
        requestId,
      );
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return send(
        response,
        400,
        errorBody('SerializationException', 'request body must be a JSON object'),
        requestId,
      );
    try {
      const output = await operation(input as Record<string, unknown>);
      send(response, 200, output, requestId);
    } catch (error) {
      if (error instanceof AwsServiceError)
        return send(response, error.statusCode, errorBody(error.type, error.message), requestId);
      logger.error(`${options.targetPrefix}.${name} failed`, error);
      send(response, 500, errorBody('InternalFailure', 'the local server failed; see its log'), requestId);
    }
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error(`${options.targetPrefix} request failed`, error);
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  const port = await listenLocal(server, options.port);
  return { endpoint: `http://127.0.0.1:${port}`, port, stop: () => closeServer(server) };
}

/** Reads a required string member of a request, as the service's validation would. */
export function requireString(input: Record<string, unknown>, member: string): string {
  const value = input[member];
  if (typeof value !== 'string' || value.length === 0)
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value at '${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  return value;
}

/**
 * One page of a listing paged by `NextToken` (the index of the page's first item, as text), and
 * the token of the next page when there is one.
 * @param invalidToken the error code the service answers a token it did not give with
 */
export function pageByToken<T>(
  all: readonly T[],
  token: unknown,
  maxResults: number,
  invalidToken: string,
): { readonly page: readonly T[]; readonly next: { NextToken?: string } } {
  const start = typeof token === 'string' ? Number(token) : 0;
  if (!Number.isInteger(start) || start < 0)
    throw new AwsServiceError(invalidToken, 'The NextToken value is invalid.');
  const end = start + maxResults;
  return { page: all.slice(start, end), next: end < all.length ? { NextToken: String(end) } : {} };
}

/** The account a store keeps its resources in (their ARNs), with the defaults of {@link LocalServiceOptions}. */
export interface StoreAccount {
  readonly region: string;
  readonly accountId: string;
}

/**
 * An emulator whose operations are methods of a store: the function that starts it makes the
 * store for the options' account with `newStore`, and serves each of `operations` by the store's
 * method of that name with the first letter lower-cased (`GetSecretValue` by `store.getSecretValue`).
 */
export function storeService<O extends LocalServiceOptions, S extends object>(
  targetPrefix: string,
  newStore: (account: StoreAccount, options: O) => S,
  operations: readonly StoreOperation<S>[],
): (options?: O) => Promise<LocalServer> {
  return (options = {} as O) => {
    const store = newStore(
      { region: options.region ?? 'us-east-1', accountId: options.accountId ?? '000000000000' },
      options,
    );
    const served = operations.map((name): [string, AwsJsonOperation] => {
      const method = store[(name.charAt(0).toLowerCase() + name.slice(1)) as keyof S] as AwsJsonOperation;
      return [name, (input) => method.call(store, input)];
    });
    return startAwsJsonServer({
      targetPrefix,
      port: options.port,
      logger: options.logger,
      operations: Object.fromEntries(served),
    });
  };
}

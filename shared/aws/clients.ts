import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CredentialsProvider } from './pipeline-credentials.ts';

/** What ESync calls on an SDK client: the SDK's own clients and {@link LazyClient} both offer it. */
export type SdkClient<C extends AnySdkClient> = Pick<C, 'send' | 'destroy'>;

/** The SDK clients ESync builds. */
export type AnySdkClient = DecoratedClient | SSMClient;

/**
 * An SDK client built on its first request, its module imported then: the bundler puts each
 * client in a chunk of its own, so a function loads at cold start only the DynamoDB client every
 * function uses, and a client it never calls costs it nothing.
 */
export class LazyClient<C extends AnySdkClient> implements SdkClient<C> {
  readonly #build: () => Promise<C>;
  #client: Promise<C> | undefined;

  constructor(build: () => Promise<C>) {
    this.#build = build;
  }

  /** The client itself, built now if no request has built it yet. */
  client(): Promise<C> {
    this.#client ??= this.#build();
    return this.#client;
  }

  readonly send = ((...args: unknown[]) =>
    this.client().then((client) =>
      (client.send as (...a: unknown[]) => Promise<unknown>).apply(client, args),
    )) as C['send'];

  destroy(): void {
    void this.#client?.then((client) => client.destroy());
  }
}

/** The real client behind `client`, an SDK client as given or a {@link LazyClient} built now. */
export function sdkClientOf<C extends AnySdkClient>(client: SdkClient<C>): Promise<C> {
  return client instanceof LazyClient ? (client.client() as Promise<C>) : Promise.resolve(client as C);
}

/** The AWS clients ESync uses, created in one place and injected everywhere else. */
export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SdkClient<SQSClient>;
  readonly s3: SdkClient<S3Client>;
  readonly sfn: SdkClient<SFNClient>;
  readonly eventBridge: SdkClient<EventBridgeClient>;
  readonly secretsManager: SdkClient<SecretsManagerClient>;
}

/** Observes every request any client sends (the benchmark counts them by service and operation). */
export type RequestObserver = (request: { service: string; operation: string; bytes: number }) => void;

/** A client as {@link decorateClients} hands it over: any SDK v3 client, whose middleware stack can be extended. */
export type DecoratedClient =
  | DynamoDBClient
  | SQSClient
  | S3Client
  | SFNClient
  | EventBridgeClient
  | SecretsManagerClient
  | SSMClient;

/**
 * Extends the middleware stack of one client that {@link createAwsClients} builds. Tests install
 * one (fault injection, request recording) for the handlers running in their process, which build
 * their clients themselves.
 */
export type ClientDecorator = (
  client: DecoratedClient,
  service: Exclude<keyof AwsClients, 'ddb'> | 'ssm',
) => void;

const decorators = new Set<ClientDecorator>();

/**
 * Test hook: `decorate` is applied to every client built by {@link createAwsClients} (and
 * {@link createSsmClient}) from now on,
 * in this process, until the returned function is called. Clients built before are unchanged.
 * With no decorator installed, clients are built exactly as in production.
 */
export function decorateClients(decorate: ClientDecorator): () => void {
  decorators.add(decorate);
  return () => {
    decorators.delete(decorate);
  };
}

export interface CreateClientsOptions {
  readonly region?: string;
  readonly observer?: RequestObserver;
  /**
   * Sockets each client keeps open at most: at least the requests its caller keeps in flight,
   * or the surplus waits in the agent's queue while the caller believes it is sent.
   * @default 50 - the SDK's own default
   */
  readonly maxSockets?: number;
  /**
   * Whose credentials the clients sign with (a pipeline's access role, shared/aws/pipeline-credentials.ts).
   * @default - the SDK's default chain: the function's own role
   */
  readonly credentials?: CredentialsProvider;
}

/** The SDK's default socket count per client. */
export const DEFAULT_MAX_SOCKETS = 50;

/**
 * One keep-alive agent pair per client, sized to `maxSockets`: a connection is reused for
 * the next request instead of paying a new TCP (and TLS) handshake per write.
 */
function requestHandlerOf(maxSockets: number) {
  return {
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
  };
}

/**
 * Takes out the SDK's logger middleware. ESync gives the SDK no logger, yet the middleware still
 * copies every request's input and response through the schema's sensitive-data filter for the
 * no-op logger to discard: at 32 writes in flight that is a few percent of Load's CPU.
 */
function withoutSdkLogging<C extends AnySdkClient>(client: C): C {
  (client as DynamoDBClient).middlewareStack.remove('loggerMiddleware');
  return client;
}

/** Reports each request of `client` to `observer`, by service and operation, with its body's size. */
function observeRequests(client: DecoratedClient, service: string, observer: RequestObserver): void {
  (client as DynamoDBClient).middlewareStack.add(
    (next, context) => async (args) => {
      const body = (args.request as { body?: unknown }).body;
      observer({
        service: context.clientName?.replace(/Client$/, '') ?? service,
        operation: context.commandName?.replace(/Command$/, '') ?? 'unknown',
        bytes:
          typeof body === 'string'
            ? Buffer.byteLength(body)
            : body instanceof Uint8Array
              ? body.byteLength
              : 0,
      });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'esyncRequestObserver' },
  );
}

type ClientName = Exclude<keyof AwsClients, 'ddb'>;

/** The settings every client is built with: region, retries, keep-alive sockets and whose credentials. */
interface CommonConfig {
  readonly region: string;
  readonly maxAttempts: number;
  readonly requestHandler: ReturnType<typeof requestHandlerOf>;
  readonly credentials?: CredentialsProvider;
}

/**
 * Builds the clients. Endpoints come from the standard `AWS_ENDPOINT_URL_<SERVICE>`
 * variables the SDK reads itself, so the same code reaches AWS or the local stack.
 * DynamoDB is built now (every function keeps its state there); the others on their first
 * request ({@link LazyClient}), with the observer and the decorators installed at this call.
 */
export function createAwsClients(options: CreateClientsOptions = {}): AwsClients {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const sockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const common = (): CommonConfig => ({
    region,
    maxAttempts: 3,
    requestHandler: requestHandlerOf(sockets),
    ...(options.credentials && { credentials: options.credentials }),
  });
  const installed = [...decorators];
  const prepare = <C extends DecoratedClient>(client: C, service: ClientName): C => {
    withoutSdkLogging(client);
    if (options.observer) observeRequests(client, service, options.observer);
    for (const decorate of installed) decorate(client, service);
    return client;
  };
  const lazy = <C extends DecoratedClient>(
    service: ClientName,
    build: (config: CommonConfig) => Promise<C>,
  ) => new LazyClient(async () => prepare(await build(common()), service));
  const dynamodb = prepare(new DynamoDBClient(common()), 'dynamodb');
  return {
    dynamodb,
    ddb: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
    }),
    sqs: lazy('sqs', async (c) => (await import('./sdk/sqs.ts')).buildSqsClient(c)),
    s3: lazy('s3', async (c) => (await import('./sdk/s3.ts')).buildS3Client(c)),
    sfn: lazy('sfn', async (c) => (await import('./sdk/sfn.ts')).buildSfnClient(c)),
    eventBridge: lazy('eventBridge', async (c) =>
      (await import('./sdk/event-bridge.ts')).buildEventBridgeClient(c),
    ),
    secretsManager: lazy('secretsManager', async (c) =>
      (await import('./sdk/secrets-manager.ts')).buildSecretsManagerClient(c),
    ),
  };
}

/**
 * The SSM client a shared function reads the stage's pipelines with (pipeline/catalog-source.ts):
 * apart from {@link AwsClients}, since only functions whose catalog is not baked in build it,
 * imported with the first read. The endpoint comes from `AWS_ENDPOINT_URL_SSM` as for the other
 * clients.
 */
export async function createSsmClient(region?: string): Promise<SSMClient> {
  const installed = [...decorators];
  const { buildSsmClient } = await import('./sdk/ssm.ts');
  const client = withoutSdkLogging(
    buildSsmClient({
      region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      maxAttempts: 3,
    }),
  );
  for (const decorate of installed) decorate(client, 'ssm');
  return client;
}

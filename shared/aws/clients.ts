import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CredentialsProvider } from './pipeline-credentials.ts';

/** The AWS clients ESync uses, created in one place and injected everywhere else. */
export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly eventBridge: EventBridgeClient;
  readonly secretsManager: SecretsManagerClient;
}

/** Observes every request any client sends (the benchmark counts them by service and operation). */
export type RequestObserver = (request: { service: string; operation: string; bytes: number }) => void;

/** A client as {@link decorateClients} hands it over: any SDK v3 client, whose middleware stack can be extended. */
export type DecoratedClient = AwsClients[Exclude<keyof AwsClients, 'ddb'>];

/**
 * Extends the middleware stack of one client that {@link createAwsClients} builds. Tests install
 * one (fault injection, request recording) for the handlers running in their process, which build
 * their clients themselves.
 */
export type ClientDecorator = (client: DecoratedClient, service: Exclude<keyof AwsClients, 'ddb'>) => void;

const decorators = new Set<ClientDecorator>();

/**
 * Test hook: `decorate` is applied to every client built by {@link createAwsClients} from now on,
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
function withoutSdkLogging<C extends DecoratedClient | SSMClient>(client: C): C {
  (client as DynamoDBClient).middlewareStack.remove('loggerMiddleware');
  return client;
}

/**
 * Builds the clients. Endpoints come from the standard `AWS_ENDPOINT_URL_<SERVICE>`
 * variables the SDK reads itself, so the same code reaches AWS or the local stack.
 * S3 uses path-style addressing when its endpoint is overridden, since a local server
 * has no per-bucket DNS names.
 */
export function createAwsClients(options: CreateClientsOptions = {}): AwsClients {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const sockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const common = () => ({
    region,
    maxAttempts: 3,
    requestHandler: requestHandlerOf(sockets),
    ...(options.credentials && { credentials: options.credentials }),
  });
  const dynamodb = withoutSdkLogging(new DynamoDBClient(common()));
  const clients: AwsClients = {
    dynamodb,
    ddb: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
    }),
    sqs: withoutSdkLogging(new SQSClient(common())),
    s3: withoutSdkLogging(
      new S3Client({
        ...common(),
        forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    ),
    sfn: withoutSdkLogging(new SFNClient(common())),
    eventBridge: withoutSdkLogging(new EventBridgeClient(common())),
    secretsManager: withoutSdkLogging(new SecretsManagerClient(common())),
  };
  if (options.observer) {
    const observer = options.observer;
    for (const [service, client] of Object.entries(clients)) {
      if (service === 'ddb') continue;
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
  }
  for (const decorate of decorators)
    for (const [service, client] of Object.entries(clients))
      if (service !== 'ddb') decorate(client as DecoratedClient, service as Exclude<keyof AwsClients, 'ddb'>);
  return clients;
}

/**
 * The SSM client a shared function reads the stage's pipelines with (pipeline/catalog-source.ts):
 * apart from {@link AwsClients}, since only functions whose catalog is not baked in build it.
 * The endpoint comes from `AWS_ENDPOINT_URL_SSM` as for the other clients.
 */
export function createSsmClient(region?: string): SSMClient {
  return withoutSdkLogging(
    new SSMClient({
      region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      maxAttempts: 3,
    }),
  );
}

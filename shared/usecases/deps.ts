import { type AwsClients, createAwsClients } from '../aws/clients.ts';
import { SecretsManagerProvider, type SecretsProvider } from '../aws/secrets.ts';
import { type RuntimeConfig, readRuntimeConfig } from '../config.ts';
import { rdsTokenSigner } from '../connectors/sql/iam-token.ts';
import type {
  ConnectorContext,
  SourceConnector,
  SourceRereader,
  TargetConnector,
} from '../connectors/types.ts';
import { ConfigError } from '../errors.ts';
import { catalogFromEnv, type PipelineCatalog } from '../pipeline/catalog.ts';
import type { Pipeline, SourceConfig, TargetConfig } from '../pipeline/schema.ts';
import { createStateRepositories, type StateRepositories } from '../state/index.ts';

/** Structured, log-safe logging (Powertools Logger satisfies it). */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Everything a use case needs, built once per container and injected. */
export interface Deps {
  readonly config: RuntimeConfig;
  readonly clients: AwsClients;
  readonly catalog: PipelineCatalog;
  readonly state: StateRepositories;
  readonly secrets: SecretsProvider;
  readonly log: Log;
  readonly now: () => Date;
  connectorContext(pipeline: Pipeline): ConnectorContext;
  createSource(pipeline: Pipeline): SourceConnector;
  createTarget(pipeline: Pipeline): TargetConnector;
  /**
   * The pipeline's source as a re-reader, when its API answers for one record (Load decides
   * ties with it).
   * @default - none: ties are decided by version and content hash
   */
  createRereader?(pipeline: Pipeline): SourceRereader | undefined;
}

/** Requests besides the target writes a Load instance has in flight: state reads, the ledger, the queue. */
const STATE_SOCKETS = 16;

/** Sockets per client: the most target writes any served pipeline keeps in flight, plus the state calls around them. */
function socketsFor(catalog: PipelineCatalog): number {
  return Math.max(0, ...catalog.all().map((p) => p.load.writeConcurrency)) + STATE_SOCKETS;
}

const silentLog: Log = { info() {}, warn() {}, error() {} };

/**
 * The connector registries a function needs. Each handler passes only its own (Load: targets and re-readers;
 * Extract: sources; Webhook: none), so a bundle carries no driver it never calls — `mysql2` in
 * the webhook function would cost cold-start time for nothing.
 */
export interface ConnectorRegistries {
  readonly sources?: (config: SourceConfig, context: ConnectorContext) => SourceConnector;
  readonly targets?: (config: TargetConfig, context: ConnectorContext) => TargetConnector;
  readonly rereaders?: (config: SourceConfig, context: ConnectorContext) => SourceRereader | undefined;
}

/** Builds the dependencies from the environment; every part can be replaced (tests, benchmarks). */
export function createDeps(overrides: Partial<Deps> = {}, registries: ConnectorRegistries = {}): Deps {
  const config = overrides.config ?? readRuntimeConfig();
  const catalog = overrides.catalog ?? catalogFromEnv();
  const clients = overrides.clients ?? createAwsClients({ maxSockets: socketsFor(catalog) });
  const secrets =
    overrides.secrets ??
    new SecretsManagerProvider(clients.secretsManager, {
      maxAgeSeconds: config.secretsMaxAgeSeconds,
    });
  const signDatabaseToken = config.databaseAuth === 'iam' ? rdsTokenSigner() : undefined;
  const connectorContext = (pipeline: Pipeline): ConnectorContext => ({
    pipeline,
    clients,
    secrets,
    dataBucket: config.dataBucket,
    stage: config.stage,
    retry: pipeline.retry,
    ...(signDatabaseToken && { signDatabaseToken }),
  });
  return {
    config,
    clients,
    catalog,
    secrets,
    state: overrides.state ?? createStateRepositories(clients.ddb, config.stateTable),
    log: overrides.log ?? silentLog,
    now: overrides.now ?? (() => new Date()),
    connectorContext,
    createSource:
      overrides.createSource ??
      ((p) => {
        if (!registries.sources) throw new ConfigError('this function was built without source connectors');
        return registries.sources(p.source, connectorContext(p));
      }),
    createRereader:
      overrides.createRereader ?? ((p) => registries.rereaders?.(p.source, connectorContext(p))),
    createTarget:
      overrides.createTarget ??
      ((p) => {
        if (!registries.targets) throw new ConfigError('this function was built without target connectors');
        return registries.targets(p.target, connectorContext(p));
      }),
  };
}

import { type AwsClients, createAwsClients, createSsmClient } from '../aws/clients.ts';
import {
  type AssumeRole,
  assumeRoleWithSts,
  pipelineRoleArn,
  sharedCredentials,
} from '../aws/pipeline-credentials.ts';
import { SecretsManagerProvider, type SecretsProvider } from '../aws/secrets.ts';
import { type RuntimeConfig, readRuntimeConfig } from '../config.ts';
import type { ConnectorRegistry } from '../connectors/connector-modules.ts';
import { type DatabaseTokenSigner, rdsTokenSigner } from '../connectors/sql/iam-token.ts';
import type {
  ConnectorContext,
  SourceConnector,
  SourceRereader,
  TargetConnector,
} from '../connectors/types.ts';
import { ConfigError } from '../errors.ts';
import { installedExtensions } from '../extensions/installed.ts';
import type { ExtensionRegistry } from '../extensions/registry.ts';
import { PipelineCatalog } from '../pipeline/catalog.ts';
import {
  type CatalogSource,
  catalogSourceFromEnv,
  FixedCatalogSource,
  fixedCatalogSource,
} from '../pipeline/catalog-source.ts';
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
  /** The pipelines as of this invocation: see {@link currentDeps}. */
  readonly catalog: PipelineCatalog;
  /** Where {@link catalog} comes from: fixed (baked in, a test's) or the stage's SSM parameters. */
  readonly catalogSource: CatalogSource;
  readonly state: StateRepositories;
  readonly secrets: SecretsProvider;
  readonly log: Log;
  readonly now: () => Date;
  /**
   * The validators and custom connectors pipelines may name.
   * @default - the extensions installed in this process (bundled into the function, or loaded by the local stack)
   */
  readonly extensions?: ExtensionRegistry;
  connectorContext(pipeline: Pipeline): ConnectorContext;
  /**
   * Imports the connectors the catalog's pipelines name; {@link currentDeps} calls it with the
   * catalog served before a use case runs, so {@link createSource} and {@link createTarget} find
   * them.
   * @default - nothing to import ({@link createDeps} imports its registries' connectors, once per catalog)
   */
  loadConnectors?(catalog: PipelineCatalog): Promise<void>;
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

/**
 * Sockets per client: the most target writes any served pipeline keeps in flight, plus the state
 * calls around them. A function that reads its pipelines at run time (none are known here) serves
 * no Load: the SDK's default is enough.
 */
function socketsFor(catalog: PipelineCatalog | undefined): number | undefined {
  if (!catalog) return undefined;
  return Math.max(0, ...catalog.all().map((p) => p.load.writeConcurrency)) + STATE_SOCKETS;
}

/**
 * The dependencies with the pipelines as they stand now: what every handler passes its use case.
 * A baked catalog is the same object every time; one read from the stage's SSM parameters is
 * reread once its maximum age has passed, so a pipeline deployed in its own stack reaches the
 * shared functions without their redeployment. The connectors those pipelines name are imported
 * first (by the first invocation that serves the catalog: see {@link oncePerCatalog}).
 */
export async function currentDeps(deps: Deps): Promise<Deps> {
  const catalog = await deps.catalogSource.current();
  await deps.loadConnectors?.(catalog);
  return catalog === deps.catalog ? deps : { ...deps, catalog };
}

/**
 * `load`, run once per catalog: the invocations of a container serving the same pipelines share
 * the first one's promise (concurrent ones included), and a catalog reread with other pipelines
 * loads again. A failed load is forgotten, so the next invocation tries again.
 */
function oncePerCatalog(
  load: (catalog: PipelineCatalog) => Promise<void>,
): (catalog: PipelineCatalog) => Promise<void> {
  const loading = new WeakMap<PipelineCatalog, Promise<void>>();
  return (catalog) => {
    let loaded = loading.get(catalog);
    if (!loaded) {
      loaded = load(catalog);
      loading.set(catalog, loaded);
      loaded.catch(() => loading.delete(catalog));
    }
    return loaded;
  };
}

const silentLog: Log = { info() {}, warn() {}, error() {} };

/**
 * The connector registries a function needs. Each handler passes only its own (Load: targets and re-readers;
 * Extract: sources; Webhook: none), and each registry imports a connector only for a pipeline
 * that names it, so no function loads a driver its pipelines never call.
 */
export interface ConnectorRegistries {
  readonly sources?: ConnectorRegistry<SourceConfig, SourceConnector>;
  readonly targets?: ConnectorRegistry<TargetConfig, TargetConnector>;
  readonly rereaders?: ConnectorRegistry<SourceConfig, SourceRereader | undefined>;
}

/** Imports the connectors of the given registries that the catalog's pipelines name. */
async function loadConnectorsOf(registries: ConnectorRegistries, catalog: PipelineCatalog): Promise<void> {
  const pipelines = catalog.all();
  const sources = pipelines.map((p) => p.source);
  await Promise.all([
    registries.sources?.load(sources),
    registries.rereaders?.load(sources),
    registries.targets?.load(pipelines.map((p) => p.target)),
  ]);
}

/** What reaches a pipeline's own source, target and secrets. */
type PipelineReach = Pick<ConnectorContext, 'clients' | 'secrets' | 'signDatabaseToken'>;

/**
 * How the function reaches each pipeline's own resources: with its own role, or, when
 * `config.accessRoleArn` names the pipelines' access roles, with clients, secrets and token
 * signer of a session of that pipeline's role (`esync-<pipeline>`), built once per pipeline and
 * container.
 */
function pipelineReach(
  config: RuntimeConfig,
  own: PipelineReach,
  assumeRole: AssumeRole,
  maxSockets: number | undefined,
): (pipeline: Pipeline) => PipelineReach {
  const template = config.accessRoleArn;
  if (template === undefined) return () => own;
  const reached = new Map<string, PipelineReach>();
  return (pipeline) => {
    let reach = reached.get(pipeline.name);
    if (!reach) {
      const roleArn = pipelineRoleArn(template, pipeline.name);
      const credentials = sharedCredentials(assumeRole(roleArn, `esync-${pipeline.name}`));
      const clients = createAwsClients({ credentials, ...(maxSockets !== undefined && { maxSockets }) });
      reach = {
        clients,
        secrets: new SecretsManagerProvider(clients.secretsManager, {
          maxAgeSeconds: config.secretsMaxAgeSeconds,
        }),
        ...(own.signDatabaseToken && { signDatabaseToken: rdsTokenSigner({ credentials }) }),
      };
      reached.set(pipeline.name, reach);
    }
    return reach;
  };
}

/** Test hooks of {@link createDeps} beside the parts of {@link Deps}. */
export interface DepsHooks {
  /** @default - STS AssumeRole with the function's own credentials */
  readonly assumeRole?: AssumeRole;
}

/** Builds the dependencies from the environment; every part can be replaced (tests, benchmarks). */
export function createDeps(
  overrides: Partial<Deps> & DepsHooks = {},
  registries: ConnectorRegistries = {},
): Deps {
  const config = overrides.config ?? readRuntimeConfig();
  const catalogSource =
    overrides.catalogSource ??
    (overrides.catalog
      ? fixedCatalogSource(overrides.catalog)
      : catalogSourceFromEnv(process.env, {
          client: () => createSsmClient(),
          maxAgeSeconds: config.secretsMaxAgeSeconds,
        }));
  const baked =
    overrides.catalog ?? (catalogSource instanceof FixedCatalogSource ? catalogSource.catalog : undefined);
  // Read from SSM, the pipelines are known per invocation only (currentDeps): none until then.
  const catalog = baked ?? new PipelineCatalog([]);
  const sockets = socketsFor(baked);
  const clients = overrides.clients ?? createAwsClients(sockets === undefined ? {} : { maxSockets: sockets });
  const secrets =
    overrides.secrets ??
    new SecretsManagerProvider(clients.secretsManager, {
      maxAgeSeconds: config.secretsMaxAgeSeconds,
    });
  const signDatabaseToken: DatabaseTokenSigner | undefined =
    config.databaseAuth === 'iam' ? rdsTokenSigner() : undefined;
  const reach = pipelineReach(
    config,
    { clients, secrets, ...(signDatabaseToken && { signDatabaseToken }) },
    overrides.assumeRole ?? assumeRoleWithSts,
    sockets,
  );
  const extensions = overrides.extensions ?? installedExtensions();
  const connectorContext = (pipeline: Pipeline): ConnectorContext => ({
    pipeline,
    ...reach(pipeline),
    dataBucket: config.dataBucket,
    stage: config.stage,
    retry: pipeline.retry,
    extensions,
  });
  return {
    config,
    clients,
    catalog,
    catalogSource,
    secrets,
    state: overrides.state ?? createStateRepositories(clients.ddb, config.stateTable),
    log: overrides.log ?? silentLog,
    now: overrides.now ?? (() => new Date()),
    extensions,
    connectorContext,
    loadConnectors: oncePerCatalog(
      overrides.loadConnectors ?? ((catalog) => loadConnectorsOf(registries, catalog)),
    ),
    createSource:
      overrides.createSource ??
      ((p) => {
        if (!registries.sources) throw new ConfigError('this function was built without source connectors');
        return registries.sources.create(p.source, connectorContext(p));
      }),
    createRereader:
      overrides.createRereader ?? ((p) => registries.rereaders?.create(p.source, connectorContext(p))),
    createTarget:
      overrides.createTarget ??
      ((p) => {
        if (!registries.targets) throw new ConfigError('this function was built without target connectors');
        return registries.targets.create(p.target, connectorContext(p));
      }),
  };
}

/** The validators pipelines may name in `validation[].custom`, built-in and registered by extensions. */
export function validatorsOf(deps: Deps) {
  return (deps.extensions ?? installedExtensions()).validators;
}

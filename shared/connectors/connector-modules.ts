import type { ConnectorContext } from './types.ts';

/** The factory of one connector `type`, given that type's config. */
type FactoryOf<C extends { readonly type: string }, T extends C['type'], R> = (
  config: Extract<C, { type: T }>,
  context: ConnectorContext,
) => R;

/**
 * How each connector type's module is imported. A dynamic `import()` per type makes each
 * connector (and the driver it imports) a chunk of its own in a function bundle, read only by a
 * function serving a pipeline of that type; the mapped type makes a missing type a compile error.
 */
export type ConnectorLoaders<C extends { readonly type: string }, R> = {
  readonly [T in C['type']]: () => Promise<FactoryOf<C, T, R>>;
};

/** The connectors of one side (sources, targets, re-readers): imported by type, then created. */
export interface ConnectorRegistry<C extends { readonly type: string }, R> {
  /** Imports the modules of the connectors these configs name; each is imported once per process. */
  load(configs: Iterable<C>): Promise<void>;
  /**
   * Creates the connector a config names, opening nothing. Its module must have been loaded:
   * `currentDeps` loads those of every pipeline a function serves before its use case runs.
   */
  create(config: C, context: ConnectorContext): R;
  /** {@link load} then {@link create}: for callers outside a handler (tests, the command line). */
  loadAndCreate(config: C, context: ConnectorContext): Promise<R>;
  /** Imports every connector type's module: for a test harness that creates connectors directly. */
  loadAll(): Promise<void>;
}

/** A registry importing each connector type's module with its first {@link ConnectorRegistry.load}. */
export function connectorRegistry<C extends { readonly type: string }, R>(
  side: 'source' | 'target',
  loaders: ConnectorLoaders<C, R>,
): ConnectorRegistry<C, R> {
  const loaded = new Map<string, (config: C, context: ConnectorContext) => R>();
  const loadTypes = async (types: Iterable<C['type']>) => {
    const missing = new Set([...types].filter((type) => !loaded.has(type)));
    await Promise.all(
      [...missing].map(async (type: C['type']) => {
        const factory = await loaders[type]();
        loaded.set(type, factory as (config: C, context: ConnectorContext) => R);
      }),
    );
  };
  const registry: ConnectorRegistry<C, R> = {
    load: (configs) => loadTypes([...configs].map((config) => config.type)),
    loadAll: () => loadTypes(Object.keys(loaders) as C['type'][]),
    create(config, context) {
      const factory = loaded.get(config.type);
      if (!factory)
        throw new Error(
          `the ${side} connector "${config.type}" was created before its module was loaded (load the pipeline's connectors first)`,
        );
      return factory(config, context);
    },
    async loadAndCreate(config, context) {
      await registry.load([config]);
      return registry.create(config, context);
    },
  };
  return registry;
}

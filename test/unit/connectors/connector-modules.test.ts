import { describe, expect, it } from 'vitest';
import { readRuntimeConfig } from '../../../shared/config.ts';
import { type ConnectorRegistry, connectorRegistry } from '../../../shared/connectors/connector-modules.ts';
import type { ConnectorContext, TargetConnector } from '../../../shared/connectors/types.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { pipelineSchema, type TargetConfig } from '../../../shared/pipeline/schema.ts';
import { createDeps, currentDeps } from '../../../shared/usecases/deps.ts';
import { DEPLOYED_ENV } from '../../support/deployed-env.ts';

/**
 * A target registry whose modules are stand-ins: which types were imported, how often the
 * registry was asked to load, and a connector naming its type.
 */
function recordingTargets() {
  const imported: string[] = [];
  let loads = 0;
  const loader = (type: TargetConfig['type']) => async () => {
    imported.push(type);
    return (config: TargetConfig) => ({ createdFrom: config.type }) as unknown as TargetConnector;
  };
  const inner = connectorRegistry<TargetConfig, TargetConnector>('target', {
    dynamodb: loader('dynamodb'),
    s3: loader('s3'),
    postgres: loader('postgres'),
    http: loader('http'),
    custom: loader('custom'),
  });
  const registry: ConnectorRegistry<TargetConfig, TargetConnector> = {
    ...inner,
    load: (configs) => {
      loads += 1;
      return inner.load(configs);
    },
  };
  return { imported, registry, loads: () => loads };
}

const pipeline = (name: string, target: Record<string, unknown>) =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target,
    triggers: { webhook: { signature: 'github', secret: `hooks/${name}` } },
  });

const context = {} as ConnectorContext;

describe('connectorRegistry', () => {
  it('imports the module of each type the configs name, once, and no other', async () => {
    // Prepare
    const { imported, registry } = recordingTargets();
    const postgres = pipeline('a', { type: 'postgres', table: 't', connection: { secret: 's' } }).target;

    // Act
    await registry.load([postgres, postgres]);
    await registry.load([postgres]);

    // Assess
    expect(imported).toEqual(['postgres']);
    expect(registry.create(postgres, context)).toEqual({ createdFrom: 'postgres' });
  });

  it('refuses to create a connector whose module was not loaded, naming its type', () => {
    const { registry } = recordingTargets();
    const dynamodb = pipeline('a', { type: 'dynamodb' }).target;

    expect(() => registry.create(dynamodb, context)).toThrow(
      'the target connector "dynamodb" was created before its module was loaded',
    );
  });
});

describe('currentDeps', () => {
  it('imports the target connectors of the pipelines the function serves before a use case runs', async () => {
    // Prepare
    const { imported, registry } = recordingTargets();
    const catalog = new PipelineCatalog([
      pipeline('orders', { type: 'dynamodb' }),
      pipeline('users', { type: 'dynamodb' }),
      pipeline('lake', { type: 's3' }),
    ]);
    const deps = createDeps({ config: readRuntimeConfig(DEPLOYED_ENV), catalog }, { targets: registry });

    // Act
    const current = await currentDeps(deps);

    // Assess
    expect(imported.sort()).toEqual(['dynamodb', 's3']);
    expect(current.createTarget(catalog.get('lake'))).toEqual({ createdFrom: 's3' });
  });

  it('loads the connectors once for the invocations of a container serving the same pipelines', async () => {
    // Prepare
    const { imported, registry, loads } = recordingTargets();
    const catalog = new PipelineCatalog([pipeline('orders', { type: 'dynamodb' })]);
    const deps = createDeps({ config: readRuntimeConfig(DEPLOYED_ENV), catalog }, { targets: registry });

    // Act: two concurrent first invocations, then a later one
    await Promise.all([currentDeps(deps), currentDeps(deps)]);
    const later = await currentDeps(deps);

    // Assess
    expect(loads()).toBe(1);
    expect(imported).toEqual(['dynamodb']);
    expect(later.createTarget(catalog.get('orders'))).toEqual({ createdFrom: 'dynamodb' });
  });

  it('loads the connectors again when a reread catalog names other pipelines', async () => {
    // Prepare
    const { imported, registry, loads } = recordingTargets();
    const first = new PipelineCatalog([pipeline('orders', { type: 'dynamodb' })]);
    const reread = new PipelineCatalog([
      pipeline('orders', { type: 'dynamodb' }),
      pipeline('lake', { type: 's3' }),
    ]);
    const served = [first, first, reread];
    const catalogSource = { current: async () => served.shift() ?? reread };
    const deps = createDeps(
      { config: readRuntimeConfig(DEPLOYED_ENV), catalogSource },
      { targets: registry },
    );

    // Act
    await currentDeps(deps);
    await currentDeps(deps);
    const current = await currentDeps(deps);

    // Assess
    expect(loads()).toBe(2);
    expect(imported.sort()).toEqual(['dynamodb', 's3']);
    expect(current.createTarget(reread.get('lake'))).toEqual({ createdFrom: 's3' });
  });

  it('tries again on the next invocation when loading the connectors failed', async () => {
    // Prepare
    const catalog = new PipelineCatalog([pipeline('orders', { type: 'dynamodb' })]);
    let attempts = 0;
    const loadConnectors = async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('module not found');
    };
    const deps = createDeps({ config: readRuntimeConfig(DEPLOYED_ENV), catalog, loadConnectors });

    // Act
    const first = currentDeps(deps);
    await expect(first).rejects.toThrow('module not found');
    await currentDeps(deps);

    // Assess
    expect(attempts).toBe(2);
  });
});

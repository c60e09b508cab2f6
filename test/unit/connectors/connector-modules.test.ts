import { describe, expect, it } from 'vitest';
import { readRuntimeConfig } from '../../../shared/config.ts';
import { connectorRegistry } from '../../../shared/connectors/connector-modules.ts';
import type { ConnectorContext, TargetConnector } from '../../../shared/connectors/types.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { pipelineSchema, type TargetConfig } from '../../../shared/pipeline/schema.ts';
import { createDeps, currentDeps } from '../../../shared/usecases/deps.ts';
import { DEPLOYED_ENV } from '../../support/deployed-env.ts';

/** A target registry whose modules are stand-ins: which types were imported, and a connector naming its type. */
function recordingTargets() {
  const imported: string[] = [];
  const loader = (type: TargetConfig['type']) => async () => {
    imported.push(type);
    return (config: TargetConfig) => ({ createdFrom: config.type }) as unknown as TargetConnector;
  };
  const registry = connectorRegistry<TargetConfig, TargetConnector>('target', {
    dynamodb: loader('dynamodb'),
    s3: loader('s3'),
    postgres: loader('postgres'),
    http: loader('http'),
    custom: loader('custom'),
  });
  return { imported, registry };
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
});

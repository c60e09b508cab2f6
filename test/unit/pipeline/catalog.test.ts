import { describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError } from '../../../shared/errors.ts';
import {
  catalogFromEnv,
  PIPELINES_ENV,
  PipelineCatalog,
  serializeCatalog,
} from '../../../shared/pipeline/catalog.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';

function pipeline(name: string): Pipeline {
  return pipelineSchema.parse({
    name,
    source: { type: 'postgres', connection: { secret: 'esync/test/db' }, table: 'users', key: ['id'] },
    target: { type: 'dynamodb' },
    validation: [{ field: 'email', format: '^.+@.+$' }],
    conflict: { strategy: 'field-merge', timestampField: 'updated_at', fields: { price: 'latest' } },
  });
}

describe('PipelineCatalog', () => {
  it('finds pipelines by name and lists them in name order', () => {
    // Prepare
    const catalog = new PipelineCatalog([pipeline('zeta'), pipeline('alpha')]);

    // Act / Assess
    expect(catalog.get('zeta').name).toBe('zeta');
    expect(catalog.names()).toEqual(['alpha', 'zeta']);
    expect(catalog.all().map((p) => p.name)).toEqual(['alpha', 'zeta']);
    expect(catalog.has('alpha')).toBe(true);
    expect(catalog.has('beta')).toBe(false);
  });

  it('throws NotFoundError naming the known pipelines and the closest one', () => {
    // Prepare
    const catalog = new PipelineCatalog([pipeline('users-sync'), pipeline('orders-sync')]);

    // Act
    const lookup = () => catalog.get('user-sync');

    // Assess
    expect(lookup).toThrow(NotFoundError);
    expect(lookup).toThrow(
      'unknown pipeline "user-sync"; known pipelines: orders-sync, users-sync; did you mean `users-sync`?',
    );
  });

  it('refuses two pipelines with one name', () => {
    expect(() => new PipelineCatalog([pipeline('twin'), pipeline('twin')])).toThrow(ConfigError);
  });
});

describe('catalogFromEnv', () => {
  it('round-trips pipelines through serializeCatalog and ESYNC_PIPELINES unchanged', () => {
    // Prepare
    const pipelines = [pipeline('users-sync'), pipeline('orders-sync')];

    // Act
    const catalog = catalogFromEnv({ [PIPELINES_ENV]: serializeCatalog(pipelines) });

    // Assess
    expect(catalog.get('users-sync')).toEqual(pipelines[0]);
    expect(catalog.get('orders-sync')).toEqual(pipelines[1]);
  });

  it('fails loudly when the variable is missing', () => {
    expect(() => catalogFromEnv({})).toThrow(
      new ConfigError(
        `${PIPELINES_ENV} is not set; it must hold the JSON array of pipelines this function serves`,
      ),
    );
  });

  it('fails loudly when the variable is not JSON', () => {
    expect(() => catalogFromEnv({ [PIPELINES_ENV]: '[{' })).toThrow(/ESYNC_PIPELINES is not valid JSON/);
  });

  it('fails loudly, with the path, when a pipeline no longer validates', () => {
    // Prepare
    const stale = [{ ...pipeline('users-sync'), source: { type: 'oracle', key: ['id'] } }];

    // Act
    const load = () => catalogFromEnv({ [PIPELINES_ENV]: JSON.stringify(stale) });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ESYNC_PIPELINES holds invalid pipelines: \[0\]\.source\.type: /);
  });
});

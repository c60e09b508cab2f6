import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError } from '../../../shared/errors.ts';
import {
  catalogFromEnv,
  PIPELINES_ENV,
  PipelineCatalog,
  serializeCatalog,
} from '../../../shared/pipeline/catalog.ts';
import { loadPipelineFiles } from '../../../shared/pipeline/load.ts';
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

  it('refuses a value that is not an array of named pipelines, saying where', () => {
    expect(() => catalogFromEnv({ [PIPELINES_ENV]: '{"name":"users-sync"}' })).toThrow(
      new ConfigError(`${PIPELINES_ENV} must hold a JSON array of pipelines, got object`),
    );
    expect(() =>
      catalogFromEnv({ [PIPELINES_ENV]: JSON.stringify([pipeline('users-sync'), { source: {} }]) }),
    ).toThrow(new ConfigError(`${PIPELINES_ENV} holds an entry without a pipeline name at [1]`));
  });

  it('reads what serializeCatalog wrote without the schema: parsing it again changes no pipeline', async () => {
    // Prepare: the repository's pipelines and one with validation, conflicts and expressions.
    const { pipelines } = await loadPipelineFiles([
      fileURLToPath(new URL('../../../pipelines', import.meta.url)),
    ]);
    const computed = pipelineSchema.parse({
      ...JSON.parse(serializeCatalog([pipeline('computed')]))[0],
      transform: { compute: { next: 'age + 1' }, filter: 'age > 0' },
    });
    const all = [...pipelines, pipeline('validated'), computed];

    // Act
    const read = catalogFromEnv({ [PIPELINES_ENV]: serializeCatalog(all) });

    // Assess
    expect(pipelines.length).toBeGreaterThanOrEqual(4);
    for (const written of all) {
      const served = read.get(written.name);
      expect(served).toEqual(JSON.parse(JSON.stringify(written)));
      expect(pipelineSchema.parse(served)).toEqual(served);
    }
  });
});

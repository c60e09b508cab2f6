import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalServer } from '../../../local/aws-json-server.ts';
import { startSsmServer } from '../../../local/ssm-server.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { pipelineParameterName, pipelineParameterPath } from '../../../shared/naming.ts';
import { serializeCatalog } from '../../../shared/pipeline/catalog.ts';
import {
  catalogSourceFromEnv,
  FixedCatalogSource,
  PIPELINE_PARAMETERS_ENV,
} from '../../../shared/pipeline/catalog-source.ts';
import { ParameterCatalogSource } from '../../../shared/pipeline/parameter-catalog-source.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';

const pipeline = (name: string): Pipeline =>
  pipelineSchema.parse({
    name,
    source: { type: 'cdc', key: ['id'] },
    target: { type: 'dynamodb' },
    triggers: { cdc: { pattern: { source: [`esync.${name}`] } } },
  });

/** Twelve pipelines: more than one GetParametersByPath page of ten. */
const NAMES = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);

let server: LocalServer;
let client: SSMClient;

beforeAll(async () => {
  server = await startSsmServer({
    parameters: {
      ...Object.fromEntries(NAMES.map((n) => [pipelineParameterName('dev', n), JSON.stringify(pipeline(n))])),
      // Another stage's pipeline and a deeper parameter: neither is one of dev's pipelines.
      [pipelineParameterName('prod', 'other')]: JSON.stringify(pipeline('other')),
      [`${pipelineParameterPath('dev')}/p00/note`]: 'not a pipeline',
    },
    logger: { warn() {}, error() {} },
  });
  client = new SSMClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

describe('the local Parameter Store', () => {
  it('puts, gets and deletes a String parameter, refusing an overwrite not asked for', async () => {
    await client.send(new PutParameterCommand({ Name: '/t/one', Value: 'a', Type: 'String' }));
    const first = await client.send(new GetParameterCommand({ Name: '/t/one' }));
    const again = client.send(new PutParameterCommand({ Name: '/t/one', Value: 'b', Type: 'String' }));
    await expect(again).rejects.toBeInstanceOf(ParameterAlreadyExists);
    await client.send(
      new PutParameterCommand({ Name: '/t/one', Value: 'b', Type: 'String', Overwrite: true }),
    );
    const second = await client.send(new GetParameterCommand({ Name: '/t/one' }));
    await client.send(new DeleteParameterCommand({ Name: '/t/one' }));

    expect(first.Parameter).toMatchObject({ Name: '/t/one', Value: 'a', Version: 1 });
    expect(second.Parameter).toMatchObject({ Value: 'b', Version: 2 });
    await expect(client.send(new GetParameterCommand({ Name: '/t/one' }))).rejects.toBeInstanceOf(
      ParameterNotFound,
    );
  });
});

describe('pipelines read from SSM parameters', () => {
  it('serves every pipeline directly under the stage path, across pages, and nothing else', async () => {
    const source = new ParameterCatalogSource(client, {
      path: pipelineParameterPath('dev'),
      maxAgeSeconds: 0,
    });

    const catalog = await source.current();

    expect(catalog.names()).toEqual(NAMES);
    expect(catalog.get('p11')).toEqual(pipeline('p11'));
  });

  it('serves no pipelines when no stack has published one', async () => {
    const source = new ParameterCatalogSource(client, { path: '/esync/staging/pipelines', maxAgeSeconds: 0 });

    const catalog = await source.current();

    expect(catalog.names()).toEqual([]);
    expect(() => catalog.get('p00')).toThrow('no pipelines are deployed');
  });

  it('fails naming the parameter that holds an invalid pipeline or another pipeline’s definition', async () => {
    const invalid = `${pipelineParameterPath('staging')}-bad`;
    await client.send(
      new PutParameterCommand({ Name: `${invalid}/broken`, Value: '{"name":"broken"}', Type: 'String' }),
    );
    const misnamed = `${pipelineParameterPath('staging')}-misnamed`;
    await client.send(
      new PutParameterCommand({
        Name: `${misnamed}/alpha`,
        Value: JSON.stringify(pipeline('beta')),
        Type: 'String',
      }),
    );

    const read = (path: string) => new ParameterCatalogSource(client, { path, maxAgeSeconds: 0 }).current();

    await expect(read(invalid)).rejects.toThrow(
      new RegExp(`SSM parameter ${invalid}/broken holds an invalid pipeline: source`),
    );
    await expect(read(misnamed)).rejects.toThrow(`SSM parameter ${misnamed}/alpha holds pipeline "beta"`);
    await expect(read(misnamed)).rejects.toBeInstanceOf(ConfigError);
  });

  it('is the source a function uses when its environment names a parameter path, else the baked catalog', async () => {
    let built = 0;
    const reader = {
      client: async () => {
        built++;
        return client;
      },
      maxAgeSeconds: 60,
    };
    const baked = { ESYNC_PIPELINES: serializeCatalog([pipeline('baked')]) };

    const fromPath = catalogSourceFromEnv(
      { ...baked, [PIPELINE_PARAMETERS_ENV]: '/esync/dev/pipelines' },
      reader,
    );
    const fromBundle = catalogSourceFromEnv(baked, reader);

    expect(built).toBe(0);
    expect((await fromPath.current()).names()).toEqual(NAMES);
    expect((await fromPath.current()).names()).toEqual(NAMES);
    expect(built).toBe(1);
    expect(fromBundle).toBeInstanceOf(FixedCatalogSource);
    expect((fromBundle as FixedCatalogSource).catalog.names()).toEqual(['baked']);
    expect(() => catalogSourceFromEnv({ [PIPELINE_PARAMETERS_ENV]: 'esync/dev' }, reader)).toThrow(
      'ESYNC_PIPELINE_PARAMETERS must be an SSM parameter path like /esync/dev/pipelines, got "esync/dev"',
    );
  });
});

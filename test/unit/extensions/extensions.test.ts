import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { jsonlUrl } from '../../../examples/extensions/jsonl-url.ts';
import { orderId } from '../../../examples/extensions/order-id.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import type { TargetConnector } from '../../../shared/connectors/types.ts';
import { createValidator } from '../../../shared/domain/validation.ts';
import { defineSource, defineTarget, defineValidator } from '../../../shared/extensions/index.ts';
import { loadExtensions } from '../../../shared/extensions/load.ts';
import { ExtensionRegistry } from '../../../shared/extensions/registry.ts';
import { formatProblem, parsePipelineText } from '../../../shared/pipeline/load.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { sampleExtensionsPipeline, testConnectorContext } from '../../support/connector-context.ts';

const EXAMPLES = path.resolve(import.meta.dirname, '../../../examples/extensions');
const SHARED = path.resolve(import.meta.dirname, '../../../shared/extensions/index.ts');

const PIPELINE = sampleExtensionsPipeline('orders-sync', 'https://data.example.com/orders.jsonl');

const sample = () =>
  new ExtensionRegistry().add(orderId, 'extensions/order-id.ts').add(jsonlUrl, 'extensions/jsonl-url.ts');

function problemsOf(text: string, registry: ExtensionRegistry): string[] {
  return parsePipelineText(text, 'pipelines/orders.yaml', registry).problems.map(formatProblem);
}

describe('pipelines naming extensions', () => {
  it('accepts a custom source and validator that extension modules register', () => {
    const { pipeline, problems } = parsePipelineText(PIPELINE, 'pipelines/orders.yaml', sample());

    expect(problems).toEqual([]);
    expect(pipeline?.source).toMatchObject({ type: 'custom', connector: 'jsonl-url', key: ['order_id'] });
  });

  it('refuses a source connector no extension registers, at its line and column, with the registered ones', () => {
    const problems = problemsOf(PIPELINE.replace('connector: jsonl-url', 'connector: jsonl-ur'), sample());

    expect(problems).toEqual([
      'pipelines/orders.yaml:4:14 source.connector unknown source connector "jsonl-ur"; known: jsonl-url; did you mean `jsonl-url`?',
    ]);
  });

  it('says that no extension registers a target when none does', () => {
    const text = PIPELINE.replace('target:\n  type: dynamodb', 'target:\n  type: custom\n  connector: crm');

    expect(problemsOf(text, sample())).toEqual([
      'pipelines/orders.yaml:11:14 target.connector unknown target connector "crm"; no extension module registers one (defineTarget in extensions/*.ts)',
    ]);
  });

  it('lists the built-in and registered validators for an unknown validator name', () => {
    const problems = problemsOf(PIPELINE.replace('custom: order-id', 'custom: order-di'), sample());

    expect(problems).toEqual([
      'pipelines/orders.yaml:13:13 validation[0].custom unknown validator "order-di"; known: email, iso-country, order-id, uuid; did you mean `order-id`?',
    ]);
  });

  it('refuses the validator and source when no extensions are loaded', () => {
    const problems = problemsOf(PIPELINE, new ExtensionRegistry());

    expect(problems).toEqual([
      'pipelines/orders.yaml:4:14 source.connector unknown source connector "jsonl-url"; no extension module registers one (defineSource in extensions/*.ts)',
      'pipelines/orders.yaml:13:13 validation[0].custom unknown validator "order-id"; known: email, iso-country, uuid',
    ]);
  });

  it("reports the connector's own option problems where the options are written", () => {
    const text = PIPELINE.replace(
      'url: https://data.example.com/orders.jsonl',
      'url: ftp://data.example.com/x',
    );

    const problems = problemsOf(text, sample());

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^pipelines\/orders\.yaml:6:10 source\.options\.url /);
  });
});

describe('ExtensionRegistry', () => {
  it('runs a registered validator beside the built-in ones', () => {
    const validate = createValidator([{ field: 'order_id', custom: 'order-id' }], sample().validators);

    expect(validate({ order_id: 'ORD-004217' })).toEqual([]);
    expect(validate({ order_id: 'A-1' })).toEqual([
      { field: 'order_id', rule: 'custom', message: 'order-id: is not an order id (ORD- and six digits)' },
    ]);
  });

  it('refuses a name registered twice, naming both modules', () => {
    const twice = () =>
      ExtensionRegistry.fromModules([
        { file: 'extensions/a.ts', exports: { orderId } },
        { file: 'extensions/b.ts', exports: { again: defineValidator('order-id', () => undefined) } },
      ]);

    expect(twice).toThrow(
      'extensions/b.ts: a validator named "order-id" is already registered by extensions/a.ts',
    );
  });

  it('refuses a validator that would replace a built-in one', () => {
    const replacing = () =>
      new ExtensionRegistry().add(
        defineValidator('email', () => undefined),
        'x.ts',
      );

    expect(replacing).toThrow('x.ts: a validator named "email" is already registered (built in)');
  });

  it('refuses a module that registers nothing', () => {
    const empty = () => ExtensionRegistry.fromModules([{ file: 'extensions/helpers.ts', exports: { n: 1 } }]);

    expect(empty).toThrow(/extensions\/helpers\.ts exports no validator, source or target/);
  });

  it('refuses a connector type that is not lower-kebab-case', () => {
    expect(() => defineSource({ type: 'Orders API', create: () => ({}) as never })).toThrow(
      'defineSource: type "Orders API" is not lower-kebab-case (e.g. orders-api)',
    );
  });
});

describe('loadExtensions', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('loads each module of the directory, skipping tests, with what each registers', async () => {
    const loaded = await loadExtensions(EXAMPLES);

    expect(loaded.registry.names('source')).toEqual(['jsonl-url']);
    expect(loaded.registry.validators.get('order-id')).toBeTypeOf('function');
    expect(loaded.modules).toEqual([
      { path: path.join(EXAMPLES, 'jsonl-url.ts'), kinds: ['source'] },
      { path: path.join(EXAMPLES, 'order-id.ts'), kinds: ['validator'] },
    ]);
  });

  it('gives no extensions for a missing default directory and an error for a missing named one', async () => {
    const missing = path.join(os.tmpdir(), 'esync-no-such-extensions');

    expect((await loadExtensions(missing)).modules).toEqual([]);
    await expect(loadExtensions(missing, { required: true })).rejects.toThrow(
      /extensions directory .*ENOENT/,
    );
  });

  it('names the module that fails to import', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'esync-extensions-'));
    await writeFile(path.join(dir, 'broken.ts'), `import '${SHARED}';\nthrow new Error('boom');\n`);

    await expect(loadExtensions(dir, { cwd: dir })).rejects.toThrow(
      'broken.ts: cannot load the extension module: boom',
    );
  });
});

describe('custom connectors', () => {
  const pipelineWith = (target: Record<string, unknown>) =>
    pipelineSchema.parse({ name: 'feed', source: { type: 's3', key: ['id'] }, target });

  it('creates the target an extension registers, with its options parsed by its schema', async () => {
    // Prepare
    const created: unknown[] = [];
    const crm = defineTarget({
      type: 'crm',
      options: z.strictObject({ region: z.string().default('eu') }),
      create: (options) => {
        created.push(options);
        return { close: async () => {} } as unknown as TargetConnector;
      },
    });
    const pipeline = pipelineWith({ type: 'custom', connector: 'crm' });

    // Act
    await TARGET_CONNECTORS.loadAndCreate(
      pipeline.target,
      testConnectorContext(pipeline, new ExtensionRegistry().add(crm, 'crm.ts')),
    );

    // Assess
    expect(created).toEqual([{ region: 'eu' }]);
  });

  it('fails with the registered names when the function carries no such connector', async () => {
    const pipeline = pipelineWith({ type: 'custom', connector: 'crm' });

    await expect(
      TARGET_CONNECTORS.loadAndCreate(
        pipeline.target,
        testConnectorContext(pipeline, new ExtensionRegistry()),
      ),
    ).rejects.toThrow(
      'no extension registers the target connector "crm" in this function (registered: none)',
    );
  });
});

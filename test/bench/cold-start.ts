import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { catalogBanner, FUNCTION_RUNTIME } from '../../infra/constructs/esync-function.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import { loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { REPO_ROOT } from './records.ts';

const run = promisify(execFile);

/**
 * The `require` banner of infra/constructs/esync-function.ts (not exported there). Checked
 * against that file's text on every run, so the benchmark cannot drift from the deployed bundle.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __esyncCreateRequire } from 'node:module'; const require = __esyncCreateRequire(import.meta.url);";

/** What one bundle costs at cold start. */
export interface BundleFigure {
  readonly name: string;
  /** Bytes of the minified bundle (`index.mjs`, as deployed). */
  readonly bytes: number;
  /** Bytes of its source map, deployed beside it. */
  readonly mapBytes: number;
  /** Median milliseconds from the start of a fresh Node process until the handler module is loaded. */
  readonly initMs: number;
  /** Median milliseconds of the import alone. */
  readonly importMs: number;
  /** The packages that weigh most in the bundle, largest first. */
  readonly heaviest: readonly { readonly pkg: string; readonly bytes: number }[];
}

export interface ColdStartResult {
  readonly functions: readonly BundleFigure[];
  /** A handler importing one SDK client (DynamoDB), bundled and loaded the same way. */
  readonly helloWorld: BundleFigure;
}

export interface ColdStartOptions {
  /** Where the bundles are written. */
  readonly outDir: string;
  /** Fresh processes per bundle; the median counts. @default 5 */
  readonly runs?: number;
  /** Function folders to bundle. @default - every functions/<name>/handler.ts */
  readonly functions?: readonly string[];
  readonly log?: (line: string) => void;
}

const HELLO_WORLD = `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
export const handler = async () => ({ ok: true, region: await client.config.region() });
`;

/** Loads a bundle in this process's child and reports when it was ready (see {@link BundleFigure.initMs}). */
const LOADER = `const started = performance.now();
const module = await import(process.argv[2]);
const ready = performance.now();
if (typeof module.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ initMs: ready, importMs: ready - started }));
`;

function checkBanner(): void {
  const source = readFileSync(path.join(REPO_ROOT, 'infra', 'constructs', 'esync-function.ts'), 'utf8');
  if (!source.includes(JSON.stringify(ESM_REQUIRE_BANNER)))
    throw new Error(
      'the ESM require banner in infra/constructs/esync-function.ts changed: update test/bench/cold-start.ts',
    );
}

/** Bytes per package (or `(project)` for the repository's own files) from esbuild's metafile. */
function heaviestPackages(metafile: Metafile, top = 5): BundleFigure['heaviest'] {
  const byPkg = new Map<string, number>();
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const pkg = match?.[1] ?? '(project)';
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + bytesInOutput);
    }
  return [...byPkg]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([pkg, bytes]) => ({ pkg, bytes }));
}

/**
 * Bundles like the house NodejsFunction (infra/constructs/esync-function.ts): ESM, minified,
 * source maps without sources content, `module` before `main`, the SDK bundled, the `require`
 * banner and the pipeline catalog banner, the Lambda runtime's Node version as target.
 */
async function bundle(
  name: string,
  entry: { file: string } | { contents: string },
  outDir: string,
  banner: string,
): Promise<{ file: string; bytes: number; mapBytes: number; heaviest: BundleFigure['heaviest'] }> {
  const dir = path.join(outDir, name);
  mkdirSync(dir, { recursive: true });
  const outfile = path.join(dir, 'index.mjs');
  const target = `node${/nodejs(\d+)/.exec(FUNCTION_RUNTIME.name)?.[1] ?? '20'}`;
  const result = await build({
    ...('file' in entry
      ? { entryPoints: [entry.file] }
      : {
          stdin: { contents: entry.contents, resolveDir: REPO_ROOT, loader: 'ts', sourcefile: `${name}.ts` },
        }),
    bundle: true,
    platform: 'node',
    target,
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: banner },
    tsconfig: path.join(REPO_ROOT, 'tsconfig.json'),
    outfile,
    metafile: true,
    logLevel: 'error',
  });
  return {
    file: outfile,
    bytes: statSync(outfile).size,
    mapBytes: statSync(`${outfile}.map`).size,
    heaviest: heaviestPackages(result.metafile),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One fresh process loading the bundle, with the environment Lambda gives a function. */
async function loadOnce(
  loader: string,
  file: string,
  name: string,
): Promise<{ initMs: number; importMs: number }> {
  const { stdout } = await run(process.execPath, [loader, file], {
    cwd: path.dirname(file),
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: '--enable-source-maps',
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: `esync-dev-core-${name}`,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      AWS_EXECUTION_ENV: `AWS_Lambda_${FUNCTION_RUNTIME.name}`,
      POWERTOOLS_SERVICE_NAME: `esync-${name}`,
      POWERTOOLS_METRICS_NAMESPACE: 'ESync',
    },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as { initMs: number; importMs: number };
}

/**
 * Bundle size and cold-start time of every function, beside a hello-world bundle that imports one
 * SDK client. Init time is measured in fresh Node processes, interleaved across bundles so that a
 * busy moment of the machine weighs on all of them alike; the median of `runs` counts.
 */
export async function runColdStart(options: ColdStartOptions): Promise<ColdStartResult> {
  checkBanner();
  const log = options.log ?? (() => {});
  const runs = options.runs ?? 5;
  const { pipelines } = await loadPipelineFiles([path.join(REPO_ROOT, 'pipelines')]);
  const banner = `${ESM_REQUIRE_BANNER} ${catalogBanner(serializeCatalog(pipelines))}`;
  const names =
    options.functions ??
    readdirSync(path.join(REPO_ROOT, 'functions'), { withFileTypes: true })
      .filter(
        (d) => d.isDirectory() && statSync(path.join(REPO_ROOT, 'functions', d.name, 'handler.ts')).isFile(),
      )
      .map((d) => d.name)
      .sort();
  mkdirSync(options.outDir, { recursive: true });
  const loader = path.join(options.outDir, 'load-bundle.mjs');
  writeFileSync(loader, LOADER);

  log(`bundling ${names.length} functions and a hello-world with esbuild`);
  const bundles = await Promise.all([
    ...names.map(async (name) => ({
      name,
      ...(await bundle(
        name,
        { file: path.join(REPO_ROOT, 'functions', name, 'handler.ts') },
        options.outDir,
        banner,
      )),
    })),
    bundle('hello-world', { contents: HELLO_WORLD }, options.outDir, banner).then((b) => ({
      name: 'hello-world',
      ...b,
    })),
  ]);
  const samples = new Map<string, { initMs: number; importMs: number }[]>(bundles.map((b) => [b.name, []]));
  log(`loading each bundle in ${runs} fresh processes`);
  for (let i = 0; i < runs; i++)
    for (const b of bundles) samples.get(b.name)?.push(await loadOnce(loader, b.file, b.name));
  const figures = bundles.map((b): BundleFigure => {
    const taken = samples.get(b.name) ?? [];
    return {
      name: b.name,
      bytes: b.bytes,
      mapBytes: b.mapBytes,
      initMs: Math.round(median(taken.map((s) => s.initMs)) * 10) / 10,
      importMs: Math.round(median(taken.map((s) => s.importMs)) * 10) / 10,
      heaviest: b.heaviest,
    };
  });
  const helloWorld = figures.find((f) => f.name === 'hello-world') as BundleFigure;
  return { functions: figures.filter((f) => f !== helloWorld), helloWorld };
}

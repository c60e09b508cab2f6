import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { bundleFunction, outputsLoadedAtInit } from '../../infra/bundling.ts';
import {
  catalogBanner,
  FUNCTION_NODE_MAJOR,
  FUNCTION_RUNTIME,
} from '../../infra/constructs/esync-function.ts';
import { stageSettings } from '../../infra/stage.ts';
import { serializeCatalog } from '../../shared/pipeline/catalog.ts';
import { loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { REPO_ROOT } from './records.ts';

const run = promisify(execFile);

/** What one bundle costs at cold start. */
export interface BundleFigure {
  readonly name: string;
  /**
   * Bytes of minified code a cold start loads: the entry (`index.mjs`) and the chunks it imports
   * statically; the chunks of `import()` load only with the invocation that needs them.
   */
  readonly bytes: number;
  /** Bytes of every file of code deployed: the entry and all its chunks. */
  readonly deployedBytes: number;
  /** Chunks beside the entry. */
  readonly chunks: number;
  /** Bytes of the source maps, deployed beside the code. */
  readonly mapBytes: number;
  /** Median milliseconds from the start of a fresh Node process until the handler module is loaded. */
  readonly initMs: number;
  /** Median milliseconds of the import alone. */
  readonly importMs: number;
  /** {@link bytes} over the hello-world's, measured in the same run. */
  readonly bytesRatio: number;
  /** {@link initMs} over the hello-world's, measured in the same run. */
  readonly initRatio: number;
  /**
   * What weighs most in what a cold start loads, largest first: npm packages by name, the
   * repository's own code by folder (`shared/state`, `functions/load`).
   */
  readonly heaviest: readonly { readonly pkg: string; readonly bytes: number }[];
}

export interface ColdStartResult {
  readonly functions: readonly BundleFigure[];
  /** A handler importing one SDK client (DynamoDB), bundled and loaded the same way. */
  readonly helloWorld: BundleFigure;
  /** Whether the functions were bundled with the X-Ray tracer (see {@link ColdStartOptions.tracing}). */
  readonly tracing: boolean;
}

export interface ColdStartOptions {
  /** Where the bundles are written. */
  readonly outDir: string;
  /** Fresh processes per bundle; the median counts. @default 5 */
  readonly runs?: number;
  /** Function folders to bundle. @default - every functions/<name>/handler.ts */
  readonly functions?: readonly string[];
  /** Bundle the X-Ray tracer. @default - as the dev stage deploys them (infra/stage.ts) */
  readonly tracing?: boolean;
  readonly log?: (line: string) => void;
}

/** A handler importing one SDK client (DynamoDB): the baseline. */
const HELLO_WORLD = path.join(REPO_ROOT, 'test', 'bench', 'hello-world.ts');

/** Loads a bundle in this process's child and reports when it was ready (see {@link BundleFigure.initMs}). */
const LOADER = `const started = performance.now();
const module = await import(process.argv[2]);
const ready = performance.now();
if (typeof module.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ initMs: ready, importMs: ready - started }));
`;

/** Bytes per package, and per folder of the repository's own code, of the given outputs. */
function heaviestPackages(metafile: Metafile, outputs: readonly string[], top = 8): BundleFigure['heaviest'] {
  const byPkg = new Map<string, number>();
  for (const output of outputs)
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[output]?.inputs ?? {})) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const pkg = match?.[1] ?? path.dirname(path.relative(REPO_ROOT, path.resolve(input)));
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + bytesInOutput);
    }
  return [...byPkg]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([pkg, bytes]) => ({ pkg, bytes }));
}

interface BuiltBundle {
  readonly file: string;
  readonly bytes: number;
  readonly deployedBytes: number;
  readonly chunks: number;
  readonly mapBytes: number;
  readonly heaviest: BundleFigure['heaviest'];
}

/** Bundles `entry` as the stack does (infra/bundling.ts) and sizes what a cold start loads. */
function bundle(name: string, entry: string, outDir: string, catalog: string, tracing: boolean): BuiltBundle {
  const dir = path.join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  const built = bundleFunction({
    entry,
    outdir: dir,
    nodeMajor: FUNCTION_NODE_MAJOR,
    tsconfig: path.join(REPO_ROOT, 'tsconfig.json'),
    entryPrologue: catalogBanner(catalog),
    tracing,
  });
  const { outputs } = built.metafile;
  const code = Object.keys(outputs).filter((file) => file.endsWith('.mjs'));
  const loaded = outputsLoadedAtInit(built);
  const size = (files: readonly string[]) =>
    files.reduce((sum, f) => sum + statSync(path.resolve(f)).size, 0);
  return {
    file: built.entry,
    bytes: size(loaded),
    deployedBytes: size(code),
    chunks: code.length - 1,
    mapBytes: size(code.map((f) => `${f}.map`)),
    heaviest: heaviestPackages(built.metafile, loaded),
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
  const log = options.log ?? (() => {});
  const runs = options.runs ?? 5;
  const tracing = options.tracing ?? stageSettings('dev').tracing;
  const { pipelines } = await loadPipelineFiles([path.join(REPO_ROOT, 'pipelines')]);
  const catalog = serializeCatalog(pipelines);
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

  log(`bundling ${names.length} functions and a hello-world with esbuild, tracing ${tracing ? 'on' : 'off'}`);
  const bundles = [
    ...names.map((name) => ({
      name,
      ...bundle(
        name,
        path.join(REPO_ROOT, 'functions', name, 'handler.ts'),
        options.outDir,
        catalog,
        tracing,
      ),
    })),
    { name: 'hello-world', ...bundle('hello-world', HELLO_WORLD, options.outDir, catalog, tracing) },
  ];
  const samples = new Map<string, { initMs: number; importMs: number }[]>(bundles.map((b) => [b.name, []]));
  log(`loading each bundle in ${runs} fresh processes`);
  for (let i = 0; i < runs; i++)
    for (const b of bundles) samples.get(b.name)?.push(await loadOnce(loader, b.file, b.name));
  const measured = bundles.map((b) => {
    const taken = samples.get(b.name) ?? [];
    const { file: _file, ...sizes } = b;
    return {
      ...sizes,
      initMs: Math.round(median(taken.map((s) => s.initMs)) * 10) / 10,
      importMs: Math.round(median(taken.map((s) => s.importMs)) * 10) / 10,
    };
  });
  const hello = measured.find((f) => f.name === 'hello-world');
  if (!hello) throw new Error('the hello-world bundle was not measured');
  const figures = measured.map(
    (f): BundleFigure => ({
      ...f,
      bytesRatio: Math.round((f.bytes / hello.bytes) * 100) / 100,
      initRatio: Math.round((f.initMs / hello.initMs) * 100) / 100,
    }),
  );
  const helloWorld = figures.find((f) => f.name === 'hello-world') as BundleFigure;
  return { functions: figures.filter((f) => f !== helloWorld), helloWorld, tracing };
}

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type BuildOptions, buildSync, type Metafile } from 'esbuild';

/**
 * How every function is bundled: the stack (infra/constructs/esync-function.ts), the benchmark
 * (test/bench/cold-start.ts) and the bundle tests all call {@link bundleFunction}, so what is
 * measured and tested is what is deployed.
 */

/**
 * Gives CommonJS dependencies bundled into the ESM output a `require`. The import is aliased so it
 * cannot collide with a `createRequire` of the bundle itself. Every output file (the entry and
 * each chunk) is a module of its own and carries it.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __esyncCreateRequire } from 'node:module'; const require = __esyncCreateRequire(import.meta.url);";

/** The file Lambda loads: `index.handler`. */
export const ENTRY_FILE = 'index.mjs';

export interface BundleFunctionOptions {
  /** The handler module, `functions/<name>/handler.ts`. */
  readonly entry: string;
  /** Where the entry, its chunks and source maps are written. */
  readonly outdir: string;
  /** The Node.js major version of the runtime, e.g. 24. */
  readonly nodeMajor: number;
  /** Text run first in the entry, on its banner line (the pipeline catalog). @default - none */
  readonly entryPrologue?: string;
  /** The tsconfig the sources are read with. */
  readonly tsconfig: string;
  /** Modules run before the entry (the extension modules the function needs: infra/extensions.ts). @default - none */
  readonly inject?: readonly string[];
  /**
   * Bundle the X-Ray tracing middleware (`#esync/tracing`: shared/lambda/tracing.ts). Off,
   * `tracing-off.ts` is bundled in its place and neither the Powertools tracer nor the X-Ray SDK is in the bundle.
   * @default true
   */
  readonly tracing?: boolean;
}

/** The files one bundle wrote and what esbuild says went into each. */
export interface FunctionBundle {
  /** The entry's path. */
  readonly entry: string;
  /** esbuild's account of the build; its output paths are relative to the working directory. */
  readonly metafile: Metafile;
}

/**
 * The code files a cold start reads (metafile output paths): the entry and, transitively, the
 * chunks it imports statically. The chunks of `import()` are read only when the code runs it.
 */
export function outputsLoadedAtInit(bundle: FunctionBundle): string[] {
  const { outputs } = bundle.metafile;
  const entry = Object.keys(outputs).find((file) => path.resolve(file) === bundle.entry);
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    for (const imported of outputs[file]?.imports ?? [])
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
  };
  if (entry !== undefined) visit(entry);
  return [...loaded];
}

/**
 * The package.json `imports` condition that resolves `#esync/tracing` to `tracing-off.ts`
 * instead of `tracing.ts`. `module` stays first among the others, as esbuild's default.
 */
export const UNTRACED_CONDITION = 'esync-untraced';

/**
 * The esbuild options of a function bundle: ESM, minified, source maps without sources content,
 * `module` before `main`, the SDK bundled (the version tested is the version deployed), and code
 * splitting, so what a handler imports with `import()` (a database driver, an SDK client, the
 * Avro and Protobuf decoders) is a chunk of its own, read only by the invocation that needs it.
 */
export function functionBuildOptions(
  options: BundleFunctionOptions,
): BuildOptions & { write: false; metafile: true } {
  return {
    entryPoints: { index: options.entry },
    bundle: true,
    splitting: true,
    platform: 'node',
    target: `node${options.nodeMajor}`,
    format: 'esm',
    mainFields: ['module', 'main'],
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_BANNER },
    tsconfig: options.tsconfig,
    outdir: options.outdir,
    metafile: true,
    write: false,
    logLevel: 'error',
    ...(options.inject && { inject: [...options.inject] }),
    ...(options.tracing === false && { conditions: [UNTRACED_CONDITION, 'module'] }),
  };
}

/**
 * Bundles one handler into `outdir` (synchronously: CDK's local bundling cannot wait). The
 * prologue goes onto the entry's first line, the banner's, which the source map leaves unmapped,
 * so the maps stay true; chunks never carry it.
 */
export function bundleFunction(options: BundleFunctionOptions): FunctionBundle {
  const result = buildSync(functionBuildOptions(options));
  const entry = path.join(options.outdir, ENTRY_FILE);
  for (const file of result.outputFiles) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    const prologue = file.path === entry ? options.entryPrologue : undefined;
    writeFileSync(
      file.path,
      prologue === undefined
        ? file.contents
        : file.text.replace(ESM_REQUIRE_BANNER, () => `${ESM_REQUIRE_BANNER} ${prologue}`),
    );
  }
  return { entry, metafile: result.metafile };
}

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { ExtensionKind } from './definitions.ts';
import { type ExtensionModule, ExtensionRegistry } from './registry.ts';

/** Where extension modules live unless told otherwise, relative to the project (or working) directory. */
export const DEFAULT_EXTENSIONS_DIR = 'extensions';

/** Files of an extensions directory that are modules: TypeScript or JavaScript, not tests or declarations. */
const MODULE_FILE = /^(?!.*\.(test|spec|d)\.[cm]?[jt]s$).*\.[cm]?[jt]s$/;

/** The extensions of a directory: the registry and, per module, its absolute path and what it registers. */
export interface LoadedExtensions {
  readonly registry: ExtensionRegistry;
  readonly modules: readonly { readonly path: string; readonly kinds: readonly ExtensionKind[] }[];
}

async function moduleFiles(dir: string, required: boolean): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && MODULE_FILE.test(entry.name))
      .map((entry) => path.join(dir, entry.name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return [];
    throw new ConfigError(`extensions directory ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Imports every module directly in `dir` (subfolders hold their helpers) and registers what they
 * export. The modules run in this process: they are the user's own code, as in the functions.
 * @param options.required - a missing directory is an error (it was named explicitly) rather than no extensions
 * @param options.cwd - reported file names are relative to it
 * @throws ConfigError naming the file that fails to import or registers nothing or a name twice
 */
export async function loadExtensions(
  dir: string,
  options: { readonly required?: boolean; readonly cwd?: string } = {},
): Promise<LoadedExtensions> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = path.resolve(cwd, dir);
  const files = await moduleFiles(absolute, options.required ?? false);
  const modules: ExtensionModule[] = [];
  for (const file of files) {
    const shown = path.relative(cwd, file);
    try {
      modules.push({
        file: shown,
        exports: (await import(pathToFileURL(file).href)) as Record<string, unknown>,
      });
    } catch (error) {
      throw new ConfigError(`${shown}: cannot load the extension module: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  const registry = ExtensionRegistry.fromModules(modules);
  const byShown = new Map(files.map((file) => [path.relative(cwd, file), file]));
  return {
    registry,
    modules: registry.modules().map(({ file, kinds }) => ({ path: byShown.get(file) ?? file, kinds })),
  };
}

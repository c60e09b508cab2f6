import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExtensionKind } from '../shared/extensions/definitions.ts';
import type { FunctionName } from '../shared/usecases/contracts.ts';

/** An extension module the CDK app bundles: its absolute path and what it registers. */
export interface BundledExtension {
  readonly path: string;
  readonly kinds: readonly ExtensionKind[];
}

/**
 * What each function runs of the extensions: validators where records are validated (Load, and
 * Verify, which compares transformed records), sources where a source is read, targets where a
 * target is written or read. A module goes only into the functions that run what it registers.
 */
export const EXTENSION_KINDS_BY_FUNCTION: Readonly<Record<FunctionName, readonly ExtensionKind[]>> = {
  discover: ['source', 'target'],
  plan: ['source'],
  extract: ['source'],
  load: ['validator', 'target'],
  'await-load': [],
  verify: ['validator', 'source', 'target'],
  cleanup: [],
  'record-failure': [],
  'run-ended': [],
  webhook: [],
  api: ['target'],
  'alert-webhook': [],
};

const INSTALLER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'shared',
  'extensions',
  'installed.ts',
);

/** The modules that register something the function runs. */
export function extensionsFor(
  handlerName: FunctionName,
  modules: readonly BundledExtension[],
): BundledExtension[] {
  const wanted = EXTENSION_KINDS_BY_FUNCTION[handlerName];
  return modules.filter((module) => module.kinds.some((kind) => wanted.includes(kind)));
}

/**
 * The module esbuild injects into a function's bundle (its `inject` option): it imports the
 * extension modules the function needs and installs their definitions before the handler module
 * runs. Written under the system's temporary directory, named by its content.
 */
export function extensionInjection(handlerName: FunctionName, needed: readonly BundledExtension[]): string {
  const lines = [
    `import { installBundledExtensions } from ${JSON.stringify(INSTALLER)};`,
    ...needed.map((module, i) => `import * as extension${i} from ${JSON.stringify(module.path)};`),
    `installBundledExtensions([${needed
      .map((module, i) => `{ file: ${JSON.stringify(path.basename(module.path))}, exports: extension${i} }`)
      .join(', ')}]);`,
  ];
  const text = `${lines.join('\n')}\n`;
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), 'esync-extensions');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${handlerName}-${digest}.js`);
  writeFileSync(file, text);
  return file;
}

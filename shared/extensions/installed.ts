import { type ExtensionModule, ExtensionRegistry } from './registry.ts';

// The one registry a process (a Lambda container, the local stack, the CLI) runs with. A
// function's bundle fills it before its handler module runs (the CDK app injects the extension
// modules it needs); the local stack fills it when it starts and empties it when it stops.
let installed = new ExtensionRegistry();

/** The extensions installed in this process; only the built-in validators until some are. */
export function installedExtensions(): ExtensionRegistry {
  return installed;
}

/** Installs `registry` for this process. Returns the undo, which puts back the one before. */
export function installExtensions(registry: ExtensionRegistry): () => void {
  const before = installed;
  installed = registry;
  return () => {
    installed = before;
  };
}

/** Installs the definitions of extension modules bundled into a function (see infra/extensions.ts). */
export function installBundledExtensions(modules: readonly ExtensionModule[]): void {
  installed = ExtensionRegistry.fromModules(modules);
}

/**
 * The oldest Node major ESync runs on; `engines` in package.json says the same (a unit test
 * holds them together). The local stack's Step Functions emulator (aws-local-stepfunctions 3)
 * calls `Promise.withResolvers` for every Task state: on an older Node each task would fail with
 * a TypeError that a `Catch States.ALL` turns into a plausible-looking business failure, so the
 * local stack refuses to start instead.
 */
export const MINIMUM_NODE_MAJOR = 22;

/** Throws, naming the running version, when `version` (e.g. `20.20.2`) is older than supported. */
export function assertSupportedNode(version: string): void {
  const major = Number.parseInt(version, 10);
  if (!(major >= MINIMUM_NODE_MAJOR)) {
    throw new Error(
      `ESync needs Node ${MINIMUM_NODE_MAJOR} or later, but runs on Node ${version}: run \`npm ci\` (it installs ` +
        'the pinned Node 24, the `node` devDependency) and start ESync through npm (npm start, npm test, ' +
        'npx vitest), which puts that Node first on the path; or install Node 22 or 24',
    );
  }
}

assertSupportedNode(process.versions.node);

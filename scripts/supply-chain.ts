/**
 * Supply-chain checks of what the deployed functions run, the `dependencies` of package.json
 * (the CDK app, the CLI, the local stack and the tests are `devDependencies`):
 *
 *   sbom [--out <file>]   writes a CycloneDX SBOM of the runtime dependencies (default dist/sbom.cdx.json)
 *   licenses              fails when a runtime dependency has no license or one outside {@link ALLOWED_LICENSES}
 *   advisories            `npm audit` of the runtime dependencies, failing at high or critical;
 *                         skipped, saying so, where the registry does not serve advisories
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import spdxSatisfies from 'spdx-satisfies';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Licenses a runtime dependency may carry: permissive licenses whose terms an Apache-2.0 service
 * bundling the code meets by keeping notices. Copyleft licenses (GPL, LGPL, AGPL, MPL, EPL, SSPL…)
 * are not on it: bundling their code into a function would put the bundle under their terms.
 */
export const ALLOWED_LICENSES = [
  'Apache-2.0',
  'MIT',
  'MIT-0',
  'ISC',
  'BSD-2-Clause',
  'BSD-3-Clause',
  '0BSD',
  'BlueOak-1.0.0',
  'CC0-1.0',
  'Unlicense',
  'Zlib',
] as const;

interface CycloneDxLicense {
  readonly license?: { readonly id?: string; readonly name?: string };
  readonly expression?: string;
}

export interface CycloneDxComponent {
  readonly 'bom-ref': string;
  readonly name: string;
  readonly version: string;
  readonly licenses?: readonly CycloneDxLicense[];
  readonly properties?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly [key: string]: unknown;
}

export interface CycloneDxBom {
  readonly bomFormat: 'CycloneDX';
  readonly metadata: { readonly component?: Record<string, unknown>; readonly [key: string]: unknown };
  readonly components: readonly CycloneDxComponent[];
  readonly dependencies?: ReadonlyArray<{ readonly ref: string; readonly dependsOn?: readonly string[] }>;
  readonly [key: string]: unknown;
}

/** The parts of package-lock.json (lockfileVersion 3) read here. */
export interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly version?: string; readonly dev?: boolean }>>;
}

/** `name@version` of every package npm installs without devDependencies, as the lock file flags them. */
export function runtimePackages(lock: PackageLock): Set<string> {
  const packages = new Set<string>();
  for (const [location, entry] of Object.entries(lock.packages)) {
    const name = location.split('node_modules/').at(-1);
    if (location === '' || entry.dev || !name || entry.version === undefined) continue;
    packages.add(`${name}@${entry.version}`);
  }
  return packages;
}

const DEVELOPMENT_PROPERTY = 'cdx:npm:package:development';

/**
 * The runtime part of npm's full SBOM: the components the lock file installs without
 * devDependencies, with their dependency entries. Not `npm sbom --omit dev`: npm 11 drops from it
 * every runtime package a devDependency uses too (zod, big.js), and flags a name@version as
 * development-only when one of its copies is (semver, bundled again inside aws-cdk-lib).
 */
export function runtimeBom(
  full: CycloneDxBom,
  runtime: ReadonlySet<string>,
  packageName: string,
): CycloneDxBom {
  const components = full.components
    .filter((c) => runtime.has(`${c.name}@${c.version}`))
    .map((c) => ({ ...c, properties: (c.properties ?? []).filter((p) => p.name !== DEVELOPMENT_PROPERTY) }));
  const kept = new Set([
    String(full.metadata.component?.['bom-ref']),
    ...components.map((c) => c['bom-ref']),
  ]);
  return {
    ...full,
    // npm names the root after its directory; the package is what the SBOM describes.
    metadata: { ...full.metadata, component: { ...full.metadata.component, name: packageName } },
    components,
    dependencies: (full.dependencies ?? [])
      .filter((d) => kept.has(d.ref))
      .map((d) => ({ ...d, dependsOn: (d.dependsOn ?? []).filter((ref) => kept.has(ref)) })),
  };
}

/** A component's license as one SPDX expression, or undefined when it names none. */
function licenseExpression(component: CycloneDxComponent): string | undefined {
  const parts = (component.licenses ?? [])
    .map((l) => l.expression ?? l.license?.id ?? l.license?.name)
    .filter((l): l is string => Boolean(l));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : parts.map((p) => `(${p})`).join(' AND ');
}

/** What is wrong with the licenses of the SBOM's components, one line per component; empty when all pass. */
export function licenseProblems(bom: CycloneDxBom, allowed: readonly string[] = ALLOWED_LICENSES): string[] {
  const problems: string[] = [];
  for (const component of bom.components) {
    const id = `${component.name}@${component.version}`;
    const expression = licenseExpression(component);
    if (expression === undefined) {
      problems.push(`${id}: no license declared`);
      continue;
    }
    let satisfied: boolean;
    try {
      satisfied = spdxSatisfies(expression, allowed);
    } catch {
      problems.push(`${id}: license "${expression}" is not an SPDX expression`);
      continue;
    }
    if (!satisfied) problems.push(`${id}: license "${expression}" is not on the allow list`);
  }
  return problems;
}

/** How `npm audit` ended: ran (with the findings at high or above), or refused by the registry. */
export type AdvisoryOutcome =
  | { readonly ran: true; readonly findings: readonly string[] }
  | { readonly ran: false; readonly reason: string };

interface AuditReport {
  readonly vulnerabilities?: Record<string, { readonly severity?: string }>;
  readonly error?: { readonly summary?: string };
  readonly message?: string;
  readonly statusCode?: number;
}

/** Reads `npm audit --json` output: findings at high or critical, or why the registry gave none. */
export function readAuditReport(stdout: string): AdvisoryOutcome {
  let report: AuditReport;
  try {
    report = JSON.parse(stdout) as AuditReport;
  } catch {
    return { ran: false, reason: `npm audit printed no report: ${stdout.trim().slice(0, 200) || 'nothing'}` };
  }
  if (report.vulnerabilities === undefined)
    return {
      ran: false,
      reason: `the registry refused the advisory endpoint (${report.message ?? report.error?.summary ?? 'no report'})`,
    };
  const findings = Object.entries(report.vulnerabilities)
    .filter(([, v]) => v.severity === 'high' || v.severity === 'critical')
    .map(([name, v]) => `${name}: ${v.severity}`);
  return { ran: true, findings };
}

async function npm(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run('npm', [...args], { cwd: repoRoot, maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    // npm audit exits 1 both on findings and on a refused request; its JSON says which.
    const stdout = (error as { stdout?: string }).stdout;
    if (args[0] === 'audit' && stdout) return stdout;
    throw error;
  }
}

/** The runtime SBOM of the repository, built from its package-lock.json (offline). */
export async function buildRuntimeBom(): Promise<CycloneDxBom> {
  const full = JSON.parse(
    await npm(['sbom', '--sbom-format', 'cyclonedx', '--package-lock-only']),
  ) as CycloneDxBom;
  const { name } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
    name: string;
  };
  const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as PackageLock;
  return runtimeBom(full, runtimePackages(lock), name);
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'sbom': {
      const flag = rest.indexOf('--out');
      const out = path.resolve(repoRoot, flag >= 0 ? (rest[flag + 1] ?? '') : 'dist/sbom.cdx.json');
      const bom = await buildRuntimeBom();
      await mkdir(path.dirname(out), { recursive: true });
      await writeFile(out, `${JSON.stringify(bom, null, 2)}\n`);
      console.log(
        `sbom: ${bom.components.length} runtime components written to ${path.relative(repoRoot, out)}`,
      );
      return 0;
    }
    case 'licenses': {
      const bom = await buildRuntimeBom();
      const problems = licenseProblems(bom);
      for (const problem of problems) console.error(`licenses: ${problem}`);
      if (problems.length > 0) {
        console.error(`licenses: allowed are ${ALLOWED_LICENSES.join(', ')} (scripts/supply-chain.ts)`);
        return 1;
      }
      console.log(`licenses: all ${bom.components.length} runtime components carry an allowed license`);
      return 0;
    }
    case 'advisories': {
      const outcome = readAuditReport(await npm(['audit', '--omit', 'dev', '--json']));
      if (!outcome.ran) {
        console.log(`advisories: SKIPPED, not checked: ${outcome.reason}`);
        return 0;
      }
      for (const finding of outcome.findings) console.error(`advisories: ${finding}`);
      if (outcome.findings.length > 0) return 1;
      console.log('advisories: no runtime dependency has a high or critical advisory');
      return 0;
    }
    default:
      console.error('usage: supply-chain.ts sbom [--out <file>] | licenses | advisories');
      return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );

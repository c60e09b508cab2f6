import { describe, expect, it } from 'vitest';
import {
  type CycloneDxBom,
  type CycloneDxComponent,
  licenseProblems,
  readAuditReport,
  runtimeBom,
  runtimePackages,
} from '../../../scripts/supply-chain.ts';

const component = (name: string, licenses: CycloneDxComponent['licenses'], development = false) => ({
  'bom-ref': `${name}@1.0.0`,
  name,
  version: '1.0.0',
  licenses,
  properties: development ? [{ name: 'cdx:npm:package:development', value: 'true' }] : [],
});

const bomOf = (components: CycloneDxComponent[]): CycloneDxBom => ({
  bomFormat: 'CycloneDX',
  metadata: { component: { 'bom-ref': 'esync@0.1.0', name: 'checkout-dir' } },
  components,
  dependencies: [
    { ref: 'esync@0.1.0', dependsOn: components.map((c) => c['bom-ref']) },
    ...components.map((c) => ({ ref: c['bom-ref'], dependsOn: [] })),
  ],
});

describe('runtime SBOM', () => {
  it('keeps the components the lock installs without devDependencies, with their dependency entries, and names the package', () => {
    const full = bomOf([
      component('zod', [{ license: { id: 'MIT' } }]),
      component('semver', [{ license: { id: 'ISC' } }], true),
      component('dynalite', [{ license: { id: 'MIT' } }], true),
    ]);
    const runtime = runtimePackages({
      packages: {
        '': { version: '0.1.0' },
        'node_modules/zod': { version: '1.0.0' },
        'node_modules/dynalite': { version: '1.0.0', dev: true },
        'node_modules/aws-cdk-lib/node_modules/semver': { version: '1.0.0', dev: true },
        'node_modules/semver': { version: '1.0.0' },
      },
    });

    const bom = runtimeBom(full, runtime, 'esync');

    expect(runtime).toEqual(new Set(['zod@1.0.0', 'semver@1.0.0']));
    expect(bom.components.map((c) => [c.name, c.properties])).toEqual([
      ['zod', []],
      ['semver', []],
    ]);
    expect(bom.dependencies).toEqual([
      { ref: 'esync@0.1.0', dependsOn: ['zod@1.0.0', 'semver@1.0.0'] },
      { ref: 'zod@1.0.0', dependsOn: [] },
      { ref: 'semver@1.0.0', dependsOn: [] },
    ]);
    expect(bom.metadata.component?.name).toBe('esync');
  });
});

describe('license check', () => {
  it('passes permissive licenses, alone or offered as a choice beside a copyleft one', () => {
    const bom = bomOf([
      component('a', [{ license: { id: 'MIT' } }]),
      component('b', [{ license: { id: 'Apache-2.0' } }]),
      component('c', [{ expression: '(MIT OR GPL-3.0-only)' }]),
    ]);

    expect(licenseProblems(bom)).toEqual([]);
  });

  it('names each component without a license, with a copyleft license, or with an unreadable one', () => {
    const bom = bomOf([
      component('unlicensed', undefined),
      component('empty', []),
      component('gpl', [{ license: { id: 'GPL-3.0-only' } }]),
      component('both', [{ expression: 'MIT AND AGPL-3.0-or-later' }]),
      component('custom', [{ license: { name: 'SEE LICENSE IN LICENSE.txt' } }]),
    ]);

    expect(licenseProblems(bom)).toEqual([
      'unlicensed@1.0.0: no license declared',
      'empty@1.0.0: no license declared',
      'gpl@1.0.0: license "GPL-3.0-only" is not on the allow list',
      'both@1.0.0: license "MIT AND AGPL-3.0-or-later" is not on the allow list',
      'custom@1.0.0: license "SEE LICENSE IN LICENSE.txt" is not an SPDX expression',
    ]);
  });
});

describe('advisory check', () => {
  it('reports a registry that refuses the advisory endpoint as not checked, with its answer', () => {
    const refused = JSON.stringify({
      message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
      statusCode: 405,
      error: { summary: '' },
    });

    expect(readAuditReport(refused)).toEqual({
      ran: false,
      reason: expect.stringContaining('405 Method Not Allowed'),
    });
    expect(readAuditReport('')).toEqual({ ran: false, reason: 'npm audit printed no report: nothing' });
  });

  it('lists the advisories at high or critical severity and ignores lower ones', () => {
    const report = JSON.stringify({
      vulnerabilities: {
        pg: { severity: 'critical' },
        zod: { severity: 'moderate' },
        ws: { severity: 'high' },
      },
    });

    expect(readAuditReport(report)).toEqual({ ran: true, findings: ['pg: critical', 'ws: high'] });
    expect(readAuditReport(JSON.stringify({ vulnerabilities: {} }))).toEqual({ ran: true, findings: [] });
  });
});

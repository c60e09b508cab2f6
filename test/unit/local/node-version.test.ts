import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../infra/constructs/esync-function.ts';
import { assertSupportedNode, MINIMUM_NODE_MAJOR } from '../../../local/node-version.ts';

describe('supported Node versions', () => {
  it('refuses Node 20 with a message naming the running version', () => {
    expect(() => assertSupportedNode('20.20.2')).toThrow(
      /needs Node 22 or later, but runs on Node 20\.20\.2/,
    );
  });

  it('accepts Node 22 and 24', () => {
    expect(() => assertSupportedNode('22.0.0')).not.toThrow();
    expect(() => assertSupportedNode('24.21.0')).not.toThrow();
  });

  it('agrees with the engines field of package.json', () => {
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };

    expect(manifest.engines.node).toBe(`>=${MINIMUM_NODE_MAJOR}`);
  });

  it('runs the tests on a supported Node', () => {
    expect(Number.parseInt(process.versions.node, 10)).toBeGreaterThanOrEqual(MINIMUM_NODE_MAJOR);
  });
});

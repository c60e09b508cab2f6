/**
 * Synthesizes a stage with 10 and with 100 generated pipelines in the per-pipeline layout that
 * `cdk synth` uses by default (templates only: bundling is skipped, as in the infra tests) and prints, for
 * each, the synth time, the number of stacks and the most resources any stack holds, against
 * CloudFormation's 500. `--json` adds one JSON line at the end with stable keys.
 * Usage: `npm run synth-scale [-- --json]`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PROJECT_ROOT } from '../infra/constructs/esync-function.ts';
import { EsyncStack } from '../infra/stacks/esync-stack.ts';
import { generatedPipelines } from '../test/support/generated-pipelines.ts';

const COUNTS = [10, 100] as const;

interface ScalePoint {
  readonly pipelines: number;
  readonly synthMs: number;
  readonly stacks: number;
  readonly maxResourcesPerStack: number;
}

function synthesize(count: number): ScalePoint {
  const outdir = mkdtempSync(path.join(tmpdir(), 'esync-scale-'));
  try {
    const { context } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
      context: Record<string, unknown>;
    };
    const started = performance.now();
    const app = new App({ context, outdir, builtinCloudFormationValidation: false });
    new EsyncStack(app, 'esync-dev', {
      stage: 'dev',
      pipelines: generatedPipelines(count),
      bundle: false,
    });
    const { stacks } = app.synth();
    const synthMs = Math.round(performance.now() - started);
    const sizes = stacks.map((s) => Object.keys(s.template.Resources ?? {}).length);
    return { pipelines: count, synthMs, stacks: stacks.length, maxResourcesPerStack: Math.max(...sizes) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const points = COUNTS.map(synthesize);
for (const p of points)
  process.stdout.write(
    `${String(p.pipelines).padStart(4)} pipelines: synth ${p.synthMs} ms, ${p.stacks} stacks, at most ${p.maxResourcesPerStack} of 500 resources in one\n`,
  );
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ synthScale: points })}\n`);

/**
 * `node --import tsx test/bench/run-cold-start.ts [-- --runs N]`: the benchmark's bundles pass
 * alone (`cold-start.ts`): each function bundled as deployed, sized and loaded in fresh processes
 * beside the hello-world of the same run. Prints the Markdown section `npm run bench` prints;
 * progress goes to stderr.
 */
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runColdStart } from './cold-start.ts';
import { formatBundles } from './format.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`--runs must be a positive integer, got ${JSON.stringify(values.runs)}\n`);
  process.exit(2);
}
const before = loadavg()[0] ?? 0;
const cold = await runColdStart({
  outDir: path.join(tmpdir(), 'esync-bench', 'bundles'),
  runs,
  log: (line) => process.stderr.write(`» ${line}\n`),
});
process.stdout.write(
  `${[
    `## Bundles (${new Date().toISOString().slice(0, 16)} UTC), load average ${before.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}, Node ${process.version}`,
    '',
    ...formatBundles({ functions: cold.functions, helloWorld: cold.helloWorld, bundleTracing: cold.tracing }),
  ].join('\n')}\n`,
);

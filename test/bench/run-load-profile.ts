/**
 * `npm run profile-load [-- --invocations N]`: where the Load function's time goes on the local
 * stack, per record, for a PutItem per record and for batched inserts (see `load-profile.ts`).
 * Prints a Markdown table; progress goes to stderr.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type CpuOwner, profileLoad } from './load-profile.ts';

const { values } = parseArgs({ options: { invocations: { type: 'string', default: '5' } } });
const invocations = Number(values.invocations);
if (!Number.isInteger(invocations) || invocations < 1) {
  process.stderr.write(
    `--invocations must be a positive integer, got ${JSON.stringify(values.invocations)}\n`,
  );
  process.exit(2);
}
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const before = loadavg()[0] ?? 0;
const profiles = await profileLoad({ invocations, log: (line) => process.stderr.write(`» ${line}\n`) });
const owners: CpuOwner[] = ['esync', 'libraries', 'sdk', 'node', 'local stack', 'gc', 'other'];
const ms = (n: number) => n.toFixed(3);
const out = (line: string) => process.stdout.write(`${line}\n`);
out(
  `## Load profile (${new Date().toISOString().slice(0, 10)}), load average ${before.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}, Node ${process.version}`,
);
out('');
out(`| ms per record | ${profiles.map((p) => p.pipeline).join(' | ')} |`);
out(`| --- | ${profiles.map(() => '---:').join(' | ')} |`);
out(`| Load wall time (Lambda billed) | ${profiles.map((p) => ms(p.wallMs)).join(' | ')} |`);
for (const owner of owners)
  out(`| main-thread CPU: ${owner} | ${profiles.map((p) => ms(p.cpuMs[owner])).join(' | ')} |`);
out(
  `| main thread not running (waiting on the servers or for a core) | ${profiles.map((p) => ms(p.waitingMs)).join(' | ')} |`,
);
out(`| server thread CPU (dynalite, SQS, S3) | ${profiles.map((p) => ms(p.serverCpuMs)).join(' | ')} |`);
out('');
out('| requests | per record | mean latency ms |');
out('| --- | ---: | ---: |');
for (const p of profiles)
  for (const r of p.requests)
    out(`| ${p.pipeline}: ${r.what} | ${r.perRecord.toFixed(3)} | ${r.meanMs.toFixed(1)} |`);
process.exit(0);

/**
 * `npm run profile-extract [-- --records N --rounds N --with-load]`: where Extract's time goes on
 * the local stack against the system PostgreSQL, per record (see `extract-profile.ts`); with
 * `--with-load`, Load runs beside it as in the end-to-end benchmark. Prints a Markdown table, then
 * the hottest functions; progress goes to stderr.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { EXTRACT_CPU_OWNERS, profileExtract } from './extract-profile.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '2' },
    'with-load': { type: 'boolean', default: false },
  },
});
const records = Number(values.records);
const rounds = Number(values.rounds);
for (const [name, n] of [
  ['records', records],
  ['rounds', rounds],
] as const)
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(values[name])}\n`);
    process.exit(2);
  }
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const before = loadavg()[0] ?? 0;
const profiles = await profileExtract({
  records,
  rounds,
  withLoad: values['with-load'],
  log: (line) => process.stderr.write(`» ${line}\n`),
});
const ms = (n: number) => n.toFixed(4);
const out = (line: string) => process.stdout.write(`${line}\n`);
const columns = profiles.map((_, i) => `round ${i + 1}`);
out(
  `## Extract profile (${new Date().toISOString()}), ${records} rows${values['with-load'] ? ', Load running' : ''}, load average ${before.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}, Node ${process.version}`,
);
out('');
out(`| ms per record | ${columns.join(' | ')} |`);
out(`| --- | ${columns.map(() => '---:').join(' | ')} |`);
out(
  `| Extract wall time (the Map's, partitions side by side) | ${profiles.map((p) => ms(p.wallMs)).join(' | ')} |`,
);
out(`| Load's drain after Extract's end | ${profiles.map((p) => ms(p.drainMs)).join(' | ')} |`);
out(
  `| Extract's PostgreSQL queries (wall, partitions summed) | ${profiles.map((p) => ms(p.pgMs)).join(' | ')} |`,
);
const total = (p: (typeof profiles)[number]) => Object.values(p.cpuMs).reduce((sum, t) => sum + t, 0);
out(`| main-thread CPU | ${profiles.map((p) => ms(total(p))).join(' | ')} |`);
for (const owner of EXTRACT_CPU_OWNERS)
  out(`| main-thread CPU: ${owner} | ${profiles.map((p) => ms(p.cpuMs[owner])).join(' | ')} |`);
out(`| server thread CPU (SQS, dynalite) | ${profiles.map((p) => ms(p.serverCpuMs)).join(' | ')} |`);
out(`| handlers' thread GC pauses | ${profiles.map((p) => ms(p.gcMs)).join(' | ')} |`);
out(`| peak RSS MB (the process) | ${profiles.map((p) => p.peakRssMb).join(' | ')} |`);
out(
  `| partitions, invocations, messages | ${profiles.map((p) => `${p.partitions}, ${p.invocations}, ${p.messages}`).join(' | ')} |`,
);
out('');
out('| requests (round 1) | per record | mean latency ms | wall ms per record |');
out('| --- | ---: | ---: | ---: |');
for (const r of profiles[0]?.requests ?? [])
  out(`| ${r.what} | ${r.perRecord.toFixed(4)} | ${r.meanMs.toFixed(1)} | ${ms(r.msPerRecord)} |`);
out('');
out('| hottest functions (round 1, self time) | where | ms per record |');
out('| --- | --- | ---: |');
for (const f of profiles[0]?.hot ?? []) out(`| ${f.name} | ${f.where} | ${ms(f.ms)} |`);
process.exit(0);

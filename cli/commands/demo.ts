import { parseArgs } from 'node:util';
import { type CliIo, type Command, UsageError } from '../io.ts';

export const demoUsage = `Usage: esync demo [--users N] [--json]

Runs the end-to-end demo on an embedded local stack (what \`npm start\` runs) and prints each
pipeline's counts, verification and checks; exits 1 when a check fails.
  --users N   rows in the demo's users table (default 10,000, at least 100)
  --json      print the report as one JSON object`;

/**
 * Step lines with their own duration: each step is printed as it starts, and its time once the
 * next one starts (or the demo ends), so a figure is never the time since the beginning.
 */
export function stepLog(io: Pick<CliIo, 'out'>, now: () => number = Date.now) {
  let since: number | undefined;
  const close = () => {
    if (since !== undefined) io.out(`  done in ${((now() - since) / 1000).toFixed(1)} s`);
    since = undefined;
  };
  return {
    start: (line: string) => {
      close();
      io.out(`» ${line}`);
      since = now();
    },
    end: close,
  };
}

export const demo: Command = async (argv: string[], io: CliIo) => {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      users: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    io.out(demoUsage);
    return 0;
  }
  const users = values.users === undefined ? 10_000 : Number(values.users);
  if (!Number.isInteger(users) || users < 100)
    throw new UsageError(`--users must be a whole number of at least 100, got "${values.users}"`);
  const { runDemo } = await import('../../demo/demo.ts');
  const steps = stepLog(io);
  const report = await runDemo({ users, log: values.json ? () => {} : steps.start });
  steps.end();
  if (values.json) {
    io.out(JSON.stringify(report));
  } else {
    const header = [
      'pipeline',
      'what',
      'extracted',
      'loaded',
      'skipped',
      'conflicts',
      'quarantined',
      'dead-lettered',
      'verify',
      'duration',
      'est. cost',
    ];
    const table = [
      header,
      ...report.rows.map((r) => [
        r.pipeline,
        r.what,
        String(r.extracted),
        String(r.loaded),
        String(r.skipped),
        String(r.conflicts),
        String(r.quarantined),
        String(r.deadLettered),
        r.verify,
        `${(r.durationMs / 1000).toFixed(1)} s`,
        r.costUsd > 0 ? `$${r.costUsd.toFixed(6)}` : '-',
      ]),
    ];
    const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
    io.out('');
    for (const [i, row] of table.entries()) {
      io.out(
        row
          .map((cell, c) => (c < 2 || c === 8 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
          .join('  '),
      );
      if (i === 0) io.out(widths.map((w) => '-'.repeat(w)).join('  '));
    }
    io.out('');
    for (const note of report.notes) io.out(`note  ${note}`);
    if (report.notes.length > 0) io.out('');
    for (const check of report.checks)
      io.out(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`);
    io.out(`\ndemo finished in ${(report.totalMs / 1000).toFixed(1)} s`);
  }
  return report.checks.every((c) => c.ok) ? 0 : 1;
};

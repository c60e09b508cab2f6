import { parseArgs } from 'node:util';
import { formatReport } from './format.ts';
import type { BenchOptions, BenchReport } from './harness.ts';

export const USAGE = `npm run bench [-- options]

  --records <n>     rows of the end-to-end sync and cost figures (default 100000)
  --scale           also measure 10000 and 100000 rows, to show how time and cost grow
  --million         with --scale, also 1000000 rows (about an hour on two cores)
  --db <kind>       postgresql (Debian's, the default when installed) or pglite
  --json            print the report as one JSON object on the last line
  --quick           shorter CPU passes and fewer init samples (a smoke run)
`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

/** The benchmark's options from its command line; `undefined` when help was asked for. */
export function parseBenchArgs(
  argv: readonly string[],
): { options: BenchOptions; json: boolean } | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      records: { type: 'string' },
      scale: { type: 'boolean', default: false },
      million: { type: 'boolean', default: false },
      db: { type: 'string' },
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  if (values.db !== undefined && values.db !== 'postgresql' && values.db !== 'pglite')
    throw new Error(`--db must be postgresql or pglite, got "${values.db}"`);
  if (values.million && !values.scale) throw new Error('--million goes with --scale');
  const options: BenchOptions = {
    records: positive('records', values.records, 100_000),
    ...(values.scale && { scale: values.million ? [10_000, 100_000, 1_000_000] : [10_000, 100_000] }),
    ...(values.db !== undefined && { database: values.db as 'postgresql' | 'pglite' }),
    ...(values.quick ? { cpuMs: 300, initRuns: 3 } : {}),
  };
  return { options, json: values.json };
}

export interface CliIo {
  readonly bench: (options: BenchOptions) => Promise<BenchReport>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/**
 * `npm run bench`: progress on stderr, the Markdown report on stdout, and with `--json` the
 * report as one JSON object on the last line of stdout.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<void> {
  const parsed = parseBenchArgs(argv);
  if (!parsed) {
    io.stdout(USAGE);
    return;
  }
  const report = await io.bench({ ...parsed.options, log: (line) => io.stderr(`» ${line}\n`) });
  io.stdout(formatReport(report));
  if (parsed.json) io.stdout(`${JSON.stringify(report)}\n`);
}

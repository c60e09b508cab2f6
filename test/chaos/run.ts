/**
 * `npm run chaos [-- --records N] [--json] [--seed S] [--database auto|postgresql|pglite] [--batch-inserts on|off]`
 *
 * The fault-injection suite at full size (100,000 records by default): a PostgreSQL → DynamoDB
 * sync and a CDC stream on the local stack with duplicate deliveries, crashes between write and
 * delete, the Load process killed mid-batch with writes in flight, throttling and 5xx on the
 * target, the state table and SQS (send, delete, change visibility), dropped source connections,
 * poison records and messages, shuffled and duplicated CDC events, and a run killed
 * mid-Execute then run again. Prints the faults and
 * the invariants as tables; with `--json` the last line of stdout is one JSON object with every
 * figure. Exits 1 when an invariant fails. Progress goes to stderr.
 */
import { parseArgs } from 'node:util';
import { FAULT_KINDS } from '../support/chaos-faults.ts';
import { type ChaosReport, runChaos } from '../support/chaos-run.ts';
import { filterHandlerNoise } from '../support/fuzz-output.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    database: { type: 'string', default: 'auto' },
    'batch-inserts': { type: 'string', default: 'on' },
  },
});

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const records = positive('records', values.records);
if (records < 100) {
  process.stderr.write(`--records must be at least 100, got ${records}\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', values.seed);
const database = values.database;
const batchInserts = values['batch-inserts'];
if (batchInserts !== 'on' && batchInserts !== 'off') {
  process.stderr.write(`--batch-inserts must be on or off, got ${JSON.stringify(batchInserts)}\n`);
  process.exit(2);
}
if (database !== 'auto' && database !== 'postgresql' && database !== 'pglite') {
  process.stderr.write(`--database must be auto, postgresql or pglite, got ${JSON.stringify(database)}\n`);
  process.exit(2);
}

// Handlers log every refusal and retry; only their errors matter here.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

const started = Date.now();
const progress = (line: string) =>
  process.stderr.write(`» ${line}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
const out = (line = '') => process.stdout.write(`${line}\n`);

function table(rows: ReadonlyArray<readonly (string | number)[]>, leftColumns = 1): void {
  const widths =
    rows[0]?.map((_, col) => Math.max(...rows.map((row) => String(row[col] ?? '').length))) ?? [];
  for (const [i, row] of rows.entries()) {
    out(
      row
        .map((cell, col) =>
          col < leftColumns ? String(cell).padEnd(widths[col] ?? 0) : String(cell).padStart(widths[col] ?? 0),
        )
        .join('  ')
        .trimEnd(),
    );
    if (i === 0) out(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

function print(report: ChaosReport): void {
  out('');
  out(
    `chaos: ${report.records} records, seed ${report.seed}, source ${report.database}, ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  out('');
  table([
    [
      'run',
      'status',
      'extracted',
      'loaded',
      'skipped',
      'conflicts',
      'quarantined',
      'dead-lettered',
      'duration',
    ],
    ...report.runs.map((r) => [
      r.what,
      r.status,
      r.extracted,
      r.loaded,
      r.skipped,
      r.conflicts,
      r.quarantined,
      r.deadLettered,
      r.durationMs > 0 ? `${(r.durationMs / 1000).toFixed(1)} s` : '-',
    ]),
  ]);
  out('');
  table([['fault', 'fired'], ...FAULT_KINDS.map((k) => [k, report.faults[k]])]);
  out('');
  table([['figure', 'value'], ...Object.entries(report.figures)]);
  out('');
  table(
    [
      ['invariant', 'result', 'detail'],
      ...report.invariants.map((i) => [i.name, i.ok ? 'ok' : 'FAILED', i.detail]),
    ],
    3,
  );
  out('');
  out(
    `lost ${report.lost}, applied twice ${report.appliedTwice}, version regressions ${report.versionRegressions}, unaccounted rejects ${report.unaccountedRejects}: ${report.ok ? 'all invariants hold' : 'INVARIANTS FAILED'}`,
  );
}

const restore = filterHandlerNoise();
let report: ChaosReport;
try {
  progress(`chaos: ${records} records, seed ${seed} (rerun with --seed ${seed})`);
  report = await runChaos({ records, seed, database, batchInserts: batchInserts === 'on', log: progress });
} finally {
  restore();
}
if (values.json) {
  print(report);
  out(JSON.stringify(report));
} else print(report);
process.exit(report.ok ? 0 : 1);

import { type BenchReport, GOALS } from './harness.ts';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const usd = (n: number) => `$${n.toFixed(3)}`;
const kb = (bytes: number) => `${Math.round(bytes / 1024).toLocaleString('en-US')} KB`;

function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly ('l' | 'r')[],
): string[] {
  const rule = head.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : '---'));
  return [`| ${head.join(' | ')} |`, `| ${rule.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

const TARGET_LABELS: Readonly<Record<string, string>> = {
  dynamodb: 'DynamoDB',
  'dynamodb-puts': 'DynamoDB, a PutItem per record (batchInserts: false)',
  postgres: 'PostgreSQL',
  s3: 'S3 lake',
};

/** A summary row per target besides DynamoDB: its end-to-end rate beside its own raw copy. */
function targetRows(report: BenchReport): string[][] {
  return Object.entries(report.e2e.byTarget)
    .filter(([target]) => target !== 'dynamodb')
    .map(([target, f]) => [
      `end-to-end sync, ${int(report.e2e.records)} rows PostgreSQL → ${TARGET_LABELS[target] ?? target}`,
      `${int(f?.recordsPerSec ?? 0)} records/s`,
      `raw copy ${int(f?.rawRecordsPerSec ?? 0)} records/s (ratio ${(f?.ratio ?? 0).toFixed(2)})`,
      '',
      '',
    ]);
}

/**
 * The report as Markdown: the README's summary table (each figure beside its baseline and goal),
 * then the details behind each figure.
 */
export function formatReport(report: BenchReport): string {
  const { e2e, cpu, cost, expressions } = report;
  const hello = report.helloWorld;
  const largest = [...report.functions].sort((a, b) => b.bytes - a.bytes)[0];
  const slowest = [...report.functions].sort((a, b) => b.initMs - a.initMs)[0];
  const lines: string[] = [
    `## Benchmark (${report.at.slice(0, 10)})`,
    '',
    `${report.machine.cpus} × ${report.machine.model}, load average ${report.machine.loadavg}, Node ${report.machine.node}; ` +
      `source ${report.database}; prices ${report.prices.region} as of ${report.prices.asOf}.`,
    '',
    ...table(
      ['figure', 'measured', 'baseline (same run)', 'goal', 'met'],
      [
        [
          `end-to-end sync, ${int(e2e.records)} rows PostgreSQL → DynamoDB`,
          `${int(e2e.recordsPerSec)} records/s`,
          `raw copy ${int(e2e.rawRecordsPerSec)} records/s (ratio ${e2e.ratio.toFixed(2)})`,
          '≥ 0.5 × raw',
          e2e.ratio >= GOALS.e2eRatio ? 'yes' : 'no',
        ],
        ...targetRows(report),
        [
          "Load's Lambda time per record, first load into DynamoDB",
          `${cost.loadMsPerRecord} ms`,
          Object.entries(e2e.byTarget)
            .filter(([target]) => target !== 'dynamodb')
            .map(([target, f]) => `${TARGET_LABELS[target] ?? target} ${f?.loadMsPerRecord} ms`)
            .join('; '),
          `≤ ${GOALS.loadMsPerRecord} ms`,
          cost.loadMsPerRecord <= GOALS.loadMsPerRecord ? 'yes' : 'no',
        ],
        [
          'load-path CPU (first load), one core',
          `${int(cpu.recordsPerSec)} records/s`,
          `JSON parse + stringify ${int(cpu.baselineRecordsPerSec)} records/s`,
          '≥ 100,000',
          cpu.recordsPerSec >= 100_000 ? 'yes' : 'no',
        ],
        [
          `JSONata on the load path (compute \`${expressions.expression}\`), added per record`,
          `${expressions.overheadMicrosPerRecord} µs`,
          `transform + hash ${expressions.baselineMicrosPerRecord} µs/record without, ${expressions.microsPerRecord} µs with`,
          `≤ ${GOALS.expressionMicrosPerRecord} µs`,
          expressions.overheadMicrosPerRecord <= GOALS.expressionMicrosPerRecord ? 'yes' : 'no',
        ],
        [
          'load-path CPU (incremental: target state re-hashed)',
          `${int(cpu.incrementalRecordsPerSec)} records/s`,
          '',
          '',
          '',
        ],
        [
          'cost per million 1 KB records, first load',
          usd(cost.usdPerMillion),
          `target writes ${usd(cost.targetWriteUsdPerMillion)}; raw copy ${usd(cost.rawCopyUsdPerMillion)}`,
          `≤ ${usd(GOALS.usdPerMillion)}`,
          cost.usdPerMillion <= GOALS.usdPerMillion ? 'yes' : 'no',
        ],
        [
          'platform overhead beyond the target writes',
          usd(cost.overheadUsdPerMillion),
          `run report estimate of the whole run ${usd(cost.runReportUsdPerMillion)}`,
          '≤ $0.125',
          cost.overheadUsdPerMillion <= 0.125 ? 'yes' : 'no',
        ],
        [
          'rerun of unchanged data (checkpoint reset)',
          usd(cost.rerunUsdPerMillion),
          `first load ${usd(cost.usdPerMillion)}`,
          `≤ ${usd(GOALS.rerunUsdPerMillion)}`,
          cost.rerunUsdPerMillion <= GOALS.rerunUsdPerMillion ? 'yes' : 'no',
        ],
        [
          `largest bundle loaded at cold start (${largest?.name ?? '-'})`,
          `${kb(largest?.bytes ?? 0)} (${(largest?.bytesRatio ?? 0).toFixed(2)}×)`,
          `hello-world ${kb(hello.bytes)}`,
          `≤ ${GOALS.bundleRatio} × hello-world`,
          (largest?.bytesRatio ?? 0) <= GOALS.bundleRatio ? 'yes' : 'no',
        ],
        [
          `slowest init (${slowest?.name ?? '-'})`,
          `${(slowest?.initMs ?? 0).toFixed(0)} ms (${(slowest?.initRatio ?? 0).toFixed(2)}×)`,
          `hello-world ${hello.initMs.toFixed(0)} ms`,
          `≤ ${GOALS.initRatio} × hello-world`,
          (slowest?.initRatio ?? 0) <= GOALS.initRatio ? 'yes' : 'no',
        ],
      ],
      ['l', 'r', 'l', 'l', 'l'],
    ),
    '',
    '### Cost per million records by service',
    '',
    ...table(
      ['service', 'first load', 'rerun'],
      [...new Set([...Object.keys(cost.byService), ...Object.keys(cost.rerun.byService)])].map((s) => [
        s,
        usd(cost.byService[s] ?? 0),
        usd(cost.rerun.byService[s] ?? 0),
      ]),
    ),
    '',
    `State transitions (Wait states run as deployed): ${cost.stateTransitions}. ` +
      `Load's measured time: ${cost.loadMsPerRecord} ms per record at 1 GB.`,
    '',
    '### AWS requests of the first load',
    '',
    ...table(
      ['service', 'operation', 'requests', 'billed units', '$ per million records'],
      cost.requests.map((r) => [r.service, r.operation, int(r.count), int(r.units), usd(r.usd)]),
      ['l', 'l', 'r', 'r', 'r'],
    ),
    '',
    '### Lambda time of the first load',
    '',
    ...table(
      ['function', 'invocations', 'seconds', 'GB-s'],
      cost.functions.map((f) => [
        f.name,
        String(f.invocations),
        (f.ms / 1000).toFixed(1),
        f.gbSeconds.toFixed(1),
      ]),
    ),
    '',
    '### Load-path CPU by step (µs per record)',
    '',
    ...table(
      ['decode', 'validate', 'transform', 'hash', 'decide (target re-hashed)'],
      [
        [
          String(cpu.stepMicros.decode),
          String(cpu.stepMicros.validate),
          String(cpu.stepMicros.transform),
          String(cpu.stepMicros.hash),
          String(cpu.stepMicros.decide),
        ],
      ],
    ),
    '',
    ...formatBundles(report),
  ];
  if (e2e.scale.length > 1)
    lines.push(
      '',
      '### Scale',
      '',
      ...table(
        [
          'records',
          'records/s',
          'raw copy records/s',
          'ratio',
          'seconds',
          '$ per million',
          'rerun $ per million',
          'peak RSS MB',
          'extract s',
          'awaitLoad s',
          'verify s',
        ],
        e2e.scale.map((p) => [
          int(p.records),
          int(p.recordsPerSec),
          int(p.rawRecordsPerSec),
          p.ratio.toFixed(2),
          p.seconds.toFixed(1),
          usd(p.usdPerMillion),
          usd(p.rerunUsdPerMillion),
          int(p.peakRssMb),
          p.phases.extract.toFixed(1),
          p.phases.awaitLoad.toFixed(1),
          p.phases.verify.toFixed(1),
        ]),
      ),
    );
  return `${lines.join('\n')}\n`;
}

/**
 * The bundles section: per function, what a cold start loads and how long it takes beside the
 * hello-world of the same run, and what weighs most in it (`npm run bench`, `run-cold-start.ts`).
 */
export function formatBundles(
  report: Pick<BenchReport, 'functions' | 'helloWorld' | 'bundleTracing'>,
): string[] {
  return [
    '### Bundles',
    '',
    `X-Ray tracer ${report.bundleTracing ? 'in' : 'left out of'} the bundles, as the dev stage deploys them (\`tracing\` in infra/stage.ts). ` +
      `Loaded: the entry and the chunks it imports statically (what a cold start reads); deployed: with the chunks of \`import()\`. ` +
      `Goals: loaded ≤ ${GOALS.bundleRatio} × and init ≤ ${GOALS.initRatio} × the hello-world's, measured in the same run.`,
    '',
    ...table(
      [
        'function',
        'loaded',
        '× hello',
        'goal',
        'init ms',
        '× hello',
        'goal',
        'import ms',
        'deployed (chunks)',
        'source map',
        'heaviest loaded (packages; our code by folder)',
      ],
      [...report.functions, report.helloWorld].map((f) => [
        f.name,
        kb(f.bytes),
        f.bytesRatio.toFixed(2),
        f.bytesRatio <= GOALS.bundleRatio ? 'met' : 'not met',
        f.initMs.toFixed(0),
        f.initRatio.toFixed(2),
        f.initRatio <= GOALS.initRatio ? 'met' : 'not met',
        f.importMs.toFixed(0),
        `${kb(f.deployedBytes)} (${f.chunks})`,
        kb(f.mapBytes),
        f.heaviest.map((h) => `${h.pkg} ${kb(h.bytes)}`).join(', '),
      ]),
      ['l', 'r', 'r', 'l', 'r', 'r', 'l', 'r', 'r', 'r', 'l'],
    ),
  ];
}

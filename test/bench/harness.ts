import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { PRICES } from '../../shared/cost/prices.ts';
import { type BundleFigure, runColdStart } from './cold-start.ts';
import { runCpuBench } from './cpu.ts';
import { type DatabaseKind, type E2eResult, type PhaseSeconds, runE2e, type TargetRun } from './e2e.ts';
import { type ExpressionBenchResult, runExpressionBench } from './expressions.ts';
import type { RunCost } from './observe.ts';
import { type BenchTarget, benchPipeline } from './records.ts';

/** The goals of issues 7 and 10, against which the figures are reported (not timed tests). */
export const GOALS = {
  /** End-to-end records/s at least this share of the raw copy's. */
  e2eRatio: 0.5,
  /** Load-path records/s on one core. */
  cpuRecordsPerSec: 100_000,
  /** Dollars per million 1 KB records of a first load. */
  usdPerMillion: 0.7,
  /** Dollars per million records of a rerun of unchanged data. */
  rerunUsdPerMillion: 0.1,
  /** Load's Lambda milliseconds per record of a first load. */
  loadMsPerRecord: 1,
  /** Bytes a function's cold start loads at most this multiple of the hello-world bundle's (issue 17). */
  bundleRatio: 1.5,
  /** Init time at most this multiple of the hello-world bundle's. */
  initRatio: 1.3,
  /** Microseconds a simple JSONata expression adds per record on the load path (issue 16). */
  expressionMicrosPerRecord: 2,
} as const;

export interface BenchOptions {
  /** Records of the end-to-end run (and of the cost figures). @default 100000 */
  readonly records?: number;
  /** Further end-to-end sizes measured after the main one, to show how time and cost grow. */
  readonly scale?: readonly number[];
  readonly database?: DatabaseKind;
  /** Targets of the end-to-end run. @default - DynamoDB, PostgreSQL and the S3 lake */
  readonly targets?: readonly BenchTarget[];
  /** Minimum milliseconds each CPU pass runs. @default 2000 */
  readonly cpuMs?: number;
  /** Distinct records of the CPU passes. @default 5000 */
  readonly cpuRecords?: number;
  /** Fresh processes per bundle for the init time. @default 5 */
  readonly initRuns?: number;
  /** Only these functions are bundled. @default - all */
  readonly functions?: readonly string[];
  readonly log?: (line: string) => void;
}

/** One target's first load beside its raw copy, from the same run. */
export interface TargetFigure {
  readonly recordsPerSec: number;
  readonly rawRecordsPerSec: number;
  readonly ratio: number;
  readonly seconds: number;
  readonly rawSeconds: number;
  /** Load's measured Lambda milliseconds per record (1 GB). */
  readonly loadMsPerRecord: number;
  /** Records the run counted as loaded. */
  readonly loaded: number;
}

/** One size of the end-to-end measurement. */
export interface ScalePoint {
  readonly records: number;
  readonly recordsPerSec: number;
  readonly rawRecordsPerSec: number;
  readonly ratio: number;
  readonly seconds: number;
  readonly usdPerMillion: number;
  readonly rerunUsdPerMillion: number;
  /** Peak resident set size of the process running the local stack during the first load, MB. */
  readonly peakRssMb: number;
  /** Seconds of each phase of the first load. */
  readonly phases: PhaseSeconds;
}

interface CostSplit {
  readonly usdPerMillion: number;
  readonly targetWriteUsdPerMillion: number;
  readonly byService: Readonly<Record<string, number>>;
}

/** Everything `npm run bench -- --json` prints as its last line. */
export interface BenchReport {
  readonly version: 1;
  readonly at: string;
  readonly machine: {
    readonly cpus: number;
    readonly model: string;
    readonly loadavg: number;
    readonly node: string;
  };
  readonly database: string;
  readonly prices: { readonly asOf: string; readonly region: string };
  readonly e2e: {
    readonly records: number;
    readonly recordsPerSec: number;
    readonly rawRecordsPerSec: number;
    readonly ratio: number;
    readonly seconds: number;
    readonly rawSeconds: number;
    readonly rerunRecordsPerSec: number;
    readonly counts: Readonly<Record<string, number>>;
    readonly scale: readonly ScalePoint[];
    /** The same rows into each target, each beside its own raw copy. */
    readonly byTarget: Readonly<Partial<Record<BenchTarget, TargetFigure>>>;
  };
  readonly cpu: {
    readonly recordsPerSec: number;
    readonly baselineRecordsPerSec: number;
    readonly incrementalRecordsPerSec: number;
    readonly recordBytes: number;
    readonly stepMicros: Readonly<Record<string, number>>;
  };
  /** JSONata on the load path, beside the same step without it. */
  readonly expressions: ExpressionBenchResult;
  readonly cost: {
    readonly usdPerMillion: number;
    /** Beyond the target's own writes. */
    readonly overheadUsdPerMillion: number;
    readonly targetWriteUsdPerMillion: number;
    readonly rerunUsdPerMillion: number;
    /** The raw copy's requests priced the same way: the floor any copy pays. */
    readonly rawCopyUsdPerMillion: number;
    /** What the run report (`esync runs show`) estimated for the same first load. */
    readonly runReportUsdPerMillion: number;
    readonly byService: Readonly<Record<string, number>>;
    readonly rerun: CostSplit;
    /** Load's measured compute per record (1 GB), the run report's Lambda assumption. */
    readonly loadMsPerRecord: number;
    readonly stateTransitions: number;
    readonly requests: RunCost['requests'];
    readonly functions: RunCost['functions'];
  };
  readonly functions: readonly BundleFigure[];
  readonly helloWorld: BundleFigure;
  /** Whether the bundles measured carry the X-Ray tracer (off: as dev deploys them). */
  readonly bundleTracing: boolean;
  readonly goals: readonly {
    readonly name: string;
    readonly goal: string;
    readonly value: string;
    readonly met: boolean;
  }[];
}

const perMillion = (usd: number, records: number) => (records > 0 ? (usd / records) * 1e6 : 0);
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

function perMillionByService(by: Readonly<Record<string, number>>, records: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(by)
      .sort((a, b) => b[1] - a[1])
      .map(([service, usd]) => [service, round(perMillion(usd, records), 4)]),
  );
}

const loadMsPerRecord = (cost: RunCost, records: number) =>
  round((cost.functions.find((f) => f.name === 'load')?.ms ?? 0) / Math.max(1, records), 3);

function targetFigure(run: TargetRun, records: number): TargetFigure {
  return {
    recordsPerSec: round(run.first.recordsPerSec),
    rawRecordsPerSec: round(run.raw.recordsPerSec),
    ratio: round(run.first.recordsPerSec / run.raw.recordsPerSec, 3),
    seconds: round(run.first.seconds, 1),
    rawSeconds: round(run.raw.seconds, 1),
    loadMsPerRecord: loadMsPerRecord(run.first.cost, records),
    loaded: run.first.run.counts.loaded,
  };
}

function scalePoint(result: E2eResult): ScalePoint {
  return {
    records: result.records,
    recordsPerSec: round(result.first.recordsPerSec),
    rawRecordsPerSec: round(result.raw.recordsPerSec),
    ratio: round(result.first.recordsPerSec / result.raw.recordsPerSec, 3),
    seconds: round(result.first.seconds, 1),
    usdPerMillion: round(perMillion(result.first.cost.usd, result.records), 4),
    rerunUsdPerMillion: round(perMillion(result.rerun.cost.usd, result.records), 4),
    peakRssMb: result.first.peakRssMb,
    phases: result.first.phaseSeconds,
  };
}

/**
 * Runs every measurement of issue 7, each beside its baseline from the same run: load-path CPU
 * (first, on a quiet machine), bundle size and init time, then the end-to-end sync on the local
 * stack with its requests priced, and further sizes when asked.
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const records = options.records ?? 100_000;
  const pipeline = benchPipeline();

  log('load-path CPU: decode, validate, transform, hash, decide vs JSON parse/stringify');
  const cpu = runCpuBench({
    pipeline,
    ...(options.cpuMs !== undefined && { minMs: options.cpuMs }),
    ...(options.cpuRecords !== undefined && { records: options.cpuRecords }),
  });

  log('JSONata on the load path: a computed field vs none');
  const expressions = await runExpressionBench({
    pipeline,
    ...(options.cpuMs !== undefined && { minMs: options.cpuMs }),
    ...(options.cpuRecords !== undefined && { records: options.cpuRecords }),
  });

  const cold = await runColdStart({
    outDir: path.join(tmpdir(), 'esync-bench', 'bundles'),
    ...(options.initRuns !== undefined && { runs: options.initRuns }),
    ...(options.functions && { functions: options.functions }),
    log,
  });

  const database = options.database && { database: options.database };
  const e2e = await runE2e({
    records,
    ...database,
    ...(options.targets && { targets: options.targets }),
    log,
  });
  const scale: ScalePoint[] = [scalePoint(e2e)];
  for (const size of options.scale ?? []) {
    if (size === records) continue;
    scale.push(scalePoint(await runE2e({ records: size, ...database, targets: ['dynamodb'], log })));
  }
  scale.sort((a, b) => a.records - b.records);

  const first = e2e.first.cost;
  const loadMs = loadMsPerRecord(first, records);
  const usdPerMillion = perMillion(first.usd, records);
  const targetWrite = perMillion(first.targetWriteUsd, records);
  const ratio = e2e.first.recordsPerSec / e2e.raw.recordsPerSec;
  const rerun = perMillion(e2e.rerun.cost.usd, records);
  const maxBytes = Math.max(...cold.functions.map((f) => f.bytes));
  const maxInit = Math.max(...cold.functions.map((f) => f.initMs));
  const bytesRatio = maxBytes / cold.helloWorld.bytes;

  return {
    version: 1,
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      loadavg: round(loadavg()[0] ?? 0, 2),
      node: process.version,
    },
    database: e2e.database,
    prices: { asOf: PRICES.asOf, region: PRICES.region },
    e2e: {
      records,
      recordsPerSec: round(e2e.first.recordsPerSec),
      rawRecordsPerSec: round(e2e.raw.recordsPerSec),
      ratio: round(ratio, 3),
      seconds: round(e2e.first.seconds, 1),
      rawSeconds: round(e2e.raw.seconds, 1),
      rerunRecordsPerSec: round(e2e.rerun.recordsPerSec),
      counts: { ...e2e.first.run.counts },
      scale,
      byTarget: Object.fromEntries(
        Object.entries(e2e.byTarget).map(([target, run]) => [target, targetFigure(run, records)]),
      ),
    },
    cpu: {
      recordsPerSec: cpu.recordsPerSec,
      baselineRecordsPerSec: cpu.baselineRecordsPerSec,
      incrementalRecordsPerSec: cpu.incrementalRecordsPerSec,
      recordBytes: cpu.recordBytes,
      stepMicros: cpu.stepMicros,
    },
    expressions,
    cost: {
      usdPerMillion: round(usdPerMillion, 4),
      overheadUsdPerMillion: round(usdPerMillion - targetWrite, 4),
      targetWriteUsdPerMillion: round(targetWrite, 4),
      rerunUsdPerMillion: round(rerun, 4),
      rawCopyUsdPerMillion: round(perMillion(e2e.raw.cost.usd, records), 4),
      runReportUsdPerMillion: round(Number(e2e.first.run.cost?.usdPerMillionRecords ?? 0), 4),
      byService: perMillionByService(first.byService, records),
      rerun: {
        usdPerMillion: round(rerun, 4),
        targetWriteUsdPerMillion: round(perMillion(e2e.rerun.cost.targetWriteUsd, records), 4),
        byService: perMillionByService(e2e.rerun.cost.byService, records),
      },
      loadMsPerRecord: loadMs,
      stateTransitions: first.stateTransitions,
      requests: first.requests.map((r) => ({ ...r, usd: round(perMillion(r.usd, records), 4) })),
      functions: first.functions.map((f) => ({
        ...f,
        invocations: round(f.invocations, 1),
        ms: round(f.ms),
        gbSeconds: round(f.gbSeconds, 2),
      })),
    },
    functions: cold.functions,
    helloWorld: cold.helloWorld,
    bundleTracing: cold.tracing,
    goals: [
      {
        name: 'end-to-end vs raw copy',
        goal: `≥ ${GOALS.e2eRatio}`,
        value: ratio.toFixed(2),
        met: ratio >= GOALS.e2eRatio,
      },
      {
        name: 'load-path CPU, records/s on one core',
        goal: `≥ ${GOALS.cpuRecordsPerSec}`,
        value: String(cpu.recordsPerSec),
        met: cpu.recordsPerSec >= GOALS.cpuRecordsPerSec,
      },
      {
        name: 'JSONata expression on the load path, per record',
        goal: `≤ ${GOALS.expressionMicrosPerRecord} µs`,
        value: `${expressions.overheadMicrosPerRecord} µs`,
        met: expressions.overheadMicrosPerRecord <= GOALS.expressionMicrosPerRecord,
      },
      {
        name: 'cost per million 1 KB records',
        goal: `≤ $${GOALS.usdPerMillion}`,
        value: `$${usdPerMillion.toFixed(3)}`,
        met: usdPerMillion <= GOALS.usdPerMillion,
      },
      {
        name: 'rerun of unchanged data, per million records',
        goal: `≤ $${GOALS.rerunUsdPerMillion.toFixed(3)}`,
        value: `$${rerun.toFixed(3)}`,
        met: rerun <= GOALS.rerunUsdPerMillion,
      },
      {
        name: "Load's Lambda time per record",
        goal: `≤ ${GOALS.loadMsPerRecord} ms`,
        value: `${loadMs} ms`,
        met: loadMs <= GOALS.loadMsPerRecord,
      },
      {
        name: 'largest bundle vs hello-world',
        goal: `≤ ${GOALS.bundleRatio}×`,
        value: `${bytesRatio.toFixed(2)}× (${Math.round(maxBytes / 1024)} KB)`,
        met: bytesRatio <= GOALS.bundleRatio,
      },
      {
        name: 'slowest init vs hello-world',
        goal: `≤ ${GOALS.initRatio}×`,
        value: `${(maxInit / cold.helloWorld.initMs).toFixed(2)}×`,
        met: maxInit <= GOALS.initRatio * cold.helloWorld.initMs,
      },
    ],
  };
}

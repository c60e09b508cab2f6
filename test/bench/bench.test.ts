import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { type BenchReport, runBench } from './harness.ts';
import { benchPipeline } from './records.ts';

const RECORDS = 300;

describe('the benchmark harness on a tiny dataset', () => {
  let report: BenchReport;

  beforeAll(async () => {
    report = await runBench({
      records: RECORDS,
      cpuMs: 50,
      cpuRecords: 500,
      initRuns: 1,
      functions: ['webhook'],
    });
  }, 180_000);

  it('syncs every row and copies every row raw, and reports both rates', () => {
    expect(report.e2e).toMatchObject({ records: RECORDS, counts: { extracted: RECORDS, loaded: RECORDS } });
    expect(report.e2e.recordsPerSec).toBeGreaterThan(0);
    expect(report.e2e.rawRecordsPerSec).toBeGreaterThan(0);
    expect(report.e2e.ratio).toBeCloseTo(report.e2e.recordsPerSec / report.e2e.rawRecordsPerSec, 2);
    expect(report.e2e.scale).toEqual([
      expect.objectContaining({ records: RECORDS, peakRssMb: expect.any(Number) }),
    ]);
    // Sampled within the process's lifetime peak, and more than an idle Node process holds.
    expect(report.e2e.scale[0]?.peakRssMb).toBeGreaterThan(50);
    expect(report.e2e.scale[0]?.peakRssMb).toBeLessThanOrEqual(process.resourceUsage().maxRSS / 1024 + 1);
  });

  it('times each phase of the first load, within the run', () => {
    const point = report.e2e.scale[0];
    const phases = point?.phases;

    for (const phase of ['extract', 'awaitLoad', 'verify'] as const)
      expect(phases?.[phase]).toBeGreaterThan(0);
    // Phases follow one another: together no longer than the run (each rounded to a tenth).
    const total = Object.values(phases ?? {}).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual((point?.seconds ?? 0) + 0.6);
  });

  it('syncs the same rows into DynamoDB (batched and a put per record), PostgreSQL and the S3 lake, each beside its own raw copy', () => {
    expect(Object.keys(report.e2e.byTarget).sort()).toEqual(['dynamodb', 'dynamodb-puts', 'postgres', 's3']);
    for (const figure of Object.values(report.e2e.byTarget)) {
      expect(figure?.loaded).toBe(RECORDS);
      expect(figure?.recordsPerSec).toBeGreaterThan(0);
      expect(figure?.rawRecordsPerSec).toBeGreaterThan(0);
      expect(figure?.ratio).toBeCloseTo((figure?.recordsPerSec ?? 0) / (figure?.rawRecordsPerSec ?? 1), 2);
      expect(figure?.loadMsPerRecord).toBeGreaterThan(0);
    }
    expect(report.e2e.byTarget.dynamodb?.recordsPerSec).toBe(report.e2e.recordsPerSec);
    expect(report.e2e.byTarget.dynamodb?.loadMsPerRecord).toBe(report.cost.loadMsPerRecord);
  });

  it('prices the first load at one write request unit per 1 KB record plus the platform overhead', () => {
    expect(report.cost.targetWriteUsdPerMillion).toBeCloseTo(0.625, 3);
    expect(report.cost.rawCopyUsdPerMillion).toBeCloseTo(0.625, 3);
    expect(report.cost.overheadUsdPerMillion).toBeCloseTo(report.cost.usdPerMillion - 0.625, 3);
    expect(report.cost.overheadUsdPerMillion).toBeGreaterThan(0);
    expect(Object.keys(report.cost.byService)).toEqual(expect.arrayContaining(['DynamoDB', 'SQS', 'Lambda']));
    // The first load inserts 25 records per BatchExecuteStatement (pooled across an invocation's messages).
    expect(
      report.cost.requests.find((r) => r.operation === 'BatchExecuteStatement')?.count,
    ).toBeGreaterThanOrEqual(RECORDS / 25);
  });

  it('counts the state table index writes: each ledger message enters the pending index when registered and leaves it when completed', () => {
    const row = (operation: string) =>
      report.cost.requests.find((r) => r.service === 'DynamoDB' && r.operation === operation);
    const registered = row('BatchWriteItem')?.units ?? 0;

    // At least a message per batch.size records (each partition packs its own).
    expect(registered).toBeGreaterThanOrEqual(Math.ceil(RECORDS / benchPipeline().batch.size));
    expect(row('BatchWriteItem (index writes)')?.units).toBe(registered);
    expect(row('UpdateItem (index writes)')?.units).toBeGreaterThanOrEqual(registered);
    expect(row('UpdateItem (index writes)')?.usd).toBeGreaterThan(0);
  });

  it('prices a rerun of unchanged data below the first load: nothing is written to the target', () => {
    // Per-run costs (transitions, reports) weigh heavily on 300 records; the saving is the writes.
    expect(report.cost.rerun.targetWriteUsdPerMillion).toBe(0);
    expect(report.cost.rerunUsdPerMillion).toBeGreaterThan(0);
    expect(report.cost.rerunUsdPerMillion).toBeLessThan(report.cost.usdPerMillion - 0.5);
  });

  it('measures the load path beside its JSON baseline', () => {
    expect(report.cpu.recordsPerSec).toBeGreaterThan(0);
    expect(report.cpu.baselineRecordsPerSec).toBeGreaterThan(0);
    expect(report.cpu.recordBytes).toBeGreaterThan(800);
    expect(report.cpu.recordBytes).toBeLessThan(1024);
  });

  it('measures a JSONata expression on the load path beside the same step without it', () => {
    expect(report.expressions.expression).toBe('age + 1');
    expect(report.expressions.baselineMicrosPerRecord).toBeGreaterThan(0);
    expect(report.expressions.microsPerRecord).toBeGreaterThan(0);
    expect(report.expressions.overheadMicrosPerRecord).toBeCloseTo(
      report.expressions.microsPerRecord - report.expressions.baselineMicrosPerRecord,
      1,
    );
  });

  it('sizes and loads each bundle beside a hello-world with one SDK client', () => {
    expect(report.functions.map((f) => f.name)).toEqual(['webhook']);
    for (const figure of [...report.functions, report.helloWorld]) {
      expect(figure.bytes).toBeGreaterThan(10_000);
      expect(figure.deployedBytes).toBeGreaterThanOrEqual(figure.bytes);
      expect(figure.initMs).toBeGreaterThan(0);
      expect(figure.bytesRatio).toBeCloseTo(figure.bytes / report.helloWorld.bytes, 2);
      expect(figure.initRatio).toBeCloseTo(figure.initMs / report.helloWorld.initMs, 2);
    }
    expect(report.helloWorld).toMatchObject({ bytesRatio: 1, initRatio: 1 });
    expect(report.goals.map((g) => g.name)).toEqual(
      expect.arrayContaining(['largest bundle vs hello-world', 'slowest init vs hello-world']),
    );
  });

  it('prints the report with --json as one JSON object on the last line', async () => {
    let out = '';
    let asked: unknown;

    await runCli(['--json', '--records', String(RECORDS)], {
      bench: async (options) => {
        asked = options;
        return report;
      },
      stdout: (text) => {
        out += text;
      },
      stderr: () => {},
    });

    const last = JSON.parse(out.trimEnd().split('\n').at(-1) ?? '') as BenchReport;
    expect(asked).toMatchObject({ records: RECORDS });
    expect(last).toMatchObject({
      cpu: {
        recordsPerSec: report.cpu.recordsPerSec,
        baselineRecordsPerSec: report.cpu.baselineRecordsPerSec,
      },
      e2e: { records: RECORDS, ratio: report.e2e.ratio, byTarget: report.e2e.byTarget },
      cost: {
        usdPerMillion: report.cost.usdPerMillion,
        rerunUsdPerMillion: report.cost.rerunUsdPerMillion,
        loadMsPerRecord: report.cost.loadMsPerRecord,
        rerun: { usdPerMillion: report.cost.rerun.usdPerMillion },
      },
      helloWorld: { bytes: report.helloWorld.bytes, initMs: report.helloWorld.initMs },
      expressions: {
        expression: 'age + 1',
        microsPerRecord: report.expressions.microsPerRecord,
        baselineMicrosPerRecord: report.expressions.baselineMicrosPerRecord,
        overheadMicrosPerRecord: report.expressions.overheadMicrosPerRecord,
      },
    });
    expect(last.functions[0]).toMatchObject({
      name: 'webhook',
      bytes: expect.any(Number),
      deployedBytes: expect.any(Number),
      chunks: expect.any(Number),
      initMs: expect.any(Number),
      bytesRatio: expect.any(Number),
      initRatio: expect.any(Number),
    });
    expect(out).toMatch(
      /\| webhook \| [\d,]+ KB \| \d+\.\d\d \| (met|not met) \| \d+ \| \d+\.\d\d \| (met|not met) \|/,
    );
    expect(out).toContain('| end-to-end sync, 300 rows PostgreSQL → DynamoDB |');
    expect(out).toContain('| end-to-end sync, 300 rows PostgreSQL → PostgreSQL |');
    expect(out).toContain('| end-to-end sync, 300 rows PostgreSQL → S3 lake |');
    expect(out).toContain('| JSONata on the load path (compute `age + 1`), added per record |');
  });

  it('refuses a bad --records', async () => {
    const io = { bench: async () => report, stdout: () => {}, stderr: () => {} };

    await expect(runCli(['--records', 'lots'], io)).rejects.toThrow(
      '--records must be a positive integer, got "lots"',
    );
  });
});

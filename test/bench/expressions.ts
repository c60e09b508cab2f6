import { createRecordExpressions, stageRecords } from '../../shared/domain/expressions.ts';
import { createTransform } from '../../shared/domain/transform.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../../shared/records/envelope.ts';
import { contentHash } from '../../shared/records/hash.ts';
import { timestampVersion } from '../../shared/records/version.ts';
import { benchUser } from './records.ts';

/** The simple expression measured: one computed field from one source field. */
export const BENCH_EXPRESSION = 'age + 1';

export interface ExpressionBenchOptions {
  readonly pipeline: Pipeline;
  /** Records of one pass. @default 5000 */
  readonly records?: number;
  /** Each of the two passes runs at least this long, in alternating rounds. @default 2000 */
  readonly minMs?: number;
}

export interface ExpressionBenchResult {
  readonly expression: string;
  /** CPU microseconds per record of the transform and hash step with `compute: {age_next: age + 1}`. */
  readonly microsPerRecord: number;
  /** The same step without expressions, measured in alternation with it. */
  readonly baselineMicrosPerRecord: number;
  /** What the expression adds per record: the difference of the two. */
  readonly overheadMicrosPerRecord: number;
}

/** CPU microseconds per record of one pass over `records` (CPU time, so other processes count less). */
async function round(
  records: readonly RecordEnvelope[],
  pass: (r: readonly RecordEnvelope[]) => Promise<number>,
) {
  const started = process.cpuUsage();
  const done = await pass(records);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / Math.max(1, done);
}

/**
 * JSONata on the load path: the step where Load applies the pipeline's expressions, then its
 * transform and content hash (shared/usecases/phases/4-load.ts applyUnit), with one simple computed field,
 * beside the same step without expressions. The best round of each pass counts.
 */
export async function runExpressionBench(options: ExpressionBenchOptions): Promise<ExpressionBenchResult> {
  const { pipeline } = options;
  const minMs = options.minMs ?? 2000;
  const records = Array.from({ length: options.records ?? 5_000 }, (_, i) => {
    const data = benchUser(i + 1);
    return makeEnvelope({
      key: String(i + 1),
      op: 'upsert',
      version: timestampVersion(String(data.updated_at), String(i + 1)),
      ts: String(data.updated_at),
      data,
      provenance: { pipeline: pipeline.name, runId: 'bench-run' },
    });
  });
  const transform = createTransform(pipeline.transform, { hashKey: 'esync:bench:users-sync' });
  const expressions = createRecordExpressions({ compute: { age_next: BENCH_EXPRESSION } });
  let computed = 0;
  const withExpression = async (batch: readonly RecordEnvelope[]) => {
    const staged = await stageRecords(expressions, batch);
    for (const r of staged.kept) {
      if ((r.data as RecordData).age_next !== undefined) computed++;
      contentHash(transform(r.data as RecordData));
    }
    return batch.length;
  };
  const without = async (batch: readonly RecordEnvelope[]) => {
    for (const r of batch) contentHash(transform(r.data as RecordData));
    return batch.length;
  };

  await withExpression(records.slice(0, 200));
  await without(records.slice(0, 200));
  const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const started = performance.now();
  do {
    best[0] = Math.min(best[0] as number, await round(records, withExpression));
    best[1] = Math.min(best[1] as number, await round(records, without));
  } while (performance.now() - started < minMs * 2);
  if (computed === 0) throw new Error('the expression computed nothing: the benchmark measures nothing');
  const [micros, baseline] = best.map((m) => Math.round(m * 100) / 100) as [number, number];
  return {
    expression: BENCH_EXPRESSION,
    microsPerRecord: micros,
    baselineMicrosPerRecord: baseline,
    overheadMicrosPerRecord: Math.round((micros - baseline) * 100) / 100,
  };
}

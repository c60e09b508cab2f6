import { describe, expect, it } from 'vitest';
import type { RunView } from '../../../cli/commands/runs.ts';
import { formatProgress, runProgress } from '../../../cli/progress.ts';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const phase = (name: string, status: string) => ({
  name,
  status,
  startedAt: new Date(T0).toISOString(),
  endedAt: null,
  durationMs: 0,
  detail: {},
});
const counts = (extracted: number, loaded: number, skipped = 0) => ({
  extracted,
  loaded,
  skipped,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
});
const run = (phases: ReturnType<typeof phase>[], c: ReturnType<typeof counts>) =>
  ({ runId: 'r1', phases, counts: c }) as unknown as RunView;

describe('run progress', () => {
  it('gives the rate since Execute started and, once every Extract ended, the ETA of the records left', () => {
    // Act
    const p = runProgress(
      run([phase('Execute', 'succeeded'), phase('AwaitLoad', 'running')], counts(1000, 300, 100)),
      T0 + 10_000,
    );

    // Assess
    expect(p).toMatchObject({
      accounted: 400,
      extracted: 1000,
      extractionDone: true,
      recordsPerSecond: 40,
      etaSeconds: 15,
    });
    expect(formatProgress(p)).toBe(
      '[########------------] 400/1,000 with an outcome  40 records/s  ETA 15.0 s',
    );
  });

  it('shows no bar and no ETA while Extract is still adding records, the total marked open', () => {
    // Act
    const p = runProgress(run([phase('Execute', 'running')], counts(500, 100)), T0 + 5_000);

    // Assess
    expect(p).toMatchObject({ extractionDone: false, etaSeconds: null, recordsPerSecond: 20 });
    expect(formatProgress(p)).toBe('100/500+ with an outcome  20 records/s');
  });
});

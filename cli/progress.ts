// A CommonJS module whose named exports Node cannot detect: its default export holds them.
import cliProgress from 'cli-progress';
import { accounted } from '../shared/domain/run-counts.ts';
import type { RunView } from './commands/runs.ts';
import { formatCount, formatDuration } from './format.ts';

/** Where a run stands: records accounted for against those extracted so far, a rate and an ETA. */
export interface RunProgress {
  readonly type: 'progress';
  readonly runId: string;
  readonly phase: string | null;
  readonly phaseStatus: string | null;
  readonly extracted: number;
  /** Records with an outcome: loaded, skipped, filtered, conflicts, quarantined, dead-lettered. */
  readonly accounted: number;
  /** Whether `extracted` is the run's total: Execute (every Extract) has ended. */
  readonly extractionDone: boolean;
  readonly recordsPerSecond: number | null;
  /** Seconds until every extracted record has an outcome, once the total is known. */
  readonly etaSeconds: number | null;
  readonly counts: RunView['counts'];
}

/** The figures of `run` as seen at `now` (epoch ms). */
export function runProgress(run: RunView, now: number): RunProgress {
  const c = run.counts;
  const done = accounted(c);
  const current = run.phases.at(-1);
  const execute = run.phases.find((p) => p.name === 'Execute');
  const extractionDone =
    run.phases.some((p) => p.name === 'AwaitLoad' || p.name === 'Verify') || execute?.status === 'succeeded';
  const loadStarted = Date.parse(execute?.startedAt ?? '');
  const seconds = Number.isFinite(loadStarted) ? (now - loadStarted) / 1000 : 0;
  const recordsPerSecond = seconds > 0 && done > 0 ? done / seconds : null;
  const left = c.extracted - done;
  return {
    type: 'progress',
    runId: run.runId,
    phase: current?.name ?? null,
    phaseStatus: current?.status ?? null,
    extracted: c.extracted,
    accounted: done,
    extractionDone,
    recordsPerSecond: recordsPerSecond === null ? null : Math.round(recordsPerSecond * 10) / 10,
    etaSeconds: extractionDone && recordsPerSecond ? Math.ceil(Math.max(0, left) / recordsPerSecond) : null,
    counts: c,
  };
}

const BAR_WIDTH = 20;
/** cli-progress's bar formatter draws the bar: these are the strings it cuts to `barsize`. */
const BAR_OPTIONS = {
  barsize: BAR_WIDTH,
  barCompleteString: '#'.repeat(BAR_WIDTH),
  barIncompleteString: '-'.repeat(BAR_WIDTH),
  barGlue: '',
};

/** `[########------------] 4,000/10,000` — the bar only once the total is known. */
function bar(p: RunProgress): string {
  const figures = `${formatCount(p.accounted)}/${formatCount(p.extracted)}${p.extractionDone ? '' : '+'}`;
  if (!p.extractionDone || p.extracted === 0) return figures;
  return `[${cliProgress.Format.BarFormat(Math.min(1, p.accounted / p.extracted), BAR_OPTIONS)}] ${figures}`;
}

/** One line for people: accounted of extracted (a bar once the total is known), rate and ETA. */
export function formatProgress(p: RunProgress): string {
  const rate =
    p.recordsPerSecond === null ? '' : `  ${formatCount(Math.round(p.recordsPerSecond))} records/s`;
  const eta = p.etaSeconds === null ? '' : `  ETA ${formatDuration(p.etaSeconds * 1000)}`;
  return `${bar(p)} with an outcome${rate}${eta}`;
}

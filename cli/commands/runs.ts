import type { RunCounts } from '../../shared/domain/run-counts.ts';
import { RUN_STATUSES, type RunStatus } from '../../shared/state/runs.ts';
import { apiPath, managementCommand, parseListing, requestView, viewByArgument } from '../api-client.ts';
import { cut, formatCount, formatDuration, formatMoney, formatTime, keyValues, table } from '../format.ts';
import type { Command } from '../io.ts';

export const runsUsage = `usage:
  esync runs list [--pipeline P] [--status running|succeeded|failed] [--limit N] [--after CURSOR] [--json]
      runs with status, counts and failure, newest first
  esync runs show <run-id> [--json]     a run's phases, durations, counts, verify result, cost, schema drift, failure cause
  esync runs history <run-id> [--json]  the Step Functions execution history of a run
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

export interface PhaseView {
  readonly name: string;
  readonly status: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly durationMs: number;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** `GET /runs/{id}` as the CLI reads it. */
export interface RunView {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: RunStatus;
  readonly trigger: string;
  readonly requestedBy: string | null;
  readonly executionArn: string | null;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly durationMs: number;
  readonly phases: readonly PhaseView[];
  readonly counts: RunCounts;
  readonly pendingMessages: number | null;
  readonly verify: {
    readonly status?: string;
    readonly compared?: number;
    readonly mismatches?: number;
  } | null;
  readonly cost: { readonly usd?: number; readonly final?: boolean } | null;
  readonly failure: { readonly error: string; readonly cause: string } | null;
  readonly reportKey: string | null;
  /** The source's columns and their drift; null for a source without a catalog. */
  readonly schema?: {
    readonly policy: string;
    readonly fields: readonly { readonly name: string }[];
    readonly summary: string | null;
    readonly action: string | null;
    readonly discarded: readonly string[];
    readonly targetChanges: readonly string[];
    readonly fieldsDiscarded: number;
  } | null;
}

interface RunSummaryView {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: string;
  readonly trigger: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly counts: RunCounts;
  readonly verify: string | null;
  readonly failure: string | null;
}

/** Verify outcomes a run may end with and still count as good (exit 0). */
const VERIFY_OK = new Set(['passed', 'skipped', 'off', 'warned', 'repaired']);

/** Whether a finished run succeeded and its verification passed (or was off, warned or repaired). */
export function runSucceeded(run: RunView): boolean {
  return run.status === 'succeeded' && (run.verify?.status === undefined || VERIFY_OK.has(run.verify.status));
}

export const COUNT_LABELS: readonly (readonly [keyof RunCounts, string])[] = [
  ['extracted', 'extracted'],
  ['loaded', 'loaded'],
  ['skipped', 'skipped'],
  ['filtered', 'filtered'],
  ['conflicts', 'conflicts'],
  ['quarantined', 'quarantined'],
  ['deadLettered', 'dead-lettered'],
];

/** `extracted 10,000 · loaded 9,990 · …` */
export function formatCountsInline(counts: RunCounts): string {
  return COUNT_LABELS.map(([k, label]) => `${label} ${formatCount(counts[k] ?? 0)}`).join(' · ');
}

function phaseDetail(detail: Readonly<Record<string, unknown>>): string {
  const text = Object.entries(detail)
    .filter(
      ([k, v]) =>
        k !== 'lastProgressAt' && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'),
    )
    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatCount(v) : String(v)}`)
    .join(', ');
  return cut(text, 80);
}

export function formatVerify(verify: RunView['verify']): string {
  if (!verify?.status) return '-';
  if (verify.status === 'skipped' || verify.status === 'off') return `${verify.status} (verification off)`;
  return `${verify.status} (${formatCount(verify.compared ?? 0)} compared, ${formatCount(verify.mismatches ?? 0)} mismatches)`;
}

/**
 * The run's estimated cost, shown only for a run that did work: a run that failed before it
 * extracted a record cost a few requests, and an estimate there reads as if it had done more.
 */
export function formatRunCost(run: Pick<RunView, 'cost' | 'counts'>): string {
  if (typeof run.cost?.usd !== 'number' || (run.counts.extracted ?? 0) === 0) return '-';
  return `${formatMoney(run.cost.usd)}${run.cost.final === false ? ' (estimate so far)' : ''}`;
}

/** The run report: outcome, phases with durations, counts, verify, cost and the failure cause. */
export function formatRunReport(run: RunView): string {
  const cost = formatRunCost(run);
  const head = keyValues([
    ['run', run.runId],
    ['pipeline', run.pipeline],
    ['status', run.status],
    ['trigger', run.requestedBy ? `${run.trigger} by ${run.requestedBy}` : run.trigger],
    ['started', formatTime(run.startedAt)],
    ['duration', `${formatDuration(run.durationMs)}${run.endedAt ? '' : ' (running)'}`],
    ['verify', formatVerify(run.verify)],
    ['estimated cost', cost],
  ]);
  const phases =
    run.phases.length === 0
      ? 'no phase has started yet'
      : table(
          ['PHASE', 'STATUS', 'DURATION', 'DETAIL'],
          run.phases.map((p) => [
            p.name,
            p.status,
            formatDuration(p.durationMs),
            phaseDetail(p.detail) || '-',
          ]),
        );
  const counts = table(
    COUNT_LABELS.map(([, label]) => label.toUpperCase()),
    [COUNT_LABELS.map(([k]) => run.counts[k] ?? 0)],
  );
  const parts = [head, '', phases, '', counts];
  const schema = formatSchema(run.schema);
  if (schema) parts.push('', schema);
  if (run.pendingMessages) parts.push(`${formatCount(run.pendingMessages)} message(s) still being loaded`);
  if (run.failure) parts.push('', `failure: ${run.failure.error}: ${run.failure.cause}`);
  return parts.join('\n');
}

/** What became of a schema drift the run found, in a few lines; '' when it found none. */
export function formatSchema(schema: RunView['schema']): string {
  if (!schema?.summary) return '';
  const did: Readonly<Record<string, string>> = {
    evolved:
      schema.targetChanges.length > 0
        ? `evolved: ${schema.targetChanges.join('; ')}`
        : 'evolved: loaded as the records come (the target needed no change)',
    failed: 'failed: the run stopped before loading',
    discarded:
      schema.discarded.length > 0
        ? `discarded: ${schema.discarded.join(', ')} left out of ${formatCount(schema.fieldsDiscarded)} record(s)`
        : 'discarded: nothing to leave out (no column was added)',
  };
  return [
    `schema drift: ${schema.summary}`,
    `policy ${schema.policy}, ${did[schema.action ?? ''] ?? 'no action'}`,
  ].join('\n');
}

const RUN_ID = { needs: 'a run id', one: 'one run id' };

async function list(argv: string[], io: Parameters<Command>[1]): Promise<number> {
  const { values, query } = parseListing(argv, 'runs list', RUN_STATUSES);
  const page = await requestView(values, io, (api) =>
    api.get<{ runs: RunSummaryView[]; next: string | null }>('/runs', query),
  );
  if (page === undefined) return 0;
  if (page.runs.length === 0) {
    io.out(values.pipeline ? `no runs of ${values.pipeline} yet` : 'no runs yet');
    return 0;
  }
  io.out(
    table(
      ['RUN', 'PIPELINE', 'STATUS', 'STARTED', 'DURATION', 'EXTRACTED', 'LOADED', 'VERIFY'],
      page.runs.map((r) => [
        r.runId,
        r.pipeline,
        r.failure ? `${r.status} (${r.failure})` : r.status,
        formatTime(r.startedAt),
        formatDuration(r.durationMs),
        r.counts.extracted,
        r.counts.loaded,
        r.verify,
      ]),
    ),
  );
  if (page.next) io.out(`more runs: repeat with --after ${page.next}`);
  return 0;
}

async function show(argv: string[], io: Parameters<Command>[1]): Promise<number> {
  const run = await viewByArgument<RunView>(argv, io, 'runs show', RUN_ID, (runId) => apiPath('runs', runId));
  if (run !== undefined) io.out(formatRunReport(run));
  return 0;
}

interface HistoryView {
  readonly runId: string;
  readonly executionArn: string;
  readonly events: readonly {
    id: number;
    timestamp: string;
    type: string;
    state: string | null;
    error: string | null;
    cause: string | null;
    data: string | null;
  }[];
}

async function history(argv: string[], io: Parameters<Command>[1]): Promise<number> {
  const view = await viewByArgument<HistoryView>(argv, io, 'runs history', RUN_ID, (runId) =>
    apiPath('runs', runId, 'history'),
  );
  if (view === undefined) return 0;
  io.out(`execution ${view.executionArn}`);
  io.out(
    table(
      ['#', 'time', 'event', 'state', 'error'],
      view.events.map((e) => [
        e.id,
        formatTime(e.timestamp),
        e.type,
        e.state ?? '',
        e.error ? cut(`${e.error}: ${e.cause ?? ''}`, 120) : '',
      ]),
    ),
  );
  return 0;
}

/** `esync runs list|show|history`: past and current runs, from the management API. */
export const runs: Command = managementCommand('runs', runsUsage, { list, show, history });

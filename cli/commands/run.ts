import {
  ApiError,
  apiPath,
  ManagementClient,
  parseCommandArgs,
  runManagementCommand,
} from '../api-client.ts';
import { formatDuration } from '../format.ts';
import type { CliIo, Command } from '../io.ts';
import { UsageError } from '../io.ts';
import { formatProgress, type RunProgress, runProgress } from '../progress.ts';
import { ProgressLine } from '../progress-line.ts';
import { formatCountsInline, formatRunReport, type RunView, runSucceeded } from './runs.ts';

export const runUsage = `usage: esync run <pipeline> [--wait] [--json] [--local | --stage S | --api-url URL]
  starts a run of the pipeline; with --wait, follows it phase by phase with the records that have
  an outcome against those extracted, the rate and an ETA, and ends with the run report (exit 0
  only when the run succeeded and verified); with --json, one JSON object per change of progress
  ("type": "progress") and the run as the last line`;

export interface RunCommandOptions {
  /** Pause between two polls of the run. @default 500 */
  readonly pollMs?: number;
  /** Longest silence of the line-per-change output while records are loading. @default 10 000 */
  readonly progressEveryMs?: number;
  /** How long a run may stay unknown to the API after it was started. @default 60 000 */
  readonly appearTimeoutMs?: number;
}

/**
 * Shows a run's progress: on a terminal one line redrawn in place by cli-progress (spinner, phase,
 * bar, rate, ETA); in a pipe or log, one line each time a phase starts or ends and a progress line at least
 * every `progressEveryMs` while records load; with --json, one object per change.
 */
class Progress {
  private lastLine = 0;
  private lastJson = '';
  private readonly seen = new Map<string, string>();

  private readonly line: ProgressLine | null;
  private readonly mode: 'tty' | 'lines' | 'json';

  constructor(
    private readonly io: CliIo,
    json: boolean,
    private readonly everyMs: number,
  ) {
    this.mode = json ? 'json' : io.terminal ? 'tty' : 'lines';
    this.line = this.mode === 'tty' && io.terminal ? new ProgressLine(io.terminal) : null;
  }

  update(run: RunView, now = Date.now()): void {
    const figures = runProgress(run, now);
    if (this.mode === 'json') {
      this.json(figures);
      return;
    }
    if (this.line) {
      const current = run.phases.at(-1);
      const phase = current ? `${current.name} ${current.status}` : 'starting';
      this.line.update(
        `${run.runId}  ${phase}  ${formatProgress(figures)}  ${formatDuration(run.durationMs)}`,
      );
      return;
    }
    const changed = this.phaseLines(run);
    const loading = figures.phase === 'Execute' || figures.phase === 'AwaitLoad';
    if (loading && figures.phaseStatus === 'running' && (changed || now - this.lastLine >= this.everyMs)) {
      this.io.out(`          ${formatProgress(figures)}`);
      this.lastLine = now;
    }
  }

  /** Ends the line redrawn in place, if any: what is printed next goes below it. */
  stop(): void {
    this.line?.stop();
  }

  private json(figures: RunProgress): void {
    const { recordsPerSecond: _rate, etaSeconds: _eta, ...state } = figures;
    const key = JSON.stringify(state);
    if (key === this.lastJson) return;
    this.lastJson = key;
    this.io.out(JSON.stringify(figures));
  }

  /** Prints each phase change; true when there was one. */
  private phaseLines(run: RunView): boolean {
    let changed = false;
    for (const phase of run.phases) {
      if (this.seen.get(phase.name) === phase.status) continue;
      this.seen.set(phase.name, phase.status);
      changed = true;
      const counts =
        phase.name === 'AwaitLoad' || phase.name === 'Execute' ? `  ${formatCountsInline(run.counts)}` : '';
      const timing = phase.status === 'running' ? '' : ` in ${formatDuration(phase.durationMs)}`;
      this.io.out(
        `${phase.name.padEnd(9)} ${phase.status}${timing}${phase.status === 'running' ? '' : counts}`,
      );
    }
    return changed;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function follow(
  client: ManagementClient,
  runId: string,
  io: CliIo,
  options: Required<RunCommandOptions>,
  json: boolean,
): Promise<RunView> {
  const progress = new Progress(io, json, options.progressEveryMs);
  try {
    return await poll(client, runId, progress, options);
  } finally {
    progress.stop();
  }
}

async function poll(
  client: ManagementClient,
  runId: string,
  progress: Progress,
  options: Required<RunCommandOptions>,
): Promise<RunView> {
  const since = Date.now();
  for (;;) {
    let run: RunView | undefined;
    try {
      run = await client.get<RunView>(apiPath('runs', runId));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      if (Date.now() - since > options.appearTimeoutMs)
        throw new ApiError(
          404,
          `run ${runId} was started but did not appear within ${formatDuration(options.appearTimeoutMs)}`,
          null,
        );
    }
    if (run !== undefined) {
      progress.update(run);
      if (run.status !== 'running') return run;
    }
    await sleep(options.pollMs);
  }
}

/** Builds `esync run`; tests shorten the polling. */
export function createRunCommand(options: RunCommandOptions = {}): Command {
  const settings: Required<RunCommandOptions> = {
    pollMs: options.pollMs ?? 500,
    appearTimeoutMs: options.appearTimeoutMs ?? 60_000,
    progressEveryMs: options.progressEveryMs ?? 10_000,
  };
  return (argv, io) =>
    runManagementCommand(argv, io, runUsage, async () => {
      const { values, positionals } = parseCommandArgs(argv, { wait: { type: 'boolean', default: false } });
      const [pipeline, ...extra] = positionals;
      if (pipeline === undefined) throw new UsageError('run needs a pipeline name');
      if (extra.length > 0) throw new UsageError(`run takes one pipeline, got also "${extra.join(' ')}"`);
      const client = await ManagementClient.connect(values, io);
      const started = await client.post<{ runId: string; executionArn: string }>(
        apiPath('pipelines', pipeline, 'runs'),
      );
      if (!values.wait) {
        if (values.json) io.out(JSON.stringify(started));
        else {
          io.out(`started run ${started.runId}`);
          io.out(`follow it with: esync runs show ${started.runId}${values.local ? ' --local' : ''}`);
        }
        return 0;
      }
      if (!values.json) io.out(`started run ${started.runId}`);
      const run = await follow(client, started.runId, io, settings, values.json);
      if (values.json) io.out(JSON.stringify(run));
      else io.out(`\n${formatRunReport(run)}`);
      return runSucceeded(run) ? 0 : 1;
    });
}

/** `esync run <pipeline> [--wait]`: starts a run through the management API. */
export const run: Command = createRunCommand();

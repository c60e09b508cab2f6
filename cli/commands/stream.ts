import { isUtcDay } from '../../shared/domain/instant.ts';
import type { RunCounts } from '../../shared/domain/run-counts.ts';
import { apiPath, parseCommandArgs, pipelineArg, requestView, runManagementCommand } from '../api-client.ts';
import { formatCount, keyValues, table } from '../format.ts';
import type { Command } from '../io.ts';
import { UsageError } from '../io.ts';
import { COUNT_LABELS } from './runs.ts';

export const streamUsage = `usage: esync stream <pipeline> [--day YYYY-MM-DD] [--json]
      what a pipeline's change stream (CDC events, webhook deliveries, Kafka records) did on one UTC day
      (today by default): outcomes, events that changed no row, fields left as stored, version ties
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

interface StreamView {
  readonly pipeline: string;
  readonly day: string;
  readonly counts: RunCounts;
  readonly ignored: Readonly<Record<string, number>>;
  readonly unavailableFields: number;
  readonly ties: number;
  readonly tiesReread?: number;
  readonly messages: number;
  readonly pendingMessages: number;
  readonly excludedKeys: number;
}

/** The events that changed no row, by kind: `tombstone 3 · heartbeat 12`, or `none`. */
function formatIgnored(ignored: Readonly<Record<string, number>>): string {
  const kinds = Object.entries(ignored).filter(([, n]) => n > 0);
  return kinds.length === 0 ? 'none' : kinds.map(([kind, n]) => `${kind} ${formatCount(n)}`).join(' · ');
}

/** The day's report: outcome counts in a table, then what the stream carried besides rows. */
export function formatStreamReport(view: StreamView): string {
  const counts = table(
    COUNT_LABELS.map(([, label]) => label.toUpperCase()),
    [COUNT_LABELS.map(([k]) => view.counts[k] ?? 0)],
  );
  const details = keyValues([
    ['pipeline', view.pipeline],
    ['day (UTC)', view.day],
    ['messages', `${formatCount(view.messages)} (${formatCount(view.pendingMessages)} not yet completed)`],
    ['changed no row', formatIgnored(view.ignored)],
    ['fields left as stored', `${formatCount(view.unavailableFields)} (the change did not carry them)`],
    [
      'version ties',
      `${formatCount(view.ties)} (same version, other content): ${formatCount(view.tiesReread ?? 0)} read again at the source, the others decided by content hash`,
    ],
  ]);
  return `${details}\n\n${counts}`;
}

/** `esync stream <pipeline>`: a day of a pipeline's change stream, through the management API. */
export const stream: Command = (argv, io) =>
  runManagementCommand(argv, io, streamUsage, async () => {
    const { values, positionals } = parseCommandArgs(argv, { day: { type: 'string' } });
    const pipeline = pipelineArg(positionals, 'stream');
    if (values.day !== undefined && !isUtcDay(values.day))
      throw new UsageError(`--day must be a UTC date such as 2025-01-31, got "${values.day}"`);
    const { day } = values;
    const view = await requestView(values, io, (api) =>
      api.get<StreamView>(apiPath('pipelines', pipeline, 'stream'), { day }),
    );
    if (view !== undefined) io.out(formatStreamReport(view));
    return 0;
  });

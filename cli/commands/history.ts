import { stringifyExactJson } from '../../shared/records/exact-json.ts';
import { apiPath, parseCommandArgs, requestView, runManagementCommand } from '../api-client.ts';
import { formatTime, formatValue, table } from '../format.ts';
import type { Command } from '../io.ts';
import { UsageError } from '../io.ts';

export const historyUsage = `usage: esync history <pipeline> <key> [--at TIME] [--json]
      the archived changes of one record (any target); with --at (ISO-8601), the record as it was then
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

interface HistoryEntryView {
  readonly version: string;
  readonly ts: string;
  readonly op: string;
  readonly data: unknown;
}

interface HistoryView {
  readonly pipeline: string;
  readonly key: string;
  readonly versions: readonly HistoryEntryView[];
  readonly at: string;
  readonly state: { readonly exists: boolean; readonly version: string | null; readonly data: unknown };
}

/** `esync history <pipeline> <key> [--at TIME]`: a record's history, through the management API. */
export const history: Command = (argv, io) =>
  runManagementCommand(argv, io, historyUsage, async () => {
    const { values, positionals } = parseCommandArgs(argv, { at: { type: 'string' } });
    const [pipeline, key, ...extra] = positionals;
    if (pipeline === undefined || key === undefined)
      throw new UsageError('history needs a pipeline and a record key');
    if (extra.length > 0)
      throw new UsageError(`history takes a pipeline and one key, got also "${extra.join(' ')}"`);
    if (values.at !== undefined && Number.isNaN(Date.parse(values.at)))
      throw new UsageError(`--at must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got "${values.at}"`);
    const { at } = values;
    const body = await requestView(values, io, (api) =>
      api.get<HistoryView>(apiPath('pipelines', pipeline, 'records', key, 'history'), { at }),
    );
    if (body === undefined) return 0;
    if (body.versions.length === 0) {
      io.out(`no history of ${key} in ${pipeline}`);
      return 0;
    }
    io.out(
      table(
        ['VERSION', 'CHANGED', 'OP', 'DATA'],
        body.versions.map((v) => [v.version, formatTime(v.ts), v.op, formatValue(v.data, 70)]),
      ),
    );
    const when = values.at ? `at ${formatTime(body.at)}` : 'now';
    io.out('');
    io.out(
      body.state.exists
        ? `${key} ${when} (version ${body.state.version}): ${stringifyExactJson(body.state.data)}`
        : `${key} did not exist ${when}${body.state.version ? ` (deleted at version ${body.state.version})` : ''}`,
    );
    return 0;
  });

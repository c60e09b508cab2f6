import type { AuditEntry } from '../../shared/state/audit.ts';
import {
  apiPath,
  noArguments,
  parseCommandArgs,
  parseLimit,
  requestView,
  runManagementCommand,
} from '../api-client.ts';
import { cut, formatTime, formatValue, table } from '../format.ts';
import type { Command } from '../io.ts';
import { UsageError } from '../io.ts';

export const auditUsage = `usage: esync audit [--pipeline P] [--action A] [--actor X] [--since TIME] [--until TIME] [--limit N] [--after CURSOR] [--json]
      who changed what and why (checkpoint resets, conflict resolutions, started runs, redrives), newest first
      --actor matches any principal containing X; --since (inclusive) and --until (exclusive) take ISO-8601 times
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

function checkTime(flag: string, text: string | undefined): void {
  if (text !== undefined && Number.isNaN(Date.parse(text)))
    throw new UsageError(`--${flag} must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got "${text}"`);
}

/** `esync audit`: the audit trail of mutating management calls, through the management API. */
export const audit: Command = (argv, io) =>
  runManagementCommand(argv, io, auditUsage, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      pipeline: { type: 'string' },
      action: { type: 'string' },
      actor: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
    });
    noArguments(positionals, 'audit');
    checkTime('since', values.since);
    checkTime('until', values.until);
    const limit = parseLimit(values.limit);
    const { pipeline, action, actor, since, until, after } = values;
    const query = { pipeline, action, actor, since, until, limit, after };
    const page = await requestView(values, io, (api) =>
      api.get<{ entries: AuditEntry[]; next: string | null }>(apiPath('audit'), query),
    );
    if (page === undefined) return 0;
    if (page.entries.length === 0) {
      io.out('no audit entries match');
      return 0;
    }
    io.out(
      table(
        ['AT', 'PIPELINE', 'ACTION', 'WHO', 'WHY', 'WHAT'],
        page.entries.map((e) => [
          formatTime(e.at),
          e.pipeline,
          e.action,
          e.who,
          cut(e.why, 40),
          formatValue(e.what, 60),
        ]),
      ),
    );
    if (page.next) io.out(`more entries: repeat with --after ${page.next}`);
    return 0;
  });

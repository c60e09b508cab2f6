import { readFileSync } from 'node:fs';
import path from 'node:path';
import { canonicalJson } from '../../shared/records/hash.ts';
import {
  apiPath,
  managementCommand,
  onlyArgument,
  parseCommandArgs,
  parseListing,
  requestView,
  viewByArgument,
} from '../api-client.ts';
import { formatTime, formatValue, keyValues, table } from '../format.ts';
import type { CliIo, Command } from '../io.ts';
import { UsageError } from '../io.ts';

export const conflictsUsage = `usage:
  esync conflicts list --pipeline P [--status open|resolved] [--limit N] [--after CURSOR] [--json]
      the parked conflicts of a pipeline
  esync conflicts show <id> [--json]  a conflict with its source, target and base values
  esync conflicts resolve <id> --choice source|target|merged [--data JSON|@file] --reason TEXT [--json]
      applies the chosen value, with an audit entry
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

interface ConflictSummaryView {
  readonly id: string;
  readonly key: string;
  readonly status: string;
  readonly createdAt: string;
  readonly strategy: string;
  readonly fields: readonly string[];
  readonly resolution: { readonly choice: string; readonly by: string } | null;
}

interface ConflictView {
  readonly id: string;
  readonly pipeline: string;
  readonly key: string;
  readonly status: string;
  readonly createdAt: string;
  readonly strategy: string;
  readonly fields: readonly string[];
  readonly source: { readonly version: string; readonly data: Record<string, unknown> | null };
  readonly target: { readonly version: string; readonly data: Record<string, unknown> | null };
  readonly base?: Record<string, unknown> | null;
  readonly resolution?: {
    readonly choice: string;
    readonly by: string;
    readonly at: string;
    readonly reason: string;
  };
}

interface ResolutionView {
  readonly key: string;
  readonly choice: string;
  readonly applied: boolean;
  readonly version: string;
  readonly eventPublished: boolean;
}

const CHOICES = ['source', 'target', 'merged'];
const CONFLICT_ID = { needs: 'a conflict id', one: 'one id' };
const STATUSES = ['open', 'resolved'];

async function list(argv: string[], io: CliIo): Promise<number> {
  const { values, query } = parseListing(argv, 'conflicts list', STATUSES);
  if (values.pipeline === undefined) throw new UsageError('conflicts list needs --pipeline P');
  const page = await requestView(values, io, (api) =>
    api.get<{ conflicts: ConflictSummaryView[]; next: string | null }>('/conflicts', query),
  );
  if (page === undefined) return 0;
  if (page.conflicts.length === 0) {
    io.out(`no ${values.status ?? 'open'} conflicts in ${values.pipeline}`);
    return 0;
  }
  io.out(
    table(
      ['ID', 'KEY', 'CREATED', 'STRATEGY', 'FIELDS', 'STATUS'],
      page.conflicts.map((c) => [
        c.id,
        c.key,
        formatTime(c.createdAt),
        c.strategy,
        c.fields.length > 0 ? c.fields.join(',') : '(whole record)',
        c.resolution ? `${c.status}: ${c.resolution.choice} by ${c.resolution.by}` : c.status,
      ]),
    ),
  );
  if (page.next) io.out(`more conflicts: repeat with --after ${page.next}`);
  return 0;
}

/** Both versions side by side, field by field; `*` marks the fields in conflict. */
export function formatConflict(c: ConflictView): string {
  const source = c.source.data ?? {};
  const target = c.target.data ?? {};
  const base = c.base ?? undefined;
  const names = [...new Set([...Object.keys(source), ...Object.keys(target)])].sort();
  const differs = (f: string) => canonicalJson(source[f]) !== canonicalJson(target[f]);
  const marked = (f: string) => differs(f) && (c.fields.length === 0 || c.fields.includes(f));
  const headers = [
    '',
    'FIELD',
    ...(base ? ['BASE'] : []),
    `SOURCE (${c.source.version})`,
    `TARGET (${c.target.version || 'unknown'})`,
  ];
  const rows = names.map((f) => [
    marked(f) ? '*' : differs(f) ? '~' : '',
    f,
    ...(base ? [formatValue(base[f], 30)] : []),
    c.source.data === null ? '(deleted)' : formatValue(source[f], 30),
    c.target.data === null ? '(deleted)' : formatValue(target[f], 30),
  ]);
  const head = keyValues([
    ['conflict', c.id],
    ['pipeline', c.pipeline],
    ['key', c.key],
    ['status', c.status],
    ['strategy', c.strategy],
    ['created', formatTime(c.createdAt)],
    ...(c.resolution
      ? ([
          [
            'resolved',
            `${c.resolution.choice} by ${c.resolution.by} at ${formatTime(c.resolution.at)}: ${c.resolution.reason}`,
          ],
        ] as const)
      : []),
  ]);
  const legend = `* in conflict  ~ differs${c.fields.length > 0 ? ' (merged automatically)' : ''}`;
  return [head, '', names.length === 0 ? '(no data on either side)' : table(headers, rows), '', legend].join(
    '\n',
  );
}

async function show(argv: string[], io: CliIo): Promise<number> {
  const conflict = await viewByArgument<ConflictView>(argv, io, 'conflicts show', CONFLICT_ID, (id) =>
    apiPath('conflicts', id),
  );
  if (conflict !== undefined) io.out(formatConflict(conflict));
  return 0;
}

/** `--data '{"a":1}'` or `--data @merged.json` (relative to the working directory). */
function readData(text: string, cwd: string): Record<string, unknown> {
  let raw = text;
  if (text.startsWith('@')) {
    const file = path.resolve(cwd, text.slice(1));
    try {
      raw = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--data ${text}: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new UsageError(`--data is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError('--data must be a JSON object: the merged record');
  return parsed as Record<string, unknown>;
}

async function resolve(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    choice: { type: 'string' },
    data: { type: 'string' },
    reason: { type: 'string' },
  });
  const id = onlyArgument(positionals, 'conflicts resolve', CONFLICT_ID);
  if (values.choice === undefined || !CHOICES.includes(values.choice))
    throw new UsageError(
      values.choice === undefined
        ? '--choice is required: source, target or merged'
        : `--choice must be source, target or merged, got "${values.choice}"`,
    );
  if (values.reason === undefined || values.reason.trim() === '')
    throw new UsageError('--reason is required: say why (it goes to the audit trail)');
  if (values.choice === 'merged' && values.data === undefined)
    throw new UsageError('--choice merged needs --data JSON|@file: the merged record');
  if (values.choice !== 'merged' && values.data !== undefined)
    throw new UsageError(`--data is only taken with --choice merged, not ${values.choice}`);
  const data = values.data === undefined ? undefined : readData(values.data, io.cwd);
  const { choice, reason } = values;
  const result = await requestView(values, io, (api) =>
    api.post<ResolutionView>(apiPath('conflicts', id, 'resolve'), {
      choice,
      reason,
      ...(data ? { data } : {}),
    }),
  );
  if (result === undefined) return 0;
  io.out(
    result.applied
      ? `resolved conflict ${id} (key ${result.key}) with the ${result.choice} version, written at ${result.version}`
      : `resolved conflict ${id} (key ${result.key}); nothing written: the target already holds a newer version`,
  );
  if (!result.eventPublished)
    io.err('warning: the esync.conflict.resolved event could not be published (see the API logs)');
  return 0;
}

/** `esync conflicts list|show|resolve`: parked conflicts, through the management API. */
export const conflicts: Command = managementCommand('conflicts', conflictsUsage, { list, show, resolve });

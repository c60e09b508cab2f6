import { stringifyExactJson } from '../../shared/records/exact-json.ts';
import { apiPath, managementCommand, parseCommandArgs, pipelineArg, requestView } from '../api-client.ts';
import { formatTime, keyValues } from '../format.ts';
import type { CliIo, Command } from '../io.ts';
import { UsageError } from '../io.ts';

export const checkpointUsage = `usage:
  esync checkpoint show <pipeline> [--json]  where the next run starts
  esync checkpoint reset <pipeline> --reason TEXT [--to JSON] [--json]  moves or clears it, with an audit entry
    --to '{"values":["2025-01-31T00:00:00Z"],"key":"42"}' sets where the next run starts;
    without --to, the next run reads from the beginning
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

interface CursorView {
  readonly values: readonly (string | number)[];
  readonly key: string;
}

interface CheckpointView {
  readonly cursor: CursorView | null;
  readonly setBy: string;
  readonly updatedAt: string;
  readonly reason?: string;
}

const describeCursor = (cursor: CursorView | null | undefined) =>
  cursor ? `${stringifyExactJson(cursor.values)} after key ${JSON.stringify(cursor.key)}` : 'the beginning';

async function show(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {});
  const pipeline = pipelineArg(positionals, 'checkpoint show');
  const body = await requestView(values, io, (api) =>
    api.get<{ cursorFields: string[]; checkpoint: CheckpointView | null }>(
      apiPath('pipelines', pipeline, 'checkpoint'),
    ),
  );
  if (body === undefined) return 0;
  const cp = body.checkpoint;
  if (cp === null) {
    io.out(`${pipeline} has no checkpoint: the next run reads from the beginning`);
    return 0;
  }
  io.out(
    keyValues([
      ['pipeline', pipeline],
      ['next run starts after', describeCursor(cp.cursor)],
      ['cursor fields', body.cursorFields.length > 0 ? body.cursorFields.join(', ') : '(full reads)'],
      ['set by', cp.setBy === 'reset' ? 'an operator reset' : `run ${cp.setBy}`],
      ['at', formatTime(cp.updatedAt)],
      ...(cp.reason ? ([['reason', cp.reason]] as const) : []),
    ]),
  );
  return 0;
}

function parseCursor(text: string): CursorView | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--to is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null) return null;
  const c = parsed as Partial<CursorView>;
  if (typeof parsed !== 'object' || !Array.isArray(c.values) || typeof c.key !== 'string')
    throw new UsageError('--to must be {"values": [...], "key": "..."} or null');
  return { values: c.values, key: c.key };
}

async function reset(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    reason: { type: 'string' },
    to: { type: 'string' },
  });
  const pipeline = pipelineArg(positionals, 'checkpoint reset');
  if (values.reason === undefined || values.reason.trim() === '')
    throw new UsageError(
      '--reason is required: say why the checkpoint is reset (it goes to the audit trail)',
    );
  const cursor = values.to === undefined ? null : parseCursor(values.to);
  const reason = values.reason;
  const body = await requestView(values, io, (api) =>
    api.put<{ checkpoint: CheckpointView; previous: CheckpointView | null }>(
      apiPath('pipelines', pipeline, 'checkpoint'),
      { cursor, reason },
    ),
  );
  if (body === undefined) return 0;
  io.out(
    `checkpoint of ${pipeline} reset: the next run starts after ${describeCursor(body.checkpoint.cursor)}`,
  );
  io.out(`it was: ${body.previous ? describeCursor(body.previous.cursor) : 'no checkpoint'}`);
  return 0;
}

/** `esync checkpoint show|reset <pipeline>`: where the next batch run starts, through the management API. */
export const checkpoint: Command = managementCommand('checkpoint', checkpointUsage, { show, reset });

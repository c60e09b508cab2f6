import {
  apiPath,
  managementCommand,
  parseCommandArgs,
  parseLimit,
  pipelineArg,
  requestView,
} from '../api-client.ts';
import { formatCount, formatTime, formatValue, table } from '../format.ts';
import type { CliIo, Command } from '../io.ts';
import { UsageError } from '../io.ts';

export const dlqUsage = `usage:
  esync dlq list <pipeline> [--json]                     depth of the pipeline's dead-letter queue
  esync dlq inspect <pipeline> [--limit N] [--json]      its dead letters, left in place
  esync dlq redrive <pipeline> [--reason TEXT] [--json]  moves its dead letters back to the load queue
common flags: --local (the stack of \`esync dev\`) | --stage S (default dev) | --api-url URL`;

interface DeadLetterView {
  readonly messageId: string;
  readonly receiveCount: number;
  readonly sentAt: string | null;
  readonly body: Record<string, unknown>;
  readonly firstError: string | null;
}

interface DlqView {
  readonly pipeline: string;
  readonly queueUrl: string;
  readonly depth: { readonly visible: number; readonly inFlight: number };
  readonly messages: readonly DeadLetterView[];
}

/** One line saying what a dead letter holds: `records 100 (run …): u1, u2, …`. */
function describeBody(body: Record<string, unknown>): string {
  if (body.kind === 'records' || body.kind === 'claim-check') {
    const keys = Array.isArray(body.keys) ? `: ${body.keys.join(', ')}` : '';
    return `${formatCount(Number(body.records ?? 0))} record(s), ${String(body.scope ?? '')}${keys}`;
  }
  if (body.kind === 'event') return `event ${String(body.detailType)} from ${String(body.source)}`;
  return formatValue(body.preview ?? body, 60);
}

async function list(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {});
  const pipeline = pipelineArg(positionals, 'dlq list');
  const dlq = await requestView(
    values,
    io,
    (api) => api.get<DlqView>(apiPath('pipelines', pipeline, 'dlq'), { limit: 0 }),
    ({ pipeline, queueUrl, depth }) => ({ pipeline, queueUrl, depth }),
  );
  if (dlq === undefined) return 0;
  const total = dlq.depth.visible + dlq.depth.inFlight;
  io.out(
    total === 0
      ? `DLQ of ${pipeline} is empty`
      : `DLQ of ${pipeline}: ${formatCount(dlq.depth.visible)} message(s) waiting, ${formatCount(dlq.depth.inFlight)} in flight`,
  );
  io.out(`queue: ${dlq.queueUrl}`);
  return 0;
}

async function inspect(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { limit: { type: 'string' } });
  const pipeline = pipelineArg(positionals, 'dlq inspect');
  const limit = parseLimit(values.limit, 50) ?? 10;
  const dlq = await requestView(values, io, (api) =>
    api.get<DlqView>(apiPath('pipelines', pipeline, 'dlq'), { limit }),
  );
  if (dlq === undefined) return 0;
  if (dlq.messages.length === 0) {
    io.out(`DLQ of ${pipeline} is empty`);
    return 0;
  }
  io.out(
    table(
      ['MESSAGE', 'RECEIVES', 'SENT', 'BODY', 'ERROR'],
      dlq.messages.map((m) => [
        m.messageId,
        m.receiveCount,
        formatTime(m.sentAt),
        describeBody(m.body),
        m.firstError,
      ]),
    ),
  );
  const total = dlq.depth.visible + dlq.depth.inFlight;
  if (total > dlq.messages.length)
    io.out(`showing ${dlq.messages.length} of about ${formatCount(total)} message(s)`);
  return 0;
}

async function redrive(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { reason: { type: 'string' } });
  const pipeline = pipelineArg(positionals, 'dlq redrive');
  if (values.reason !== undefined && values.reason.trim() === '')
    throw new UsageError('--reason must not be empty');
  const reason = values.reason;
  const task = await requestView(values, io, (api) =>
    api.post<{ taskHandle: string; approximateMessages: number }>(
      apiPath('pipelines', pipeline, 'dlq', 'redrive'),
      reason === undefined ? undefined : { reason },
    ),
  );
  if (task === undefined) return 0;
  io.out(
    `moving about ${formatCount(task.approximateMessages)} message(s) from the DLQ of ${pipeline} back to its load queue`,
  );
  io.out(`task handle: ${task.taskHandle}`);
  return 0;
}

/** `esync dlq list|inspect|redrive <pipeline>`: a pipeline's dead letters, through the management API. */
export const dlq: Command = managementCommand('dlq', dlqUsage, { list, inspect, redrive });

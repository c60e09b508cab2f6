import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { loadQueueUrl } from '../../config.ts';
import { describeError, NotFoundError } from '../../errors.ts';
import { loadDlqName } from '../../naming.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { parseExactJson, stringifyExactJson } from '../../records/exact-json.ts';
import { loadMessageSchema } from '../../records/messages.ts';
import type { Deps } from '../deps.ts';
import { audit, awsErrorName, type ManagementResponse, parseInput, type RouteContext } from './common.ts';

const dlqUrl = (deps: Deps, pipeline: string) =>
  deps.config.queueUrlPrefix + loadDlqName(deps.config.stage, pipeline);

const isMissingQueue = (error: unknown) =>
  ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue'].includes(awsErrorName(error));

/** Runs an SQS call on `url`, turning "no such queue" into a 404 that names it. */
async function onQueue<T>(url: string, pipeline: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isMissingQueue(error))
      throw new NotFoundError(
        `queue ${url} of pipeline "${pipeline}" does not exist; is the pipeline deployed?`,
        {
          cause: error,
        },
      );
    throw error;
  }
}

export interface QueueDepth {
  readonly url: string;
  /** Messages waiting to be received. */
  readonly visible: number;
  /** Received and not yet deleted (being processed). */
  readonly inFlight: number;
  readonly delayed: number;
}

async function queueDepth(deps: Deps, url: string): Promise<QueueDepth> {
  const out = await deps.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const n = (name: string) => Number(out.Attributes?.[name as keyof typeof out.Attributes] ?? 0);
  return {
    url,
    visible: n('ApproximateNumberOfMessages'),
    inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    delayed: n('ApproximateNumberOfMessagesDelayed'),
  };
}

async function queueArn(deps: Deps, url: string, pipeline: string): Promise<string> {
  const out = await onQueue(url, pipeline, () =>
    deps.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })),
  );
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`GetQueueAttributes returned no QueueArn for ${url}`);
  return arn;
}

async function pipelineHealth(deps: Deps, pipeline: Pipeline) {
  const problems: string[] = [];
  const depth = async (label: string, url: string) => {
    try {
      return await queueDepth(deps, url);
    } catch (error) {
      const reason = isMissingQueue(error) ? 'does not exist' : describeError(error).message;
      problems.push(`${label} ${url}: ${reason}`);
      return { url, error: reason };
    }
  };
  const [loadQueue, dlq, runs] = await Promise.all([
    depth('load queue', loadQueueUrl(deps.config, pipeline.name)),
    depth('DLQ', dlqUrl(deps, pipeline.name)),
    deps.state.runs.list({ pipeline: pipeline.name, limit: 1 }),
  ]);
  if ('visible' in dlq && dlq.visible + dlq.inFlight > 0)
    problems.push(`${dlq.visible + dlq.inFlight} message(s) in the DLQ`);
  const last = runs.runs[0];
  if (last?.status === 'failed')
    problems.push(`last run ${last.runId} failed: ${last.failure?.error ?? 'unknown error'}`);
  return {
    pipeline: pipeline.name,
    status: problems.length === 0 ? 'ok' : 'degraded',
    problems,
    loadQueue,
    dlq,
    lastRun: last
      ? { runId: last.runId, status: last.status, startedAt: last.startedAt, endedAt: last.endedAt ?? null }
      : null,
  };
}

/**
 * `GET /health`: per pipeline, the depths of its load queue and DLQ, its last run, and `ok`, or
 * `degraded` with the problems (dead letters, a failed last run, an unreachable queue).
 */
export async function health(ctx: RouteContext): Promise<ManagementResponse> {
  const pipelines = await Promise.all(ctx.deps.catalog.all().map((p) => pipelineHealth(ctx.deps, p)));
  const degraded = pipelines.some((p) => p.status !== 'ok');
  return {
    status: 200,
    body: {
      status: degraded ? 'degraded' : 'ok',
      stage: ctx.deps.config.stage,
      at: ctx.deps.now().toISOString(),
      pipelines,
    },
  };
}

/**
 * How long peeked messages stay hidden. SQS has no peek: a receive hides a message for the
 * visibility timeout (and a timeout of 0 hides nothing, so a loop of receives would see the
 * same messages again). We hide them briefly, so later receives in the same peek return other
 * messages, then make them visible again at once; should the release fail, they reappear by
 * themselves after this long.
 */
const PEEK_VISIBILITY_SECONDS = 30;
const MAX_PEEK = 50;

const peekQuery = z.strictObject({ limit: z.coerce.number().int().min(0).max(MAX_PEEK).default(10) });

/** What a dead letter holds, without record data (which may carry masked or personal fields). */
export function summarizeBody(body: string | undefined) {
  let parsed: unknown;
  try {
    parsed = parseExactJson(body ?? '');
  } catch {
    return { kind: 'text', preview: (body ?? '').slice(0, 200) };
  }
  const message = loadMessageSchema.safeParse(parsed);
  if (message.success) {
    const m = message.data;
    if (m.kind === 'claim-check')
      return {
        kind: m.kind,
        scope: m.scope,
        messageKey: m.messageKey,
        records: m.count,
        object: `s3://${m.bucket}/${m.key}`,
      };
    return {
      kind: m.kind,
      scope: m.scope,
      messageKey: m.messageKey,
      records: m.records.length,
      keys: m.records.slice(0, 5).map((r) => r.key),
    };
  }
  if (typeof parsed === 'object' && parsed !== null && 'detail-type' in parsed) {
    const event = parsed as Record<string, unknown>;
    return {
      kind: 'event',
      detailType: String(event['detail-type']),
      source: String(event.source ?? ''),
      id: String(event.id ?? ''),
    };
  }
  return { kind: 'json', preview: stringifyExactJson(parsed).slice(0, 200) };
}

/** The failure a dead letter carries, when its sender recorded one (EventBridge does, on rule DLQs). */
function firstError(message: Message): string | null {
  const attr = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  const code = attr('ERROR_CODE');
  const text = attr('ERROR_MESSAGE') ?? attr('esync-error');
  if (code === undefined && text === undefined) return null;
  return [code, text].filter((s) => s !== undefined).join(': ');
}

function describeDeadLetter(message: Message) {
  const sent = Number(message.Attributes?.SentTimestamp ?? Number.NaN);
  return {
    messageId: message.MessageId ?? '',
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    sentAt: Number.isFinite(sent) ? new Date(sent).toISOString() : null,
    body: summarizeBody(message.Body),
    firstError: firstError(message),
  };
}

/**
 * `GET /pipelines/{name}/dlq?limit=`: the DLQ's depth and up to `limit` of its messages, left in
 * place (see {@link PEEK_VISIBILITY_SECONDS}). A peek counts as a receive in each message's
 * ApproximateReceiveCount; the DLQ has no redrive policy of its own, so that moves nothing.
 * `limit=0` answers the depth only.
 */
export async function peekDeadLetters(ctx: RouteContext): Promise<ManagementResponse> {
  const query = parseInput(peekQuery, ctx.query, 'query');
  const { deps } = ctx;
  const pipeline = deps.catalog.get(ctx.params.name ?? '');
  const url = dlqUrl(deps, pipeline.name);
  const depth = await onQueue(url, pipeline.name, () => queueDepth(deps, url));
  const received = new Map<string, Message>();
  try {
    for (let round = 0; received.size < query.limit && round < Math.ceil(MAX_PEEK / 10) + 2; round++) {
      const out = await deps.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, query.limit - received.size),
          VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
          WaitTimeSeconds: 0,
          // The deprecated AttributeNames is what local-aws-sqs reads; AWS honours both.
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      const batch = out.Messages ?? [];
      if (batch.length === 0) break;
      for (const m of batch) received.set(m.MessageId ?? m.ReceiptHandle ?? String(received.size), m);
    }
  } finally {
    await releaseMessages(deps, url, [...received.values()]);
  }
  return {
    status: 200,
    body: {
      pipeline: pipeline.name,
      queueUrl: url,
      depth: { visible: depth.visible, inFlight: depth.inFlight },
      messages: [...received.values()].map(describeDeadLetter),
    },
  };
}

async function releaseMessages(deps: Deps, url: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages
      .slice(i, i + 10)
      .flatMap((m, j) =>
        m.ReceiptHandle ? [{ Id: String(i + j), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }] : [],
      );
    try {
      const out = await deps.clients.sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }),
      );
      if ((out.Failed ?? []).length > 0)
        deps.log.warn('some peeked dead letters stay hidden until their visibility timeout ends', {
          queueUrl: url,
          failed: out.Failed?.length,
          seconds: PEEK_VISIBILITY_SECONDS,
        });
    } catch (error) {
      deps.log.warn('could not release peeked dead letters; they reappear after their visibility timeout', {
        queueUrl: url,
        seconds: PEEK_VISIBILITY_SECONDS,
        error: describeError(error),
      });
    }
  }
}

const redriveBody = z
  .strictObject({
    reason: z.string().trim().min(1).max(1000).optional(),
    maxMessagesPerSecond: z.int().min(1).max(500).optional(),
  })
  .optional()
  .transform((b) => b ?? {});

/**
 * `POST /pipelines/{name}/dlq/redrive` `{reason?, maxMessagesPerSecond?}`: starts an SQS
 * message move task from the DLQ back to the load queue (StartMessageMoveTask); 202 with the
 * task handle. Load's version gate makes redelivered records that were since superseded change
 * nothing.
 */
export async function redriveDeadLetters(ctx: RouteContext): Promise<ManagementResponse> {
  const body = parseInput(redriveBody, ctx.body, 'body');
  const { deps } = ctx;
  const pipeline = deps.catalog.get(ctx.params.name ?? '');
  const sourceUrl = dlqUrl(deps, pipeline.name);
  const [sourceArn, destinationArn, depth] = await Promise.all([
    queueArn(deps, sourceUrl, pipeline.name),
    queueArn(deps, loadQueueUrl(deps.config, pipeline.name), pipeline.name),
    onQueue(sourceUrl, pipeline.name, () => queueDepth(deps, sourceUrl)),
  ]);
  const out = await deps.clients.sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: sourceArn,
      DestinationArn: destinationArn,
      ...(body.maxMessagesPerSecond ? { MaxNumberOfMessagesPerSecond: body.maxMessagesPerSecond } : {}),
    }),
  );
  const taskHandle = out.TaskHandle ?? '';
  await audit(
    ctx,
    pipeline.name,
    'dlq.redrive',
    { taskHandle, sourceArn, destinationArn, approximateMessages: depth.visible },
    body.reason ?? 'redrive dead letters',
  );
  return {
    status: 202,
    body: {
      pipeline: pipeline.name,
      taskHandle,
      sourceArn,
      destinationArn,
      approximateMessages: depth.visible,
    },
  };
}

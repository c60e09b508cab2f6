import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { loadBatchingProblem } from '../shared/pipeline/load-batching.ts';
import type { LocalLogger } from './aws-json-server.ts';
import { createLambdaContext } from './lambda-context.ts';

/**
 * Emulates the Lambda SQS event source mapping in process, the way AWS runs it:
 * - polls the queue and gathers up to `batchSize` messages, waiting at most the batching window
 *   once the first message is in (with no window, each poll's messages make one batch);
 * - runs at most `maxConcurrency` invocations at once;
 * - on success deletes the whole batch; with `reportBatchItemFailures` deletes all but the
 *   listed `itemIdentifier`s; when the handler throws, times out or returns an invalid failure
 *   list, deletes nothing.
 * Messages it does not delete are left alone: they become visible again when the queue's
 * visibility timeout expires, and the queue's own redrive policy moves them to the DLQ after
 * `maxReceiveCount` receives, exactly as on AWS.
 *
 * Known differences: FIFO message groups are not locked while a batch of theirs is in flight
 * (the local SQS server does not lock them either), and the 6 MB invocation payload limit is
 * approximated by ending a batch once 5 MB of bodies are gathered.
 */

/** The function the mapping invokes, with the deployed handler's signature. */
// biome-ignore lint/suspicious/noConfusingVoidType: the same result type as aws-lambda's SQSHandler, so `Promise<void>` handlers fit
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined | void>;

export interface SqsEventSourceOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** The queue's ARN, reported as each record's `eventSourceARN`; its region becomes `awsRegion`. */
  readonly queueArn: string;
  readonly handler: SqsHandler;
  /**
   * @default 10 - as AWS; 1 to 100 and above 10 only with a batching window of at least 1 s, the
   * range a pipeline's `load.batchSize` takes (see `shared/pipeline/load-batching.ts`)
   */
  readonly batchSize?: number;
  /** @default 0 - as AWS for standard queues; 0 to 300 (the window of the batching rule) */
  readonly maximumBatchingWindowSeconds?: number;
  /** @default 1000 - as AWS without a maximum concurrency: no limit below the account's; 2 to 1000 */
  readonly maxConcurrency?: number;
  /** @default false */
  readonly reportBatchItemFailures?: boolean;
  /** An invocation running longer fails (its messages are not deleted). @default - no limit */
  readonly functionTimeoutSeconds?: number;
  /** For the invocation context. @default 'local-sqs-consumer' */
  readonly functionName?: string;
  /** Pause between polls of an empty queue. @default 50 */
  readonly idlePollIntervalMs?: number;
  /**
   * `WaitTimeSeconds` of each receive. local-aws-sqs holds a long poll for its whole duration
   * unless it can fill the batch, so short polls keep the local stack fast. @default 0
   */
  readonly waitTimeSeconds?: number;
  /** @default console */
  readonly logger?: LocalLogger;
  /** Faults to inject, for fault-injection tests. @default - none: the mapping behaves as AWS's */
  readonly faults?: SqsEventSourceFaults;
}

/** A fault the mapping injected, as reported to {@link SqsEventSourceFaults.onFault}. */
export interface InjectedSqsFault {
  readonly kind: 'duplicateDelivery' | 'crashBeforeDelete';
  readonly queueUrl: string;
  readonly messageIds: readonly string[];
}

/**
 * Faults of at-least-once delivery, each drawn per message and only on its first receive, so a
 * fault alone never pushes a message towards its queue's DLQ.
 */
export interface SqsEventSourceFaults {
  /**
   * Share of messages delivered twice: the function is invoked a second time, concurrently, with
   * the same records (same message ids and receipt handles), as when two pollers receive one
   * message. @default 0
   */
  readonly duplicateDelivery?: number;
  /**
   * Share of successfully processed messages that are not deleted, as when the function's
   * container dies after its writes and before the mapping deletes the batch; SQS delivers them
   * again once their visibility timeout expires. @default 0
   */
  readonly crashBeforeDelete?: number;
  /**
   * Visibility timeout set on every message left on the queue (failed, or kept by a crash), so
   * redeliveries come this soon instead of after the queue's visibility timeout: time compressed.
   * local-aws-sqs counts the visibility change as one more receive, so such a redelivery uses two
   * of the queue's `maxReceiveCount` there (one on AWS).
   * @default - the queue's visibility timeout
   */
  readonly redeliverAfterSeconds?: number;
  /** Source of randomness in [0, 1), for repeatable runs. @default Math.random */
  readonly random?: () => number;
  /** Told of every fault when it fires. */
  readonly onFault?: (fault: InjectedSqsFault) => void;
}

/** The settings a mapping runs with. */
export interface SqsEventSourceSettings {
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly maxConcurrency: number;
}

/** Counters since start. */
export interface SqsEventSourceStats {
  /** Messages received (a message received twice counts twice). */
  readonly received: number;
  readonly invocations: number;
  /** Invocations that threw, timed out or returned an invalid failure list: nothing was deleted. */
  readonly failedInvocations: number;
  /** Messages reported in `batchItemFailures` and left on the queue. */
  readonly itemFailures: number;
  readonly deleted: number;
  readonly inFlight: number;
}

/** SQS returns at most 10 messages per receive and deletes at most 10 per batch call. */
const SQS_MAX_BATCH = 10;
const PAYLOAD_SOFT_LIMIT = 5 * 1024 * 1024;
const MAX_ERROR_BACKOFF_MS = 5_000;

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(`SqsEventSource: ${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

class TimeoutError extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    this.name = 'TimeoutError';
  }
}

/** Converts a received message to the record Lambda hands to the function. */
function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: value.DataType ?? 'String',
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: { ...message.Attributes } as unknown as SQSRecordAttributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

/**
 * Which messages of a batch failed, per the documented partial-batch-response rules: an empty
 * or missing list means all succeeded; a list naming an identifier that is empty, not a string
 * or not in the batch makes the whole batch a failure (`'all'`).
 */
function failedIds(response: unknown, batchIds: ReadonlySet<string>): Set<string> | 'all' {
  if (response === undefined || response === null || typeof response !== 'object') return new Set();
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const ids = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !batchIds.has(id)) return 'all';
    ids.add(id);
  }
  return ids;
}

/** One emulated event source mapping. Create, `start()`, and `stop()` when done. */
export class SqsEventSource {
  readonly #options: SqsEventSourceOptions;
  readonly #batchSize: number;
  readonly #windowMs: number;
  readonly #maxConcurrency: number;
  readonly #region: string;
  readonly #logger: LocalLogger;
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #collecting = false;
  readonly #wakers = new Set<() => void>();
  #receives = 0;
  #idleWaiters: { after: number; resolve: () => void }[] = [];
  #stats = { received: 0, invocations: 0, failedInvocations: 0, itemFailures: 0, deleted: 0 };

  constructor(options: SqsEventSourceOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? 10;
    const window = options.maximumBatchingWindowSeconds ?? 0;
    const problem = loadBatchingProblem(this.#batchSize, window);
    if (problem) throw new ConfigError(`SqsEventSource: ${problem.message}`);
    this.#windowMs = window * 1000;
    this.#maxConcurrency = checkRange('maxConcurrency', options.maxConcurrency ?? 1000, 2, 1000);
    const region = /^arn:[^:]+:sqs:([^:]+):/.exec(options.queueArn)?.[1];
    if (!region)
      throw new ConfigError(`SqsEventSource: queueArn must be an SQS queue ARN, got "${options.queueArn}"`);
    this.#region = region;
    this.#logger = options.logger ?? console;
  }

  /** The client the mapping receives, deletes and changes visibility with (fault-injection tests decorate it). */
  get client(): SQSClient {
    return this.#options.sqs;
  }

  /** Whether the mapping is polling. */
  get running(): boolean {
    return this.#running;
  }

  /** Counters since the mapping was created. */
  get stats(): SqsEventSourceStats {
    return { ...this.#stats, inFlight: this.#inFlight.size };
  }

  /** The mapping's settings in force, defaults applied (to compare with the deployed mapping). */
  get settings(): SqsEventSourceSettings {
    return {
      batchSize: this.#batchSize,
      maximumBatchingWindowSeconds: this.#windowMs / 1000,
      maxConcurrency: this.#maxConcurrency,
    };
  }

  /** Starts polling; a no-op when already running. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#poll();
  }

  /**
   * Stops polling and resolves once the batch being gathered has been handed to the function and
   * every invocation (with its deletes) has finished.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wakeAll();
    await this.#loop;
    await Promise.all(this.#inFlight);
    this.#settleIdle();
  }

  /**
   * Resolves when nothing is in flight and a poll begun after this call found the queue empty.
   * Messages waiting for their visibility timeout are not visible, so they do not count.
   * @param timeoutMs - rejects after this long, naming the queue. @default 30000
   */
  idle(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `queue ${this.#options.queueUrl} did not become idle within ${timeoutMs} ms (${this.#inFlight.size} invocations in flight)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#idleWaiters.push({ after: this.#receives, resolve: done });
      this.#settleIdle();
    });
  }

  #settleIdle(emptyReceive?: number): void {
    if (this.#inFlight.size > 0) return;
    const quiet = !this.#running && !this.#collecting;
    this.#idleWaiters = this.#idleWaiters.filter((waiter) => {
      if (!quiet && (emptyReceive === undefined || emptyReceive <= waiter.after)) return true;
      waiter.resolve();
      return false;
    });
  }

  async #poll(): Promise<void> {
    let errorBackoff = 0;
    while (this.#running) {
      if (this.#inFlight.size >= this.#maxConcurrency) {
        await this.#sleep(60_000);
        continue;
      }
      this.#collecting = true;
      let batch: Message[] = [];
      try {
        batch = await this.#gather();
        errorBackoff = 0;
      } catch (error) {
        errorBackoff = Math.min(MAX_ERROR_BACKOFF_MS, Math.max(250, errorBackoff * 2));
        this.#logger.warn(`polling ${this.#options.queueUrl} failed; retrying in ${errorBackoff} ms`, error);
      } finally {
        this.#collecting = false;
      }
      if (batch.length > 0) this.#invoke(batch);
      else await this.#sleep(errorBackoff || (this.#options.idlePollIntervalMs ?? 50));
    }
  }

  /** Gathers one batch; messages already received are kept (and invoked) even when stopping. */
  async #gather(): Promise<Message[]> {
    const batch: Message[] = [];
    let bytes = 0;
    let windowEnd: number | undefined;
    while (this.#running) {
      const wanted = Math.min(SQS_MAX_BATCH, this.#batchSize - batch.length);
      const received = await this.#receive(wanted, batch.length === 0);
      for (const message of received) {
        batch.push(message);
        bytes += Buffer.byteLength(message.Body ?? '');
      }
      if (batch.length === 0 || batch.length >= this.#batchSize || bytes >= PAYLOAD_SOFT_LIMIT) break;
      if (this.#windowMs === 0) break;
      windowEnd ??= Date.now() + this.#windowMs;
      const left = windowEnd - Date.now();
      if (left <= 0) break;
      if (received.length === 0) await this.#sleep(Math.min(left, this.#options.idlePollIntervalMs ?? 50));
    }
    return batch;
  }

  async #receive(max: number, batchEmpty: boolean): Promise<Message[]> {
    const sequence = ++this.#receives;
    const output = await this.#options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#options.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: this.#options.waitTimeSeconds ?? 0,
        // local-aws-sqs ignores MessageSystemAttributeNames; AWS honours both.
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = output.Messages ?? [];
    this.#stats.received += messages.length;
    if (messages.length === 0 && batchEmpty) this.#settleIdle(sequence);
    return messages;
  }

  #invoke(batch: Message[]): void {
    const invocation = this.#runInvocation(batch)
      .catch((error: unknown) => this.#logger.error(`invoking for ${this.#options.queueUrl} failed`, error))
      .finally(() => {
        this.#inFlight.delete(invocation);
        this.#wakeAll();
      });
    this.#inFlight.add(invocation);
  }

  async #runInvocation(batch: Message[]): Promise<void> {
    const { functionTimeoutSeconds, queueArn } = this.#options;
    const event: SQSEvent = { Records: batch.map((m) => toRecord(m, queueArn, this.#region)) };
    const context = createLambdaContext({
      functionName: this.#options.functionName ?? 'local-sqs-consumer',
      timeoutSeconds: functionTimeoutSeconds ?? 900,
      region: this.#region,
      accountId: queueArn.split(':')[4],
    });
    this.#stats.invocations++;
    const duplicate = this.#deliverDuplicates(event, context);
    try {
      await this.#invokeAndSettle(batch, event, context);
    } finally {
      await duplicate;
    }
  }

  async #invokeAndSettle(batch: Message[], event: SQSEvent, context: Context): Promise<void> {
    const { handler, functionTimeoutSeconds } = this.#options;
    let response: unknown;
    let timer: NodeJS.Timeout | undefined;
    try {
      const running = Promise.resolve().then(() => handler(event, context));
      if (functionTimeoutSeconds === undefined) response = await running;
      else {
        // The function cannot be frozen like a Lambda sandbox: it runs on, and its late outcome is ignored.
        response = await Promise.race([
          running,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new TimeoutError(functionTimeoutSeconds)),
              functionTimeoutSeconds * 1000,
            );
          }),
        ]);
      }
    } catch (error) {
      this.#stats.failedInvocations++;
      this.#logger.error(
        `${context.functionName} failed on a batch of ${batch.length} from ${this.#options.queueUrl}; the messages stay on the queue`,
        error,
      );
      await this.#shortenVisibility(batch);
      return;
    } finally {
      clearTimeout(timer);
    }
    const failed = this.#options.reportBatchItemFailures
      ? failedIds(response, new Set(event.Records.map((r) => r.messageId)))
      : new Set<string>();
    if (failed === 'all') {
      this.#stats.failedInvocations++;
      this.#logger.error(
        `${context.functionName} returned an invalid batchItemFailures list; the whole batch stays on the queue`,
      );
      await this.#shortenVisibility(batch);
      return;
    }
    this.#stats.itemFailures += failed.size;
    const succeeded = batch.filter((m) => !failed.has(m.MessageId ?? ''));
    const crashed = this.#drawFault('crashBeforeDelete', succeeded);
    await this.#delete(crashed.length === 0 ? succeeded : succeeded.filter((m) => !crashed.includes(m)));
    await this.#shortenVisibility([...batch.filter((m) => failed.has(m.MessageId ?? '')), ...crashed]);
  }

  /** Messages of `messages` on their first receive drawn for a fault at its configured rate; reported when any. */
  #drawFault<T extends Message | SQSRecord>(kind: InjectedSqsFault['kind'], messages: readonly T[]): T[] {
    const faults = this.#options.faults;
    const rate = faults?.[kind] ?? 0;
    if (!faults || rate <= 0) return [];
    const random = faults.random ?? Math.random;
    const drawn = messages.filter((m) => {
      const attributes = (m as Message).Attributes ?? (m as SQSRecord).attributes;
      return attributes?.ApproximateReceiveCount === '1' && random() < rate;
    });
    if (drawn.length > 0)
      faults.onFault?.({
        kind,
        queueUrl: this.#options.queueUrl,
        messageIds: drawn.map((m) => (m as Message).MessageId ?? (m as SQSRecord).messageId),
      });
    return drawn;
  }

  /** Invokes the function a second time with the records drawn for duplicate delivery; its outcome is ignored. */
  async #deliverDuplicates(event: SQSEvent, context: Context): Promise<void> {
    const records = this.#drawFault('duplicateDelivery', event.Records);
    if (records.length === 0) return;
    try {
      await this.#options.handler({ Records: records }, context);
    } catch (error) {
      this.#logger.warn(`a duplicate delivery from ${this.#options.queueUrl} failed`, error);
    }
  }

  async #shortenVisibility(messages: readonly Message[]): Promise<void> {
    const seconds = this.#options.faults?.redeliverAfterSeconds;
    if (seconds === undefined || messages.length === 0) return;
    for (let i = 0; i < messages.length; i += SQS_MAX_BATCH) {
      const chunk = messages.slice(i, i + SQS_MAX_BATCH);
      try {
        await this.#options.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.#options.queueUrl,
            Entries: chunk.map((m, j) => ({
              Id: String(j),
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: seconds,
            })),
          }),
        );
      } catch (error) {
        this.#logger.warn(`shortening the visibility of ${chunk.length} messages failed`, error);
      }
    }
  }

  async #delete(messages: Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += SQS_MAX_BATCH) {
      const chunk = messages.slice(i, i + SQS_MAX_BATCH);
      try {
        const output = await this.#options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.#options.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        this.#stats.deleted += output.Successful?.length ?? 0;
        for (const failure of output.Failed ?? [])
          this.#logger.warn(
            `deleting a message from ${this.#options.queueUrl} failed: ${failure.Code} ${failure.Message}`,
          );
      } catch (error) {
        // As on AWS: a message that cannot be deleted is delivered again after its visibility timeout.
        this.#logger.warn(`deleting ${chunk.length} messages from ${this.#options.queueUrl} failed`, error);
      }
    }
  }

  /** Sleeps, woken early by `stop()` or by an invocation finishing. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

import { randomUUID } from 'node:crypto';
import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SdkClient } from '../shared/aws/clients.ts';
import { ConfigError, describeError, isRetryable } from '../shared/errors.ts';
import {
  type AwsJsonOperation,
  AwsServiceError,
  type LocalLogger,
  type LocalServer,
  type LocalServiceOptions,
  requireString,
  startAwsJsonServer,
} from './aws-json-server.ts';
import { compilePattern, type EventMatcher } from './event-pattern.ts';

/**
 * A local Amazon EventBridge: the JSON 1.1 protocol (`AWSEvents.PutEvents`, `ListRules`,
 * `ListTargetsByRule`, `DescribeEventBus`, `TestEventPattern`) so the unchanged
 * `@aws-sdk/client-eventbridge` reaches it through `AWS_ENDPOINT_URL_EVENTBRIDGE`. PutEvents
 * builds the real event envelope, matches it against the rules of the target bus and sends it,
 * as JSON, to each matching rule's SQS targets. Delivery finishes before PutEvents answers (so a
 * test that puts and then polls does not race), but, as in AWS, the answer never reports delivery
 * failures: a failed delivery is retried when the error is transient and then goes to the
 * target's dead-letter queue when one is configured.
 */

/** An SQS target of a rule. */
export interface EventBridgeQueueTarget {
  readonly queueUrl: string;
  /** The target's dead-letter queue, for events that cannot be delivered. */
  readonly dlqUrl?: string;
  /** Required by FIFO queues; sent as the MessageGroupId. */
  readonly messageGroupId?: string;
}

/** A Lambda function target of a rule, invoked with the event as EventBridge's asynchronous invoke does. */
export interface EventBridgeFunctionTarget {
  readonly functionName: string;
  readonly invoke: (event: EventEnvelope) => Promise<unknown>;
  /** The target's dead-letter queue, for events that cannot be delivered. */
  readonly dlqUrl?: string;
}

export type EventBridgeTarget = EventBridgeQueueTarget | EventBridgeFunctionTarget;

/** A rule on one of the local buses. */
export interface EventBridgeRule {
  readonly name: string;
  readonly eventBusName: string;
  /** The event pattern, as an object (validated at start). */
  readonly pattern: unknown;
  readonly targets: readonly EventBridgeTarget[];
}

export interface EventBridgeServerOptions extends LocalServiceOptions {
  readonly rules: readonly EventBridgeRule[];
  /** The client that delivers to the target queues. */
  readonly sqs: SdkClient<SQSClient>;
  /** Buses that exist without rules; `default` always exists. */
  readonly eventBusNames?: readonly string[];
  /** Attempts per target before an event is dead-lettered, for transient errors. @default 3 */
  readonly deliveryAttempts?: number;
  /** How many delivery records {@link EventBridgeServer.events} keeps. @default 1000 */
  readonly logSize?: number;
}

/** The envelope EventBridge wraps around every event, as its targets receive it. */
export interface EventEnvelope {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

/** What happened to one event for one target. */
export interface DeliveryRecord {
  readonly rule: string;
  readonly eventBusName: string;
  /** The queue URL or the function name of the target. */
  readonly target: string;
  /** `delivered` to the queue, `dead-lettered` to the target's DLQ, or `failed` (lost, and logged). */
  readonly outcome: 'delivered' | 'dead-lettered' | 'failed';
  readonly attempts: number;
  readonly event: EventEnvelope;
  readonly error?: string;
}

/** An event an AWS service sends to the default bus (`aws.*` sources, which PutEvents refuses). */
export interface ServiceEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
  readonly resources: readonly string[];
}

/** A running local EventBridge. */
export interface EventBridgeServer extends LocalServer {
  /** The most recent deliveries, oldest first. */
  events(): readonly DeliveryRecord[];
  /** Sends an AWS service's event through the default bus's rules; resolves once delivered. */
  publishServiceEvent(event: ServiceEvent): Promise<void>;
}

/** PutEvents limits documented by AWS. */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

interface CompiledRule extends EventBridgeRule {
  readonly arn: string;
  readonly matches: EventMatcher;
}

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The bus name from a name or an ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`). */
const busName = (value: unknown): string =>
  typeof value === 'string' && value.length > 0
    ? value.replace(/^arn:[^:]+:events:[^:]*:[^:]*:event-bus\//, '')
    : 'default';

/** The queue ARN from a queue URL (`<endpoint>/<account>/<name>`). */
function queueArn(queueUrl: string, region: string, accountId: string): string {
  const [account, name] = new URL(queueUrl).pathname.split('/').filter(Boolean).slice(-2);
  return `arn:aws:sqs:${region}:${account ?? accountId}:${name ?? queueUrl}`;
}

/** The size AWS counts for one entry: Time, Source, DetailType, Detail and Resources in UTF-8 bytes. */
function entrySize(entry: Record<string, unknown>): number {
  let size = entry.Time === undefined ? 0 : 14;
  for (const member of ['Source', 'DetailType', 'Detail'])
    if (typeof entry[member] === 'string') size += Buffer.byteLength(entry[member] as string);
  if (Array.isArray(entry.Resources))
    for (const resource of entry.Resources)
      if (typeof resource === 'string') size += Buffer.byteLength(resource);
  return size;
}

function eventTime(value: unknown): string | undefined {
  const date =
    value === undefined
      ? new Date()
      : typeof value === 'number'
        ? new Date(value * 1000)
        : typeof value === 'string'
          ? new Date(value)
          : undefined;
  if (!date || Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const invalid = (member: string, reason: string): EntryResult => ({
  ErrorCode: 'InvalidArgument',
  ErrorMessage: `Parameter ${member} is not valid. Reason: ${reason}`,
});

/** Starts the local EventBridge on 127.0.0.1. */
export async function startEventBridgeServer(options: EventBridgeServerOptions): Promise<EventBridgeServer> {
  const bus = new LocalEventBus(options);
  const server = await startAwsJsonServer({
    targetPrefix: 'AWSEvents',
    port: options.port,
    logger: options.logger ?? console,
    operations: { PutEvents: (input) => bus.putEvents(input), ...readOperations(bus) },
  });
  return {
    ...server,
    events: () => bus.events(),
    publishServiceEvent: (event) => bus.publishServiceEvent(event),
  };
}

/** The buses with their rules: events built, matched, and delivered with retries and dead-lettering. */
class LocalEventBus {
  readonly region: string;
  readonly accountId: string;
  readonly buses: ReadonlySet<string>;
  readonly rules: readonly CompiledRule[];
  readonly #sqs: SdkClient<SQSClient>;
  readonly #attempts: number;
  readonly #logSize: number;
  readonly #logger: LocalLogger;
  readonly #log: DeliveryRecord[] = [];

  constructor(options: EventBridgeServerOptions) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.#sqs = options.sqs;
    this.#attempts = Math.max(1, options.deliveryAttempts ?? 3);
    this.#logSize = options.logSize ?? 1000;
    this.#logger = options.logger ?? console;
    this.buses = new Set([
      'default',
      ...(options.eventBusNames ?? []),
      ...options.rules.map((r) => r.eventBusName),
    ]);
    this.rules = options.rules.map((rule) => this.#compile(rule));
  }

  /** The most recent deliveries, oldest first. */
  events(): DeliveryRecord[] {
    return [...this.#log];
  }

  busArn(name: string): string {
    return `arn:aws:events:${this.region}:${this.accountId}:event-bus/${name}`;
  }

  targetArn(target: EventBridgeTarget): string {
    return 'invoke' in target
      ? `arn:aws:lambda:${this.region}:${this.accountId}:function:${target.functionName}`
      : queueArn(target.queueUrl, this.region, this.accountId);
  }

  async putEvents(input: Record<string, unknown>) {
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_ENTRIES)
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
      );
    const size = entries.reduce(
      (total: number, entry) => total + (isObject(entry) ? entrySize(entry) : 0),
      0,
    );
    if (size > MAX_REQUEST_BYTES)
      throw new AwsServiceError(
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
    const results: EntryResult[] = [];
    for (const entry of entries) {
      const { result, event, bus } = this.#buildEvent(entry);
      results.push(result);
      if (event && bus) await this.#route(bus, event);
    }
    return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
  }

  /** Sends an AWS service's event through the default bus's rules; resolves once delivered. */
  publishServiceEvent(event: ServiceEvent): Promise<void> {
    return this.#route('default', {
      version: '0',
      id: randomUUID(),
      'detail-type': event.detailType,
      source: event.source,
      account: this.accountId,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [...event.resources],
      detail: event.detail,
    });
  }

  #compile(rule: EventBridgeRule): CompiledRule {
    let matches: EventMatcher;
    try {
      matches = compilePattern(rule.pattern);
    } catch (error) {
      throw new ConfigError(
        `rule "${rule.name}" on bus "${rule.eventBusName}": ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const path = rule.eventBusName === 'default' ? rule.name : `${rule.eventBusName}/${rule.name}`;
    return { ...rule, matches, arn: `arn:aws:events:${this.region}:${this.accountId}:rule/${path}` };
  }

  /** The envelope of a PutEvents entry, or the entry's error as PutEvents reports it. */
  #buildEvent(entry: unknown): { result: EntryResult; event?: EventEnvelope; bus?: string } {
    const checked = checkEntry(entry);
    if ('result' in checked) return checked;
    const { source, detailType, detail, resources, time } = checked;
    const bus = busName((entry as Record<string, unknown>).EventBusName);
    if (!this.buses.has(bus))
      return {
        result: { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${bus} does not exist.` },
      };
    const event: EventEnvelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: this.accountId,
      time,
      region: this.region,
      resources,
      detail,
    };
    return { result: { EventId: event.id }, event, bus };
  }

  async #route(bus: string, event: EventEnvelope): Promise<void> {
    for (const rule of this.rules) {
      if (rule.eventBusName !== bus || !rule.matches(event)) continue;
      for (const target of rule.targets) await this.#deliver(rule, target, event);
    }
  }

  async #deliver(rule: CompiledRule, target: EventBridgeTarget, event: EventEnvelope): Promise<void> {
    const body = JSON.stringify(event);
    let lastError: unknown;
    let attempt = 0;
    while (attempt < this.#attempts) {
      attempt++;
      try {
        await ('invoke' in target
          ? target.invoke(event)
          : this.#send(target.queueUrl, body, target.messageGroupId));
        this.#record({ ...deliveryOf(rule, target, event, attempt), outcome: 'delivered' });
        return;
      } catch (error) {
        lastError = error;
        // EventBridge retries only what may pass later; a missing queue goes to the DLQ at once.
        // A function's own error is retried (Lambda's asynchronous invoke retries it too).
        if (!('invoke' in target) && !isRetryable(error)) break;
        if (attempt < this.#attempts) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
      }
    }
    await this.#undelivered(rule, target, event, attempt, lastError);
  }

  /** An event its target did not take: to the target's DLQ when it has one, else dropped and logged. */
  async #undelivered(
    rule: CompiledRule,
    target: EventBridgeTarget,
    event: EventEnvelope,
    attempts: number,
    lastError: unknown,
  ): Promise<void> {
    const { name: errorCode, message } = describeError(lastError);
    const base = deliveryOf(rule, target, event, attempts);
    if (target.dlqUrl) {
      const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
      try {
        await this.#send(target.dlqUrl, JSON.stringify(event), undefined, {
          RULE_ARN: text(rule.arn),
          TARGET_ARN: text(this.targetArn(target)),
          ERROR_CODE: text(errorCode),
          ERROR_MESSAGE: text(message.slice(0, 1024) || errorCode),
          EXHAUSTED_RETRY_CONDITION: text('MaximumRetryAttempts'),
          RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(attempts - 1) },
        });
        this.#record({ ...base, outcome: 'dead-lettered', error: `${errorCode}: ${message}` });
        return;
      } catch (dlqError) {
        this.#logger.error(
          `event ${event.id} for rule ${rule.name} could not reach its DLQ ${target.dlqUrl}`,
          dlqError,
        );
      }
    } else {
      this.#logger.warn(`event ${event.id} for rule ${rule.name} was dropped: ${errorCode}: ${message}`);
    }
    this.#record({ ...base, outcome: 'failed', error: `${errorCode}: ${message}` });
  }

  #send(
    queueUrl: string,
    body: string,
    messageGroupId: string | undefined,
    attributes?: Record<string, MessageAttributeValue>,
  ) {
    return this.#sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: attributes,
        MessageGroupId: messageGroupId,
        MessageDeduplicationId: messageGroupId ? randomUUID() : undefined,
      }),
    );
  }

  #record(entry: DeliveryRecord): void {
    this.#log.push(entry);
    if (this.#log.length > this.#logSize) this.#log.splice(0, this.#log.length - this.#logSize);
  }
}

/** What every delivery record of one event and target says. */
function deliveryOf(rule: CompiledRule, target: EventBridgeTarget, event: EventEnvelope, attempts: number) {
  return {
    rule: rule.name,
    eventBusName: rule.eventBusName,
    target: 'invoke' in target ? target.functionName : target.queueUrl,
    attempts,
    event,
  };
}

/** The members of a PutEvents entry, checked as EventBridge checks them, or the entry's error. */
function checkEntry(entry: unknown):
  | { result: EntryResult }
  | {
      source: string;
      detailType: string;
      detail: Record<string, unknown>;
      resources: string[];
      time: string;
    } {
  if (!isObject(entry)) return { result: invalid('Entry', 'each entry must be an object.') };
  const { Source: source, DetailType: detailType, Detail: detailText } = entry;
  if (typeof source !== 'string' || source === '')
    return { result: invalid('Source', 'Source is a required argument.') };
  if (typeof detailType !== 'string' || detailType === '')
    return { result: invalid('DetailType', 'DetailType is a required argument.') };
  if (typeof detailText !== 'string' || detailText === '')
    return { result: invalid('Detail', 'Detail is a required argument.') };
  if (source.startsWith('aws.'))
    return {
      result: {
        ErrorCode: 'NotAuthorizedForSourceException',
        ErrorMessage: 'Not authorized for the source.',
      },
    };
  let detail: unknown;
  try {
    detail = JSON.parse(detailText);
  } catch {
    detail = undefined;
  }
  if (!isObject(detail))
    return { result: { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' } };
  const resources = entry.Resources ?? [];
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string'))
    return { result: invalid('Resources', 'Resources must be a list of strings.') };
  const time = eventTime(entry.Time);
  if (time === undefined) return { result: invalid('Time', 'Time is not a valid timestamp.') };
  return { source, detailType, detail, resources: resources as string[], time };
}

/** The operations that read the buses and rules, and test a pattern. */
function readOperations(bus: LocalEventBus): Record<string, AwsJsonOperation> {
  const describeRule = (rule: CompiledRule) => ({
    Name: rule.name,
    Arn: rule.arn,
    EventPattern: JSON.stringify(rule.pattern),
    State: 'ENABLED',
    EventBusName: rule.eventBusName,
  });
  return {
    ListRules: (input) => {
      const name = busName(input.EventBusName);
      const prefix = typeof input.NamePrefix === 'string' ? input.NamePrefix : '';
      return {
        Rules: bus.rules
          .filter((rule) => rule.eventBusName === name && rule.name.startsWith(prefix))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map(describeRule),
      };
    },
    ListTargetsByRule: (input) => listTargetsByRule(bus, input),
    DescribeEventBus: (input) => {
      const name = busName(input.Name);
      if (!bus.buses.has(name))
        throw new AwsServiceError('ResourceNotFoundException', `Event bus ${name} does not exist.`);
      return { Name: name, Arn: bus.busArn(name) };
    },
    TestEventPattern: testEventPattern,
  };
}

function listTargetsByRule(bus: LocalEventBus, input: Record<string, unknown>) {
  const name = requireString(input, 'Rule');
  const busNamed = busName(input.EventBusName);
  const rule = bus.rules.find((r) => r.name === name && r.eventBusName === busNamed);
  if (!rule)
    throw new AwsServiceError(
      'ResourceNotFoundException',
      `Rule ${name} does not exist on EventBus ${busNamed}.`,
    );
  return {
    Targets: rule.targets.map((target, i) => ({
      Id: `Target${i}`,
      Arn: bus.targetArn(target),
      ...(target.dlqUrl
        ? { DeadLetterConfig: { Arn: queueArn(target.dlqUrl, bus.region, bus.accountId) } }
        : {}),
      ...('messageGroupId' in target && target.messageGroupId
        ? { SqsParameters: { MessageGroupId: target.messageGroupId } }
        : {}),
    })),
  };
}

function testEventPattern(input: Record<string, unknown>) {
  const patternText = requireString(input, 'EventPattern');
  const eventText = requireString(input, 'Event');
  let matches: EventMatcher;
  try {
    matches = compilePattern(JSON.parse(patternText));
  } catch (error) {
    throw new AwsServiceError(
      'InvalidEventPatternException',
      `Event pattern is not valid. Reason: ${(error as Error).message}`,
    );
  }
  let event: unknown;
  try {
    event = JSON.parse(eventText);
  } catch {
    throw new AwsServiceError('InvalidEventPatternException', 'Event is not valid JSON.');
  }
  if (!isObject(event))
    throw new AwsServiceError('InvalidEventPatternException', 'Event must be a JSON object.');
  return { Result: matches(event) };
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import type { LambdaRuntime } from '../../local/lambda-runtime.ts';
import type { ExecutionRecord } from '../../local/stepfunctions-server.ts';
import { type DecoratedClient, decorateClients } from '../../shared/aws/clients.ts';
import {
  type CostBreakdown,
  costOfUsage,
  isDynamoWrite,
  type LambdaUsage,
  type ObservedRequest,
  priceOfRequest,
} from '../../shared/cost/estimate.ts';
import { PRICES } from '../../shared/cost/prices.ts';
import {
  CHUNK_BYTES,
  dynamoIndexUnits,
  dynamoTableOf,
  dynamoUnits,
  eventBridgeUnits,
  type IndexModel,
  sqsUnits,
} from '../../shared/cost/units.ts';

type Json = Record<string, unknown>;

/** One Lambda invocation as the benchmark saw it. */
export interface Invocation {
  /** Function folder, e.g. `load`. */
  readonly name: string;
  readonly ms: number;
  readonly memoryMb: number;
}

/** What one segment of work (a run, the raw copy) used. */
export interface SegmentUsage {
  readonly requests: readonly ObservedRequest[];
  readonly invocations: readonly Invocation[];
}

function bodyBytes(request: unknown): number {
  const body = (request as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') return Buffer.byteLength(body);
  return body instanceof Uint8Array ? body.byteLength : 0;
}

/** The global secondary indexes of a table, by its name. */
export type IndexesOf = (table: string) => readonly IndexModel[];

/** Billing units and resource of one request, from the SDK's input and output. */
function describe(
  service: string,
  operation: string,
  input: Json,
  output: Json | undefined,
  indexesOf: IndexesOf,
): Pick<ObservedRequest, 'units' | 'indexUnits' | 'resource'> {
  switch (service) {
    case 'DynamoDB': {
      const units = dynamoUnits(operation, input, output);
      const indexUnits = dynamoIndexUnits(operation, input, indexesOf);
      const resource = dynamoTableOf(input);
      return {
        ...(units !== undefined && { units }),
        ...(indexUnits > 0 && { indexUnits }),
        ...(resource && { resource }),
      };
    }
    case 'SQS':
      return {
        units: sqsUnits(operation, input, output),
        ...(typeof input.QueueUrl === 'string' && { resource: input.QueueUrl }),
      };
    case 'EventBridge':
      return operation === 'PutEvents' ? { units: eventBridgeUnits(input) } : {};
    default:
      return {};
  }
}

/**
 * Records what the handlers send to AWS and how long they run, one segment at a time. Every
 * client built by `createAwsClients` after {@link UsageRecorder.install} (the handlers build
 * theirs on their first invocation) counts its requests, with their billing units, while a
 * segment is open; the Lambda runtime's invocations are timed the same way.
 */
export class UsageRecorder {
  readonly #indexesOf: IndexesOf;
  #requests: ObservedRequest[] = [];
  #invocations: Invocation[] = [];
  #open = false;
  #uninstall: (() => void) | undefined;

  /** `indexesOf` names the global secondary indexes each table's writes also pay for. */
  constructor(indexesOf: IndexesOf = () => []) {
    this.#indexesOf = indexesOf;
  }

  /** Starts decorating clients. Call before the handlers first run. */
  install(): void {
    this.#uninstall ??= decorateClients((client: DecoratedClient) => this.#observe(client));
  }

  uninstall(): void {
    this.#uninstall?.();
    this.#uninstall = undefined;
  }

  #observe(client: DecoratedClient): void {
    // Every client's stack takes the same middleware; the union of their types does not say so.
    (client as DynamoDBClient).middlewareStack.add(
      (next, context) => async (args) => {
        if (!this.#open) return next(args);
        const service = (context.clientName ?? 'Unknown').replace(/Client$/, '');
        const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        const input = (args.input ?? {}) as Json;
        const bytes = bodyBytes(args.request);
        let output: Json | undefined;
        try {
          const result = await next(args);
          output = result.output as unknown as Json;
          return result;
        } finally {
          // Recorded whatever the outcome: a refused conditional write is billed as well.
          this.#requests.push({
            service,
            operation,
            bytes,
            ...describe(service, operation, input, output, this.#indexesOf),
          });
        }
      },
      { step: 'finalizeRequest', name: 'esyncBenchUsage', override: true },
    );
  }

  /**
   * Times every invocation of the local Lambda runtime. For each Load batch it also counts the
   * requests the SQS event source makes on the function's behalf (ReceiveMessage and
   * DeleteMessageBatch, 10 messages each), which on AWS are billed to the account as well; the
   * local poller's empty receives are left out, since AWS's long-polling pollers cost a fixed
   * amount an hour, not an amount per record.
   */
  instrument(runtime: LambdaRuntime): void {
    const invoke = runtime.invoke.bind(runtime);
    runtime.invoke = async (reference: string, event: unknown): Promise<unknown> => {
      const fn = runtime.resolve(reference);
      const started = performance.now();
      let ok = false;
      try {
        const result = await invoke(reference, event);
        ok = true;
        return result;
      } finally {
        if (this.#open) {
          const ms = performance.now() - started;
          this.#invocations.push({ name: fn.name, ms, memoryMb: fn.memoryMb ?? 1024 });
          const records = (event as Partial<SQSEvent>).Records;
          if (Array.isArray(records) && records[0]?.eventSource === 'aws:sqs')
            this.#eventSourceRequests(records, ok);
        }
      }
    };
  }

  #eventSourceRequests(records: SQSEvent['Records'], deleted: boolean): void {
    for (let i = 0; i < records.length; i += 10) {
      const group = records.slice(i, i + 10);
      const payload = group.reduce((sum, r) => sum + Buffer.byteLength(r.body), 0);
      const resource = group[0]?.eventSourceARN;
      this.#requests.push({
        service: 'SQS',
        operation: 'ReceiveMessage',
        bytes: 0,
        units: Math.max(1, Math.ceil(payload / CHUNK_BYTES)),
        ...(resource && { resource }),
      });
      if (deleted)
        this.#requests.push({
          service: 'SQS',
          operation: 'DeleteMessageBatch',
          bytes: 0,
          units: 1,
          ...(resource && { resource }),
        });
    }
  }

  /** Runs `work` as one segment and returns what it used. */
  async segment<T>(work: () => Promise<T>): Promise<{ result: T; usage: SegmentUsage; ms: number }> {
    if (this.#open) throw new Error('a usage segment is already open');
    this.#requests = [];
    this.#invocations = [];
    this.#open = true;
    const started = performance.now();
    try {
      const result = await work();
      return {
        result,
        usage: { requests: this.#requests, invocations: this.#invocations },
        ms: performance.now() - started,
      };
    } finally {
      this.#open = false;
    }
  }
}

/** State transitions Step Functions bills for an execution: every state entered. */
export function stateTransitions(execution: ExecutionRecord): number {
  return execution.events.filter((e) => e.type.endsWith('StateEntered')).length;
}

/** What a run cost, split the ways the benchmark reports it. */
export interface RunCost extends CostBreakdown {
  /** The target's own writes: what any copy into the table must pay. */
  readonly targetWriteUsd: number;
  readonly lambda: LambdaUsage;
  /** Lambda by function: invocations (polling normalized), milliseconds and GB-seconds. */
  readonly functions: readonly { name: string; invocations: number; ms: number; gbSeconds: number }[];
  readonly stateTransitions: number;
  /** Requests by service and operation: count, billing units, dollars. */
  readonly requests: readonly {
    service: string;
    operation: string;
    count: number;
    units: number;
    usd: number;
  }[];
}

export interface RunCostOptions {
  readonly usage: SegmentUsage;
  readonly executions: readonly ExecutionRecord[];
  /** The table the pipeline writes: its writes are the target's own cost, the rest is overhead. */
  readonly targetTable?: string;
}

/**
 * Prices a segment with shared/cost, the run report's pricing: requests by their billing units,
 * Lambda by measured duration (rounded up to the millisecond, as billed) and configured memory,
 * Step Functions by the transitions of the executions' histories.
 */
export function priceRun(options: RunCostOptions): RunCost {
  const { usage, executions } = options;
  const transitions = executions.reduce((sum, e) => sum + stateTransitions(e), 0);
  let gbSeconds = 0;
  const functions = new Map<string, { name: string; invocations: number; ms: number; gbSeconds: number }>();
  for (const i of usage.invocations) {
    const gbs = (Math.ceil(i.ms) / 1000) * (i.memoryMb / 1024);
    gbSeconds += gbs;
    const entry = functions.get(i.name) ?? { name: i.name, invocations: 0, ms: 0, gbSeconds: 0 };
    entry.invocations++;
    entry.ms += i.ms;
    entry.gbSeconds += gbs;
    functions.set(i.name, entry);
  }
  const invocations = usage.invocations.length;
  const lambda = { invocations, gbSeconds };
  const cost = costOfUsage({ requests: usage.requests, lambda, stateTransitions: transitions });
  let targetWriteUsd = 0;
  const byOperation = new Map<
    string,
    { service: string; operation: string; count: number; units: number; usd: number }
  >();
  const add = (service: string, operation: string, units: number, usd: number) => {
    const key = `${service} ${operation}`;
    const entry = byOperation.get(key) ?? { service, operation, count: 0, units: 0, usd: 0 };
    entry.count++;
    entry.units += units;
    entry.usd += usd;
    byOperation.set(key, entry);
  };
  for (const r of usage.requests) {
    const usd = priceOfRequest(r);
    if (r.service === 'DynamoDB' && r.resource === options.targetTable && isDynamoWrite(r.operation))
      targetWriteUsd += usd;
    // A request's index writes get a row of their own, so what the indexes cost shows.
    const indexUsd = (r.indexUnits ?? 0) * PRICES.dynamodbPerWru;
    add(r.service, r.operation, r.units ?? 1, usd - indexUsd);
    if (r.indexUnits) add(r.service, `${r.operation} (index writes)`, r.indexUnits, indexUsd);
  }
  return {
    ...cost,
    targetWriteUsd,
    lambda,
    functions: [...functions.values()].sort((a, b) => b.gbSeconds - a.gbSeconds),
    stateTransitions: transitions,
    requests: [...byOperation.values()].sort((a, b) => b.usd - a.usd || b.count - a.count),
  };
}

import { SQS_MAX_MESSAGE_BYTES } from '../pipeline/load-batching.ts';
import { PRICES } from './prices.ts';
import { CHUNK_BYTES } from './units.ts';

/** A request an AWS client sent, as the benchmark observes it or the run estimate models it. */
export interface ObservedRequest {
  /** `DynamoDB`, `SQS`, `S3`, `EventBridge`, `SFN`, `SecretsManager`. */
  readonly service: string;
  /** The API operation, e.g. `PutItem`. */
  readonly operation: string;
  /** Bytes of the request body. */
  readonly bytes: number;
  /**
   * Billing units (see units.ts): DynamoDB read or write request units, SQS requests (64 KB
   * chunks), EventBridge events.
   * @default - one unit per request (DynamoDB writes: `itemBytes` rounded up to whole KB)
   */
  readonly units?: number;
  /**
   * DynamoDB write units the request spent on global secondary indexes (`dynamoIndexUnits`),
   * billed at the write unit's price besides `units`.
   * @default 0
   */
  readonly indexUnits?: number;
  /** The table, queue or bucket, when known: splits the target's own writes from the platform's. */
  readonly resource?: string;
}

export interface CostBreakdown {
  readonly usd: number;
  /** Dollars per service: SQS, DynamoDB, S3, EventBridge, SecretsManager, Lambda, StepFunctions. */
  readonly byService: Readonly<Record<string, number>>;
}

/** Lambda usage: invocations and compute, from measured durations and configured memory. */
export interface LambdaUsage {
  readonly invocations: number;
  readonly gbSeconds: number;
}

/** Everything billable a piece of work used. */
export interface Usage {
  readonly requests: Iterable<ObservedRequest>;
  readonly lambda?: LambdaUsage;
  /** Step Functions Standard state transitions. */
  readonly stateTransitions?: number;
}

const DYNAMO_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'BatchExecuteStatement',
]);
const DYNAMO_READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);

/** True for a DynamoDB request billed in write request units. */
export function isDynamoWrite(operation: string): boolean {
  return DYNAMO_WRITES.has(operation);
}

/**
 * Dollars of one request by the price table. DynamoDB control-plane calls, Step Functions API
 * calls and S3 DeleteObject are free; transitions and Lambda are priced in {@link costOfUsage}.
 */
export function priceOfRequest(request: ObservedRequest, itemBytes = 1024): number {
  const units = request.units;
  switch (request.service) {
    case 'SQS':
      return (units ?? Math.max(1, Math.ceil(request.bytes / CHUNK_BYTES))) * PRICES.sqsPerRequest;
    case 'DynamoDB': {
      if (isDynamoWrite(request.operation)) {
        const fallback =
          request.operation === 'BatchWriteItem' || request.operation === 'BatchExecuteStatement' ? 25 : 1;
        const tableUnits = units ?? fallback * Math.max(1, Math.ceil(itemBytes / 1024));
        return (tableUnits + (request.indexUnits ?? 0)) * PRICES.dynamodbPerWru;
      }
      if (DYNAMO_READS.has(request.operation)) return (units ?? 1) * PRICES.dynamodbPerRru;
      return 0;
    }
    case 'S3': {
      const op = request.operation;
      if (op === 'DeleteObject') return 0;
      if (op.startsWith('Get') || op === 'HeadObject') return (units ?? 1) * PRICES.s3PerGet;
      return (units ?? 1) * (op.startsWith('List') ? PRICES.s3PerList : PRICES.s3PerPut);
    }
    case 'EventBridge':
      return request.operation === 'PutEvents' ? (units ?? 1) * PRICES.eventBridgePerEvent : 0;
    case 'SecretsManager':
      return PRICES.secretsManagerPerCall;
    default:
      return 0;
  }
}

function total(by: Readonly<Record<string, number>>): number {
  return Object.values(by).reduce((a, b) => a + b, 0);
}

/**
 * Dollars for a list of requests, by service. `itemBytes` is the item size assumed for
 * DynamoDB writes that carry no units.
 */
export function costOfRequests(
  requests: Iterable<ObservedRequest>,
  options: { readonly itemBytes?: number } = {},
): CostBreakdown {
  const by: Record<string, number> = {};
  for (const r of requests) {
    const usd = priceOfRequest(r, options.itemBytes);
    if (usd > 0) by[r.service] = (by[r.service] ?? 0) + usd;
  }
  return { usd: total(by), byService: by };
}

/** Dollars for requests, Lambda and Step Functions together: the one pricing of every estimate. */
export function costOfUsage(usage: Usage, options: { readonly itemBytes?: number } = {}): CostBreakdown {
  const by: Record<string, number> = { ...costOfRequests(usage.requests, options).byService };
  if (usage.lambda)
    by.Lambda =
      usage.lambda.gbSeconds * PRICES.lambdaPerGbSecond + usage.lambda.invocations * PRICES.lambdaPerRequest;
  if (usage.stateTransitions) by.StepFunctions = usage.stateTransitions * PRICES.stepFunctionsPerTransition;
  return { usd: total(by), byService: by };
}

/** What a batch run's report knows, from which its requests are modelled. */
export interface RunCostInput {
  /** Records extracted (each went through the queue once). */
  readonly records: number;
  /** Queue messages the records were packed in, sent or not. */
  readonly messages: number;
  /**
   * Of `messages` and `records`, those left unsent because an earlier verified run loaded them
   * clean (unchanged-messages.ts): each costs its ledger registration only, registered done
   * outside the pending index, never queued, loaded, completed or read at the target by Load.
   * @default - none
   */
  readonly unsent?: { readonly messages: number; readonly records: number };
  /** Records written to the target. */
  readonly written: number;
  /** Keys whose target state Load read before deciding (none on a first full load; never those of unsent messages). */
  readonly stateReads: number;
  /** Keys Verify read back from the target. */
  readonly verified: number;
  readonly meanRecordBytes: number;
  /** Extract invocations (partitions and their continuations). */
  readonly extractInvocations: number;
  /** AwaitLoad's polls while the queue drained (its wait follows Load's pace, so it is counted). */
  readonly awaitLoadPolls: number;
  /** Seconds the other phase functions ran, each at its configured memory. */
  readonly phaseGbSeconds: number;
  readonly targetIsDynamoDb: boolean;
  /** Messages per Load invocation: the pipeline's `load.batchSize`. */
  readonly loadBatchSize: number;
  /** Each written change is also archived for `esync history` (one S3 object each). */
  readonly archivesChanges: boolean;
}

/**
 * Load's billed time per record on AWS (1 GB function): the load path's CPU (about 20 µs a
 * record, `npm run bench` cpu) and one conditional PutItem of a few milliseconds, 16 in flight
 * at once, rounded up generously. The local stack measures several times more (its emulated
 * servers share two cores with the handlers): the benchmark reports that as `loadMsPerRecord`.
 */
export const LOAD_MS_PER_RECORD = 2;
/** SQS hands over, and deletes, at most 10 messages per call. */
const SQS_BATCH = 10;
/** Transitions of a run outside the Execute map and the AwaitLoad loop (Start to Succeed). */
const FIXED_TRANSITIONS = 12;
/** Small DynamoDB writes of the run's bookkeeping (run record, phases, checkpoint) and reads. */
const BOOKKEEPING_WRITES = 16;
const BOOKKEEPING_READS = 12;

/**
 * The queue's requests for `sent` messages of `messageBytes` each: SendMessageBatch calls of up to
 * 10 messages and 1 MiB, and the event source's receives and deletes of one Load invocation's
 * `loadBatchSize` messages (10 at most per call), each call billed per 64 KB chunk it carries.
 */
function queueRequests(sent: number, messageBytes: number, loadBatchSize: number): ObservedRequest[] {
  const calls = (perCall: number) => {
    const count = Math.ceil(sent / perCall);
    const chunks = Math.max(1, Math.ceil((messageBytes * Math.min(perCall, sent)) / CHUNK_BYTES));
    return { count, units: count * chunks };
  };
  const fitting = Math.floor(SQS_MAX_MESSAGE_BYTES / Math.max(1, messageBytes));
  const sends = calls(Math.max(1, Math.min(SQS_BATCH, fitting)));
  const receives = calls(Math.min(SQS_BATCH, loadBatchSize));
  return [
    { service: 'SQS', operation: 'SendMessageBatch', bytes: 0, units: sends.units },
    { service: 'SQS', operation: 'ReceiveMessage', bytes: 0, units: receives.units },
    { service: 'SQS', operation: 'DeleteMessageBatch', bytes: 0, units: receives.count },
  ];
}

/**
 * Models the requests of one batch run from its counts and prices them with
 * {@link costOfUsage}, the function that prices the benchmark's observed requests: the run
 * report and the benchmark differ only in counting versus modelling the requests. The model
 * follows the code: Extract registers each message in the ledger (BatchWriteItem) and sends
 * it (SendMessageBatch, 10 or 1 MiB per call), unless an earlier verified run loaded it clean (then it
 * is registered done and nothing else); the event source receives and deletes them,
 * `load.batchSize` to an invocation; Load reads
 * the target's state (BatchGetItem, eventually consistent) unless the run is a first load,
 * writes each changed record (PutItem) and, when the pipeline keeps history, archives it (one
 * S3 PutObject each), and completes the message in the ledger (UpdateItem);
 * Verify reads every compared key back; Cleanup writes two report objects and one event.
 */
export function estimateRunCost(input: RunCostInput): CostBreakdown & { usdPerMillionRecords: number } {
  const unsent = input.unsent ?? { messages: 0, records: 0 };
  const sent = Math.max(0, input.messages - unsent.messages);
  const sentRecords = Math.max(0, input.records - unsent.records);
  const recordsPerMessage = sentRecords / Math.max(1, sent);
  const messageBytes = recordsPerMessage * input.meanRecordBytes;
  const itemKb = Math.max(1, Math.ceil(input.meanRecordBytes / 1024));
  const readUnits = 0.5 * Math.max(1, Math.ceil(input.meanRecordBytes / 4096));
  const requests: ObservedRequest[] = [
    ...queueRequests(sent, messageBytes, input.loadBatchSize),
    // Each sent message enters the ledger's pending index (gsi1) when registered and leaves it
    // when completed; an unsent one is registered done, outside it. The run's updates rewrite
    // its entry in the same index (counted for every bookkeeping write, an upper bound).
    {
      service: 'DynamoDB',
      operation: 'BatchWriteItem',
      bytes: 0,
      units: sent + unsent.messages,
      indexUnits: sent,
    },
    {
      service: 'DynamoDB',
      operation: 'UpdateItem',
      bytes: 0,
      units: sent + BOOKKEEPING_WRITES,
      indexUnits: sent + BOOKKEEPING_WRITES,
    },
    { service: 'DynamoDB', operation: 'GetItem', bytes: 0, units: BOOKKEEPING_READS },
    {
      service: 'DynamoDB',
      operation: 'BatchGetItem',
      bytes: 0,
      units: (input.stateReads + input.verified) * readUnits,
    },
    { service: 'S3', operation: 'PutObject', bytes: 0 },
    { service: 'S3', operation: 'PutObject', bytes: 0 },
    { service: 'EventBridge', operation: 'PutEvents', bytes: 0, units: 1 },
  ];
  if (input.targetIsDynamoDb)
    requests.push({ service: 'DynamoDB', operation: 'PutItem', bytes: 0, units: input.written * itemKb });
  if (input.archivesChanges)
    requests.push({ service: 'S3', operation: 'PutObject', bytes: 0, units: input.written });
  const awaitPolls = Math.max(1, input.awaitLoadPolls);
  const loadInvocations = Math.ceil(sent / input.loadBatchSize);
  const cost = costOfUsage({
    requests,
    lambda: {
      invocations: 5 + input.extractInvocations + awaitPolls + loadInvocations,
      gbSeconds: input.phaseGbSeconds + (sentRecords * LOAD_MS_PER_RECORD) / 1000,
    },
    // Start, Discover, Plan, Execute, Verify, Cleanup...; per Extract: task and choice; per poll: task, choice, wait.
    stateTransitions: FIXED_TRANSITIONS + input.extractInvocations * 2 + awaitPolls * 3,
  });
  return { ...cost, usdPerMillionRecords: input.records > 0 ? (cost.usd / input.records) * 1e6 : 0 };
}

import { PRICES } from './prices.ts';

/** A request an AWS client sent, as the request observer (shared/aws/clients.ts) saw it. */
export interface ObservedRequest {
  readonly service: string;
  readonly operation: string;
  readonly bytes: number;
}

export interface CostBreakdown {
  readonly usd: number;
  readonly byService: Readonly<Record<string, number>>;
}

const DYNAMO_WRITE_OPS = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const DYNAMO_READ_OPS = new Set(['GetItem', 'Query', 'Scan']);

/**
 * Dollars for a list of observed requests. DynamoDB units follow item sizes: `itemBytes`
 * gives the mean item size (writes round up per KB; BatchGetItem counts `keysPerBatchGet`
 * eventually consistent reads of 4 KB units).
 */
export function costOfRequests(
  requests: Iterable<ObservedRequest & { readonly units?: number }>,
  options: { readonly itemBytes?: number } = {},
): CostBreakdown {
  const itemKb = Math.max(1, Math.ceil((options.itemBytes ?? 1024) / 1024));
  const by: Record<string, number> = {};
  const add = (service: string, usd: number) => {
    by[service] = (by[service] ?? 0) + usd;
  };
  for (const r of requests) {
    switch (r.service) {
      case 'SQS':
        add('SQS', Math.max(1, Math.ceil(r.bytes / PRICES.sqsChunkBytes)) * PRICES.sqsPerRequest);
        break;
      case 'DynamoDB':
        if (DYNAMO_WRITE_OPS.has(r.operation)) add('DynamoDB', (r.units ?? itemKb) * PRICES.dynamodbPerWru);
        else if (r.operation === 'BatchWriteItem') add('DynamoDB', (r.units ?? 25) * PRICES.dynamodbPerWru);
        else if (r.operation === 'BatchGetItem')
          add('DynamoDB', (r.units ?? 100) * 0.5 * PRICES.dynamodbPerRru);
        else if (DYNAMO_READ_OPS.has(r.operation)) add('DynamoDB', (r.units ?? 1) * PRICES.dynamodbPerRru);
        break;
      case 'S3':
        add(
          'S3',
          r.operation.startsWith('Get') || r.operation === 'HeadObject'
            ? PRICES.s3PerGet
            : r.operation.startsWith('List')
              ? PRICES.s3PerList
              : PRICES.s3PerPut,
        );
        break;
      case 'EventBridge':
        add('EventBridge', PRICES.eventBridgePerEvent);
        break;
      case 'SFN':
        break;
      case 'SecretsManager':
        add('SecretsManager', PRICES.secretsManagerPerCall);
        break;
      default:
        break;
    }
  }
  return { usd: Object.values(by).reduce((a, b) => a + b, 0), byService: by };
}

export interface RunCostInput {
  /** Records that went through the queue. */
  readonly records: number;
  readonly messages: number;
  /** Records written to the target (DynamoDB targets: one WRU per KB each). */
  readonly written: number;
  /** Keys whose state was read before deciding. */
  readonly stateReads: number;
  readonly meanRecordBytes: number;
  readonly stateTransitions: number;
  /** Lambda GB-seconds, from measured durations and memory sizes. */
  readonly lambdaGbSeconds: number;
  readonly lambdaInvocations: number;
  readonly events: number;
  readonly targetIsDynamoDb: boolean;
}

/** Estimate for one run from its counts, priced with the same table as the benchmark. */
export function estimateRunCost(input: RunCostInput): CostBreakdown & { usdPerMillionRecords: number } {
  const chunksPerMessage = Math.max(
    1,
    Math.ceil(((input.records / Math.max(1, input.messages)) * input.meanRecordBytes) / PRICES.sqsChunkBytes),
  );
  // send, receive and delete, each batched 10 messages per call
  const sqsRequests = Math.ceil(input.messages / 10) * 3 * chunksPerMessage;
  const kb = Math.max(1, Math.ceil(input.meanRecordBytes / 1024));
  const ledgerWrites = input.messages * 2;
  const by: Record<string, number> = {
    SQS: sqsRequests * PRICES.sqsPerRequest,
    DynamoDB:
      (input.targetIsDynamoDb ? input.written * kb : 0) * PRICES.dynamodbPerWru +
      ledgerWrites * PRICES.dynamodbPerWru +
      input.stateReads * 0.5 * Math.ceil(kb / 4) * PRICES.dynamodbPerRru,
    Lambda:
      input.lambdaGbSeconds * PRICES.lambdaPerGbSecond + input.lambdaInvocations * PRICES.lambdaPerRequest,
    StepFunctions: input.stateTransitions * PRICES.stepFunctionsPerTransition,
    EventBridge: input.events * PRICES.eventBridgePerEvent,
  };
  const usd = Object.values(by).reduce((a, b) => a + b, 0);
  return { usd, byService: by, usdPerMillionRecords: input.records > 0 ? (usd / input.records) * 1e6 : 0 };
}

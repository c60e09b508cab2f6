/**
 * AWS list prices used for every cost estimate (run reports and the benchmark), in one place.
 * Region us-east-1, on-demand, checked 2026-11-01 against the public pricing pages. Update the
 * date with the numbers.
 */
export const PRICES = {
  asOf: '2026-11-01',
  region: 'us-east-1',
  /** Standard queue, per request; each 64 KB chunk of a payload is billed as one request. */
  sqsPerRequest: 0.4 / 1e6,
  sqsChunkBytes: 64 * 1024,
  /** On-demand write request unit (1 KB, rounded up per item). */
  dynamodbPerWru: 0.625 / 1e6,
  /** On-demand read request unit (4 KB strongly consistent; eventually consistent costs half). */
  dynamodbPerRru: 0.125 / 1e6,
  /** Lambda arm64 compute per GB-second, and per request. */
  lambdaPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1e6,
  /** Step Functions Standard, per state transition. */
  stepFunctionsPerTransition: 0.025 / 1000,
  /** EventBridge custom events, per 64 KB chunk. */
  eventBridgePerEvent: 1.0 / 1e6,
  s3PerPut: 0.005 / 1000,
  s3PerGet: 0.0004 / 1000,
  s3PerList: 0.005 / 1000,
  secretsManagerPerCall: 0.05 / 10_000,
} as const;

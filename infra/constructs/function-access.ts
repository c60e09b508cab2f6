import * as iam from 'aws-cdk-lib/aws-iam';
import type { FunctionName } from '../../shared/usecases/contracts.ts';

/** Data bucket prefixes a function reads, writes or deletes under (see DATA_PREFIXES). */
export interface ObjectAccess {
  /** ListBucket on the data bucket. @default false */
  readonly list?: boolean;
  /** Prefixes it reads objects under. @default - none */
  readonly get?: readonly string[];
  /** Prefixes it writes objects under. @default - none */
  readonly put?: readonly string[];
  /** Prefixes it deletes objects under. @default - none */
  readonly delete?: readonly string[];
}

/**
 * What one function may touch. Shared resources are granted by {@link grantCoreAccess}; the
 * per-pipeline parts (queues, sources, targets, secrets, state machines) by each pipeline.
 */
export interface FunctionAccess {
  /** Reads every pipeline's source, and the source's secrets. @default false */
  readonly source?: boolean;
  /**
   * Reads a record again at a source whose API answers for one (GitHub), with the source's
   * secrets, to decide version ties (`usecases/source-ties.ts`).
   * @default false
   */
  readonly rereadSource?: boolean;
  /** Reads (or reads and writes) every pipeline's target, and the target's secrets. @default - neither */
  readonly target?: 'read' | 'write';
  /** Sends load messages to the pipelines' load queues. @default false */
  readonly sendToQueues?: boolean;
  /** Reads the depth of the load queues and DLQs. @default false */
  readonly inspectQueues?: boolean;
  /** Peeks at dead letters and redrives them. @default false */
  readonly handleDeadLetters?: boolean;
  /** Starts runs (executions of the pipelines' state machines). @default false */
  readonly startRuns?: boolean;
  /** Puts `esync.*` events on the ESync bus. @default false */
  readonly putEvents?: boolean;
  /** Uses the Powertools idempotency table. @default false */
  readonly idempotency?: boolean;
  /** Reads the stage's mask key (the key of `mask: hash`). @default false */
  readonly maskKey?: boolean;
  /** Reads the webhook signing secrets. @default false */
  readonly webhookSecrets?: boolean;
  /** Gets the per-pipeline part only for pipelines that take webhooks. @default false */
  readonly webhookPipelinesOnly?: boolean;
  /** What it does in the data bucket. @default - nothing */
  readonly objects?: ObjectAccess;
}

/**
 * The whole access map, in one place to review. Every function reads and writes the state table
 * and uses the stage key besides what is listed here, except `alert-webhook`, which only queries
 * the runs index and reads the chat webhooks' URL secrets (AlertWebhooks grants them).
 */
export const FUNCTION_ACCESS: Readonly<Record<FunctionName, FunctionAccess>> = {
  discover: { source: true, target: 'read', putEvents: true },
  // Plan deletes the quarantine objects of the messages a resumed plan abandons (resume.ts).
  plan: {
    source: true,
    objects: { get: ['plans/'], put: ['manifests/', 'plans/'], delete: ['quarantine/'] },
  },
  extract: { source: true, sendToQueues: true, objects: { put: ['claim-check/'] } },
  load: {
    target: 'write',
    rereadSource: true,
    putEvents: true,
    maskKey: true,
    objects: { get: ['claim-check/'], put: ['quarantine/'] },
  },
  'await-load': { inspectQueues: true, objects: { delete: ['plans/'] } },
  verify: {
    source: true,
    maskKey: true,
    target: 'read',
    sendToQueues: true,
    objects: {
      get: ['plans/', 'reports/'],
      put: ['reports/', 'claim-check/', 'manifests/'],
      delete: ['plans/'],
    },
  },
  cleanup: {
    putEvents: true,
    objects: {
      list: true,
      get: ['reports/'],
      put: ['reports/'],
      delete: ['claim-check/', 'manifests/', 'plans/'],
    },
  },
  'record-failure': { putEvents: true, objects: { put: ['reports/'] } },
  'run-ended': { putEvents: true },
  webhook: {
    sendToQueues: true,
    idempotency: true,
    webhookSecrets: true,
    webhookPipelinesOnly: true,
    objects: { put: ['claim-check/'] },
  },
  api: {
    target: 'write',
    sendToQueues: true,
    inspectQueues: true,
    handleDeadLetters: true,
    startRuns: true,
    putEvents: true,
    objects: { list: true, get: ['reports/', 'quarantine/'], put: ['claim-check/'] },
  },
  'alert-webhook': {},
};

/** State table operations of the repositories in shared/state (single-item writes, queries, batches). */
export const STATE_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:Query',
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
];

/** What Powertools' DynamoDBPersistenceLayer calls. */
export const IDEMPOTENCY_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];

/** Lets `grantee` call `actions` on exactly `resourceArns`; the primitive every grant here uses. */
export function grantOn(
  grantee: iam.IGrantable,
  actions: readonly string[],
  resourceArns: readonly string[],
): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns: [...resourceArns] });
}

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
// shared/lambda/tracing.ts, or tracing-off.ts in a bundle built without tracing (package.json imports).
import { handlerTracing } from '#esync/tracing';
import type { IgnoredEventKind } from '../cdc/debezium-kinds.ts';
import type { Log } from '../usecases/deps.ts';

/** Namespace of ESync's custom metrics; the CDK alarms read the same names. */
export const METRICS_NAMESPACE = 'ESync';

/** Metric names emitted by the load path and runs, with dimension `pipeline`. */
export const METRIC = {
  recordsProcessed: 'RecordsProcessed',
  recordsLoaded: 'RecordsLoaded',
  recordsSkipped: 'RecordsSkipped',
  recordsFiltered: 'RecordsFiltered',
  recordsFailed: 'RecordsFailed',
  conflicts: 'Conflicts',
  quarantined: 'RecordsQuarantined',
  deadLettered: 'RecordsDeadLettered',
  poisonMessages: 'PoisonMessages',
  webhookDeliveries: 'WebhookDeliveries',
  runsCompleted: 'RunsCompleted',
  runsFailed: 'RunsFailed',
  phaseDuration: 'PhaseDuration',
  messagesProcessed: 'MessagesProcessed',
  webhookRefused: 'WebhookRefused',
  /** Signed deliveries of an event type the pipeline's mapping does not take (answered 202 `ignored`). */
  webhookIgnored: 'WebhookIgnored',
  /** CDC fields left as the target stored them (Debezium's unavailable value, e.g. unchanged TOAST). */
  unavailableFields: 'CdcUnavailableFields',
  /** Changes that met another change of the same version (or instant, at a source with an API) with other content. */
  versionTies: 'VersionTies',
  /** Of those, the ties decided by reading the record again at the source (`usecases/source-ties.ts`). */
  versionTiesReread: 'VersionTiesReread',
  /** Columns of a batch run's source added, removed or retyped since the schema its pipeline accepted. */
  schemaDrift: 'SchemaDrift',
  /** Records a batch run loaded without the columns `schema.onDrift: discard` leaves out. */
  fieldsDiscarded: 'RecordsWithFieldsDiscarded',
} as const;

/** Metric of each CDC event kind that changes no row, counted as such. */
export const IGNORED_EVENT_METRIC = {
  tombstone: 'CdcTombstones',
  heartbeat: 'CdcHeartbeats',
  transaction: 'CdcTransactionEvents',
  'schema-change': 'CdcSchemaChanges',
  message: 'CdcMessages',
} as const satisfies Record<IgnoredEventKind, string>;

export interface Observability {
  readonly logger: Logger;
  /** The handler's tracing middlewares: none when the stage's bundles leave tracing out. */
  readonly tracing: MiddlewareObj[];
  readonly metrics: Metrics;
  readonly log: Log;
}

/**
 * Publishes the metrics an invocation recorded, after it and on its error, as Powertools'
 * `logMetrics` middleware does, but only when there are some: an invocation with nothing to count
 * (an empty batch, a management read) would otherwise print Powertools' "No application metrics
 * to publish" warning on every such invocation.
 */
export function publishRecordedMetrics(metrics: Metrics): MiddlewareObj {
  const publish = async () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
}

/**
 * Logger, tracing middlewares and Metrics of one function. Tracing and metrics follow the
 * Powertools environment variables (the local stack turns them off); logs are JSON with the function's
 * correlation ids appended per invocation.
 */
export function createObservability(functionName: string): Observability {
  const serviceName = `esync-${functionName}`;
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
  const log: Log = {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
  return { logger, tracing: handlerTracing(serviceName), metrics, log };
}

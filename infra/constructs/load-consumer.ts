import { Duration } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { loadBatchingProblem } from '../../shared/pipeline/load-batching.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import type { FunctionPlacement } from './database-network.ts';
import type { EsyncFunction } from './esync-function.ts';
import { KafkaSource } from './kafka-source.ts';

export interface LoadConsumerProps {
  readonly pipeline: Pipeline;
  readonly loadQueue: sqs.IQueue;
  readonly loadFunction: EsyncFunction;
  /**
   * The Load function's VPC side, when it has one: a self-managed Kafka cluster is reached from it.
   * @default - outside any VPC
   */
  readonly placement?: FunctionPlacement;
}

/**
 * Connects a pipeline's load queue to its Load function: batches of `load.batchSize` messages
 * gathered for up to `load.batchingWindowSeconds`, partial batch responses (a failed message alone
 * is retried), and at most `load.maxConcurrency` concurrent invocations, which is what protects
 * the target from a burst.
 */
export class LoadConsumer extends Construct {
  readonly eventSourceMappingId: string;

  constructor(scope: Construct, id: string, props: LoadConsumerProps) {
    super(scope, id);
    const { load, name } = props.pipeline;
    const problem = loadBatchingProblem(load.batchSize, load.batchingWindowSeconds);
    if (problem) throw new Error(`pipeline ${name}: load.${problem.field}: ${problem.message}`);
    const source = new SqsEventSource(props.loadQueue, {
      batchSize: load.batchSize,
      maxBatchingWindow:
        load.batchingWindowSeconds > 0 ? Duration.seconds(load.batchingWindowSeconds) : undefined,
      reportBatchItemFailures: true,
      maxConcurrency: load.maxConcurrency,
    });
    props.loadFunction.addEventSource(source);
    this.eventSourceMappingId = source.eventSourceMappingId;
    const trigger = props.pipeline.triggers.kafka;
    if (trigger)
      new KafkaSource(this, 'Kafka', {
        pipeline: props.pipeline,
        trigger,
        loadFunction: props.loadFunction,
        ...(props.placement ? { placement: props.placement } : {}),
      });
  }
}

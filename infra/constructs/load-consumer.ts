import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Pipeline } from '../../shared/pipeline/schema.ts';

export interface LoadConsumerProps {
  readonly pipeline: Pipeline;
  readonly loadQueue: sqs.IQueue;
  readonly loadFunction: lambda.IFunction;
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
    if (load.batchSize > 10 && load.batchingWindowSeconds < 1)
      throw new Error(
        `pipeline ${name}: load.batchSize ${load.batchSize} is above 10, which SQS event sources allow only with load.batchingWindowSeconds of at least 1 (got ${load.batchingWindowSeconds})`,
      );
    const source = new SqsEventSource(props.loadQueue, {
      batchSize: load.batchSize,
      maxBatchingWindow:
        load.batchingWindowSeconds > 0 ? Duration.seconds(load.batchingWindowSeconds) : undefined,
      reportBatchItemFailures: true,
      maxConcurrency: load.maxConcurrency,
    });
    props.loadFunction.addEventSource(source);
    this.eventSourceMappingId = source.eventSourceMappingId;
  }
}

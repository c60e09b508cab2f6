import { Arn, ArnFormat, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaBase from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { loadBatchingProblem } from '../../shared/pipeline/load-batching.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import type { EsyncFunction } from './esync-function.ts';

export interface LoadConsumerProps {
  readonly pipeline: Pipeline;
  readonly loadQueue: sqs.IQueue;
  readonly loadFunction: EsyncFunction;
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
    const kafka = props.pipeline.triggers.kafka;
    if (kafka) this.addKafkaSource(props.loadFunction, name, kafka);
  }

  /**
   * Debezium topics on MSK feed the same Load function. The mapping and its permissions are
   * written out rather than taken from `ManagedKafkaEventSource`, which attaches an AWS managed
   * policy broader than these reads.
   */
  private addKafkaSource(
    fn: EsyncFunction,
    pipeline: string,
    kafka: NonNullable<Pipeline['triggers']['kafka']>,
  ) {
    const arn = Arn.split(kafka.clusterArn, ArnFormat.SLASH_RESOURCE_NAME);
    const [clusterName, clusterUuid] = (arn.resourceName ?? '').split('/');
    const base = `arn:${arn.partition}:kafka:${arn.region}:${arn.account}`;
    const group = `esync-${pipeline}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'kafka:DescribeCluster',
          'kafka:DescribeClusterV2',
          'kafka:GetBootstrapBrokers',
          'kafka-cluster:Connect',
        ],
        resources: [kafka.clusterArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: kafka.topics.map((t) => `${base}:topic/${clusterName}/${clusterUuid}/${t}`),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        resources: [`${base}:group/${clusterName}/${clusterUuid}/${group}`],
      }),
    );
    // Lambda reaches the brokers through network interfaces in the cluster's VPC, created under
    // the function's role.
    fn.allowNetworkInterfaces();
    for (const topic of kafka.topics)
      new lambdaBase.EventSourceMapping(this, `Kafka${topic.replace(/[^A-Za-z0-9]/g, '')}`, {
        target: fn,
        eventSourceArn: kafka.clusterArn,
        kafkaTopic: topic,
        batchSize: kafka.batchSize,
        startingPosition:
          kafka.startingPosition === 'LATEST'
            ? lambdaBase.StartingPosition.LATEST
            : lambdaBase.StartingPosition.TRIM_HORIZON,
        kafkaConsumerGroupId: group,
      });
  }
}

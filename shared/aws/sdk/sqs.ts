import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';

export const buildSqsClient = (config: SQSClientConfig): SQSClient => new SQSClient(config);

import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';

export const buildSqsClient = (config: SQSClientConfig): SQSClient => new SQSClient(config);

/** The command the sync path sends, in this chunk with the client (see shared/aws/sqs-commands.ts). */
export { SendMessageBatchCommand } from '@aws-sdk/client-sqs';

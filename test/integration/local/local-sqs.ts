import type { Server } from 'node:http';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import { closeServer } from '../../../local/aws-json-server.ts';

/** A local-aws-sqs server on a free port with an SQS client pointed at it, for tests. */
export interface LocalSqs {
  readonly endpoint: string;
  readonly sqs: SQSClient;
  /** Creates a queue; returns its URL and ARN. */
  createQueue(
    name: string,
    attributes?: Record<string, string>,
  ): Promise<{ readonly queueUrl: string; readonly queueArn: string }>;
  stop(): Promise<void>;
}

export async function startLocalSqs(): Promise<LocalSqs> {
  const server: Server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    emulateQueueCreationLifecycle: false,
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://127.0.0.1:${port}`;
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  return {
    endpoint,
    sqs,
    async createQueue(name, attributes) {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      if (!QueueUrl) throw new Error(`queue ${name} was not created`);
      return { queueUrl: QueueUrl, queueArn: `arn:aws:sqs:us-east-1:123456789012:${name}` };
    },
    async stop() {
      sqs.destroy();
      await closeServer(server);
    },
  };
}

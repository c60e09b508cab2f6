import type { SQSEvent } from 'aws-lambda';
import { LOCAL_REGION } from '../../local/servers.ts';

/**
 * The SQS event Lambda hands a function for `bodies` received from the queue `queueArn`, each on
 * its first receive; message ids are `<prefix>-<index>` unless `ids` names them.
 */
export function sqsEventOf(
  queueArn: string,
  bodies: readonly string[],
  ids: (index: number) => string = (i) => `m-${i}`,
): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: ids(i),
      receiptHandle: `r-${ids(i)}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: LOCAL_REGION,
    })),
  };
}

import type { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '../shared/errors.ts';
import type { JournaledMessage, SqsJournalState } from './sqs-journal.ts';

/** SQS's longest DelaySeconds and VisibilityTimeout. */
const MAX_DELAY_SECONDS = 900;
const MAX_VISIBILITY_SECONDS = 43_200;

type SqsModule = typeof import('@aws-sdk/client-sqs');

/** How long a restoring receive waits for the message it put back. */
const RESTORE_WAIT_SECONDS = 5;

const secondsUntil = (at: number, now: number) => Math.max(0, Math.ceil((at - now) / 1000));

/**
 * Puts back what the journal says the queues held, through the (journaled) server, before any
 * consumer polls: the queues (dead-letter queues first, their sources check them), then on each
 * queue the messages already received, one at a time so each is the only visible message,
 * received as often as before (local-aws-sqs keeps ApproximateReceiveCount) and left invisible
 * until the restore is over — not until its visibility timeout: the consumers that held it ran in
 * the process that died, so it is redelivered at once, as after a consumer's crash on AWS once
 * the timeout has passed — then the messages never received, with what is left of their delay. FIFO messages come back with their group and
 * deduplication ids but without receive counts (a receive would lock their group).
 */
export async function restoreSqsJournal(
  endpoint: string,
  accountId: string,
  state: SqsJournalState,
): Promise<void> {
  const sqs = await import('@aws-sdk/client-sqs');
  const client = new sqs.SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const queues = [...state.queues].sort(
      (a, b) => Number('RedrivePolicy' in a.attributes) - Number('RedrivePolicy' in b.attributes),
    );
    for (const { name, attributes } of queues)
      await client.send(new sqs.CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const total = [...state.messages.values()].reduce((n, m) => n + m.length, 0);
    // Long enough for the rest of the restore, so a restored message does not show up in it.
    const holdSeconds = Math.min(MAX_VISIBILITY_SECONDS, 5 + Math.ceil(total / 50));
    for (const [name, messages] of state.messages) {
      if (!queues.some((q) => q.name === name)) continue;
      const url = `${endpoint}/${accountId}/${name}`;
      const fifo = name.endsWith('.fifo');
      const received = fifo ? [] : messages.filter((m) => m.receiveCount > 0);
      for (const message of received) await restoreReceived(client, sqs, url, message, holdSeconds);
      await sendWaiting(client, sqs, url, fifo ? messages : messages.filter((m) => m.receiveCount === 0));
    }
  } finally {
    client.destroy();
  }
}

async function restoreReceived(
  client: SQSClient,
  sqs: SqsModule,
  url: string,
  message: JournaledMessage,
  holdSeconds: number,
): Promise<void> {
  const sent = await client.send(new sqs.SendMessageCommand({ QueueUrl: url, ...messageInput(message) }));
  // Whoever had received it died with the process: it is visible again once the restore is over.
  const visibility = holdSeconds;
  for (let n = 1; n <= message.receiveCount; n++) {
    const out = await client.send(
      new sqs.ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 1,
        VisibilityTimeout: n === message.receiveCount ? visibility : 0,
        // The server shows a message again on a timer: on a busy machine a receive that does not
        // wait may come before it (it answers as soon as the message is there).
        WaitTimeSeconds: RESTORE_WAIT_SECONDS,
      }),
    );
    const got = out.Messages?.[0]?.MessageId;
    if (got !== sent.MessageId)
      throw new ConfigError(
        `restoring queue ${url}: expected message ${sent.MessageId} back, got ${got ?? 'none'}`,
      );
  }
}

async function sendWaiting(
  client: SQSClient,
  sqs: SqsModule,
  url: string,
  messages: readonly JournaledMessage[],
): Promise<void> {
  const now = Date.now();
  const fifo = url.endsWith('.fifo');
  for (let i = 0; i < messages.length; i += 10) {
    const out = await client.send(
      new sqs.SendMessageBatchCommand({
        QueueUrl: url,
        Entries: messages.slice(i, i + 10).map((m, j) => ({
          Id: String(j),
          ...messageInput(m),
          ...(!fifo && { DelaySeconds: Math.min(MAX_DELAY_SECONDS, secondsUntil(m.visibleAt, now)) }),
        })),
      }),
    );
    if (out.Failed && out.Failed.length > 0)
      throw new ConfigError(`restoring the messages of queue ${url} failed: ${out.Failed[0]?.Message}`);
  }
}

function messageInput(m: JournaledMessage) {
  return {
    MessageBody: m.body,
    ...(m.messageAttributes && { MessageAttributes: m.messageAttributes as never }),
    ...(m.groupId && { MessageGroupId: m.groupId }),
    ...(m.deduplicationId && { MessageDeduplicationId: m.deduplicationId }),
  };
}

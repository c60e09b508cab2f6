import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import {
  DescribeEventBusCommand,
  EventBridgeClient,
  ListRulesCommand,
  PutEventsCommand,
  ResourceNotFoundException,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventBridgeServer, startEventBridgeServer } from '../../../local/eventbridge-server.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { type LocalSqs, startLocalSqs } from './local-sqs.ts';

let local: LocalSqs;
let server: EventBridgeServer;
let client: EventBridgeClient;
let cdcQueue: string;
let lostDlq: string;

async function drain(queueUrl: string): Promise<Message[]> {
  const out = await local.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

beforeAll(async () => {
  local = await startLocalSqs();
  cdcQueue = (await local.createQueue('inventory-cdc')).queueUrl;
  lostDlq = (await local.createQueue('lost-dlq')).queueUrl;
  server = await startEventBridgeServer({
    sqs: local.sqs,
    accountId: '111122223333',
    region: 'eu-west-1',
    rules: [
      {
        name: 'inventory-cdc',
        eventBusName: 'esync',
        pattern: {
          source: ['esync.cdc'],
          detail: { pipeline: ['inventory-cdc'], op: [{ 'anything-but': 'noop' }] },
        },
        targets: [{ queueUrl: cdcQueue }],
      },
      {
        name: 'orphan',
        eventBusName: 'esync',
        pattern: { source: ['esync.cdc'], detail: { pipeline: ['orphan'] } },
        targets: [{ queueUrl: `${local.endpoint}/123456789012/does-not-exist`, dlqUrl: lostDlq }],
      },
    ],
  });
  client = new EventBridgeClient({
    region: 'eu-west-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await server.stop();
  await local.stop();
});

const cdcEntry = (detail: Record<string, unknown>) => ({
  EventBusName: 'esync',
  Source: 'esync.cdc',
  DetailType: 'Row Changed',
  Detail: JSON.stringify(detail),
});

describe('local EventBridge', () => {
  it('delivers the full event envelope of a matching event to the rule’s queue', async () => {
    const sent = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            ...cdcEntry({ pipeline: 'inventory-cdc', op: 'update', sku: 'A-1' }),
            Resources: ['arn:aws:dynamodb:eu-west-1:111122223333:table/inventory'],
            Time: new Date('2024-05-02T10:15:00.250Z'),
          },
        ],
      }),
    );

    const messages = await drain(cdcQueue);
    expect(sent.FailedEntryCount).toBe(0);
    expect(messages).toHaveLength(1);
    const envelope = JSON.parse(messages[0]?.Body ?? '{}');
    expect(envelope).toEqual({
      version: '0',
      id: sent.Entries?.[0]?.EventId,
      'detail-type': 'Row Changed',
      source: 'esync.cdc',
      account: '111122223333',
      time: '2024-05-02T10:15:00Z',
      region: 'eu-west-1',
      resources: ['arn:aws:dynamodb:eu-west-1:111122223333:table/inventory'],
      detail: { pipeline: 'inventory-cdc', op: 'update', sku: 'A-1' },
    });
    expect(EventBridgeSchema.safeParse(envelope).success).toBe(true);
  });

  it('does not deliver events that miss the pattern or are put on another bus', async () => {
    const sent = await client.send(
      new PutEventsCommand({
        Entries: [
          cdcEntry({ pipeline: 'inventory-cdc', op: 'noop' }),
          cdcEntry({ pipeline: 'users-sync', op: 'update' }),
          { ...cdcEntry({ pipeline: 'inventory-cdc', op: 'update' }), EventBusName: 'default' },
        ],
      }),
    );

    expect(sent.FailedEntryCount).toBe(0);
    expect(await drain(cdcQueue)).toEqual([]);
  });

  it('reports invalid entries one by one and still delivers the valid ones', async () => {
    const sent = await client.send(
      new PutEventsCommand({
        Entries: [
          { ...cdcEntry({}), Detail: '[1, 2]' },
          { ...cdcEntry({}), Source: undefined },
          { ...cdcEntry({}), EventBusName: 'nope' },
          cdcEntry({ pipeline: 'inventory-cdc', op: 'insert' }),
        ],
      }),
    );

    expect(sent.FailedEntryCount).toBe(3);
    expect(sent.Entries?.map((e) => e.ErrorCode)).toEqual([
      'MalformedDetail',
      'InvalidArgument',
      'ResourceNotFoundException',
      undefined,
    ]);
    expect(sent.Entries?.[3]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await drain(cdcQueue)).toHaveLength(1);
  });

  it('rejects a request of more than 10 entries or over 256 KB as a whole', async () => {
    const eleven = Array.from({ length: 11 }, () => cdcEntry({ pipeline: 'inventory-cdc', op: 'insert' }));
    const large = [cdcEntry({ pipeline: 'inventory-cdc', blob: 'x'.repeat(257 * 1024) })];

    await expect(client.send(new PutEventsCommand({ Entries: eleven }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await expect(client.send(new PutEventsCommand({ Entries: large }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/over the limit/),
    });
    expect(await drain(cdcQueue)).toEqual([]);
  });

  it('sends an event its target cannot receive to the target’s DLQ with the failure attributes', async () => {
    const sent = await client.send(
      new PutEventsCommand({ Entries: [cdcEntry({ pipeline: 'orphan', op: 'x' })] }),
    );

    const dead = await drain(lostDlq);
    expect(sent.FailedEntryCount).toBe(0);
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0]?.Body ?? '{}').id).toBe(sent.Entries?.[0]?.EventId);
    expect(dead[0]?.MessageAttributes?.RULE_ARN?.StringValue).toBe(
      'arn:aws:events:eu-west-1:111122223333:rule/esync/orphan',
    );
    expect(dead[0]?.MessageAttributes?.ERROR_CODE?.StringValue).toBe('QueueDoesNotExist');
    expect(server.events().at(-1)).toMatchObject({ rule: 'orphan', outcome: 'dead-lettered' });
  });

  it('lists rules, describes buses and tests patterns like the service', async () => {
    const rules = await client.send(new ListRulesCommand({ EventBusName: 'esync', NamePrefix: 'inv' }));
    const bus = await client.send(new DescribeEventBusCommand({ Name: 'esync' }));
    const tested = await client.send(
      new TestEventPatternCommand({
        EventPattern: JSON.stringify({ detail: { n: [{ numeric: ['>', 1] }] } }),
        Event: JSON.stringify({ id: '1', source: 's', detail: { n: 2 } }),
      }),
    );

    expect(rules.Rules?.map((r) => [r.Name, r.State, JSON.parse(r.EventPattern ?? '{}').source])).toEqual([
      ['inventory-cdc', 'ENABLED', ['esync.cdc']],
    ]);
    expect(bus.Arn).toBe('arn:aws:events:eu-west-1:111122223333:event-bus/esync');
    expect(tested.Result).toBe(true);
    await expect(client.send(new DescribeEventBusCommand({ Name: 'other' }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('refuses to start with a rule whose pattern is invalid, naming the rule', async () => {
    await expect(
      startEventBridgeServer({
        sqs: local.sqs,
        rules: [{ name: 'broken', eventBusName: 'esync', pattern: { source: 'esync.cdc' }, targets: [] }],
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      startEventBridgeServer({
        sqs: local.sqs,
        rules: [{ name: 'broken', eventBusName: 'esync', pattern: { source: 'esync.cdc' }, targets: [] }],
      }),
    ).rejects.toThrow(/rule "broken" on bus "esync": event pattern is not valid: source/);
  });
});

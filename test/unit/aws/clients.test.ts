import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import {
  type AwsClients,
  createAwsClients,
  type DecoratedClient,
  decorateClients,
  LazyClient,
  sdkClientOf,
} from '../../../shared/aws/clients.ts';

const LAZY = ['sqs', 's3', 'sfn', 'eventBridge', 'secretsManager'] as const;

describe('AWS clients', () => {
  it('carry no SDK logger middleware, which would filter every request for a logger that discards it', async () => {
    // Act
    const clients = createAwsClients({ region: 'us-east-1' });
    const built: [string, DecoratedClient][] = [['dynamodb', clients.dynamodb]];
    for (const name of LAZY) built.push([name, await sdkClientOf<DecoratedClient>(clients[name])]);

    // Assess
    const stacks = built.map(([name, client]) => [
      name,
      client.middlewareStack.identify().filter((m) => m.startsWith('loggerMiddleware')),
    ]);
    expect(stacks).toEqual(built.map(([name]) => [name, []]));
  });

  it('builds every client but DynamoDB with its first request, carrying the decorators installed when they were created', async () => {
    // Prepare
    const decorated: string[] = [];
    const uninstall = decorateClients((client, service) => {
      decorated.push(service);
      (client as SQSClient).middlewareStack.add(
        () => async () => {
          throw new Error(`stopped before sending (${service})`);
        },
        { step: 'initialize', name: 'stop' },
      );
    });
    let clients: AwsClients;
    try {
      clients = createAwsClients({ region: 'us-east-1' });
    } finally {
      uninstall();
    }
    const afterCreate = [...decorated];

    // Act
    const sent = clients.sqs.send(new ListQueuesCommand({}));

    // Assess
    expect(afterCreate).toEqual(['dynamodb']);
    for (const name of LAZY) expect(clients[name]).toBeInstanceOf(LazyClient);
    await expect(sent).rejects.toThrow('stopped before sending (sqs)');
    expect(decorated).toEqual(['dynamodb', 'sqs']);
    expect(await sdkClientOf(clients.sqs)).toBeInstanceOf(SQSClient);
    expect(await sdkClientOf(clients.sqs)).toBe(await sdkClientOf(clients.sqs));
  });
});

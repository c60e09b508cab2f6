import { describe, expect, it } from 'vitest';
import { createAwsClients, type DecoratedClient } from '../../../shared/aws/clients.ts';

describe('AWS clients', () => {
  it('carry no SDK logger middleware, which would filter every request for a logger that discards it', () => {
    // Act
    const clients = createAwsClients({ region: 'us-east-1' });

    // Assess
    const stacks = Object.entries(clients).map(([name, client]) => [
      name,
      (client as DecoratedClient).middlewareStack.identify().filter((m) => m.startsWith('loggerMiddleware')),
    ]);
    expect(stacks).toEqual(Object.keys(clients).map((name) => [name, []]));
  });
});

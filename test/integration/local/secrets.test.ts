import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalServer } from '../../../local/aws-json-server.ts';
import { startSecretsServer } from '../../../local/secrets-server.ts';
import { createAwsClients } from '../../../shared/aws/clients.ts';
import { SecretsManagerProvider } from '../../../shared/aws/secrets.ts';
import { ConfigError } from '../../../shared/errors.ts';

let server: LocalServer;
let client: SecretsManagerClient;

beforeAll(async () => {
  server = await startSecretsServer({
    secrets: {
      'esync/github-webhook': 's3cr3t',
      'esync/postgres': JSON.stringify({ user: 'esync', password: 'pw' }),
    },
  });
  client = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await server.stop();
});

describe('secrets server', () => {
  it('serves the seeded secrets to SecretsManagerProvider unchanged', async () => {
    const provider = new SecretsManagerProvider(client);
    await expect(provider.getString('esync/github-webhook')).resolves.toBe('s3cr3t');
    await expect(provider.getJson('esync/postgres')).resolves.toEqual({ user: 'esync', password: 'pw' });
  });

  it('is reached by the client factory through AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', server.endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    try {
      const clients = createAwsClients({ region: 'us-east-1' });
      await expect(
        new SecretsManagerProvider(clients.secretsManager).getString('esync/github-webhook'),
      ).resolves.toBe('s3cr3t');
      clients.secretsManager.destroy();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('answers an unknown secret with ResourceNotFoundException, which the provider reports as a ConfigError', async () => {
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: 'esync/missing' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(new SecretsManagerProvider(client).getString('esync/missing')).rejects.toThrow(ConfigError);
    await expect(new SecretsManagerProvider(client).getString('esync/missing')).rejects.toThrow(
      /secret "esync\/missing" does not exist: create it .*\.esync\/secrets\.json.*--demo-data/,
    );
  });

  it('creates a secret, rotates its value and keeps the previous version under AWSPREVIOUS', async () => {
    const created = await client.send(new CreateSecretCommand({ Name: 'esync/api-key', SecretString: 'v1' }));
    const put = await client.send(
      new PutSecretValueCommand({ SecretId: 'esync/api-key', SecretString: 'v2' }),
    );

    const current = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: 'esync/api-key', VersionStage: 'AWSPREVIOUS' }),
    );
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'esync/api-key' }));

    expect(created.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:esync\/api-key-[A-Za-z0-9]{6}$/,
    );
    expect(current).toMatchObject({
      SecretString: 'v2',
      VersionId: put.VersionId,
      VersionStages: ['AWSCURRENT'],
    });
    expect(current.CreatedDate).toBeInstanceOf(Date);
    expect(previous).toMatchObject({
      SecretString: 'v1',
      VersionId: created.VersionId,
      VersionStages: ['AWSPREVIOUS'],
    });
    expect(described.VersionIdsToStages).toEqual({
      [created.VersionId as string]: ['AWSPREVIOUS'],
      [put.VersionId as string]: ['AWSCURRENT'],
    });
  });

  it('refuses to create a secret that already exists', async () => {
    await expect(
      client.send(new CreateSecretCommand({ Name: 'esync/github-webhook', SecretString: 'other' })),
    ).rejects.toBeInstanceOf(ResourceExistsException);
  });

  it('lists secrets filtered by name prefix, page by page', async () => {
    const first = await client.send(
      new ListSecretsCommand({ MaxResults: 1, Filters: [{ Key: 'name', Values: ['esync/g', 'esync/p'] }] }),
    );
    const second = await client.send(
      new ListSecretsCommand({
        MaxResults: 1,
        NextToken: first.NextToken,
        Filters: [{ Key: 'name', Values: ['esync/g', 'esync/p'] }],
      }),
    );

    expect(first.SecretList?.map((s) => s.Name)).toEqual(['esync/github-webhook']);
    expect(second.SecretList?.map((s) => s.Name)).toEqual(['esync/postgres']);
    expect(second.NextToken).toBeUndefined();
  });
});

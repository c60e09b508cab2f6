import { describe, expect, it } from 'vitest';
import { sdkClientOf } from '../../../shared/aws/clients.ts';
import { type CredentialsProvider, sharedCredentials } from '../../../shared/aws/pipeline-credentials.ts';
import { readRuntimeConfig } from '../../../shared/config.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { createDeps } from '../../../shared/usecases/deps.ts';
import { DEPLOYED_ENV } from '../../support/deployed-env.ts';

const ENV = DEPLOYED_ENV;
const ROLE_TEMPLATE = 'arn:aws:iam::123456789012:role/esync-access/esync-dev-{pipeline}-extract';

const pipeline = (name: string) =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target: { type: 'dynamodb', table: `${name}-table` },
    triggers: { webhook: { signature: 'github', secret: `hooks/${name}` } },
  });

/** An AssumeRole stand-in: which role and session each call asked for, and credentials naming them. */
function recordingAssumeRole() {
  const calls: Array<{ roleArn: string; sessionName: string }> = [];
  const assumeRole = (roleArn: string, sessionName: string): CredentialsProvider => {
    return async () => {
      calls.push({ roleArn, sessionName });
      return { accessKeyId: `key-of-${sessionName}`, secretAccessKey: 'secret', sessionToken: roleArn };
    };
  };
  return { calls, assumeRole };
}

describe('a shared function reaching a pipeline through its access role', () => {
  const catalog = new PipelineCatalog([pipeline('orders'), pipeline('users')]);

  it('signs a pipeline’s connector clients with a session of that pipeline’s role, one per pipeline', async () => {
    const { calls, assumeRole } = recordingAssumeRole();
    const config = readRuntimeConfig({ ...ENV, ESYNC_ACCESS_ROLE_ARN: ROLE_TEMPLATE });
    const deps = createDeps({ config, catalog, assumeRole });

    const orders = deps.connectorContext(catalog.get('orders'));
    const ordersAgain = deps.connectorContext(catalog.get('orders'));
    const users = deps.connectorContext(catalog.get('users'));
    const ordersKey = await orders.clients.dynamodb.config.credentials();
    const ordersSecretsKey = await (
      await sdkClientOf(ordersAgain.clients.secretsManager)
    ).config.credentials();
    const usersKey = await (await sdkClientOf(users.clients.s3)).config.credentials();

    expect(ordersKey.accessKeyId).toBe('key-of-esync-orders');
    expect(ordersSecretsKey.accessKeyId).toBe('key-of-esync-orders');
    expect(usersKey.accessKeyId).toBe('key-of-esync-users');
    expect(ordersAgain.clients).toBe(orders.clients);
    expect(ordersAgain.secrets).toBe(orders.secrets);
    expect(orders.clients).not.toBe(deps.clients);
    expect(calls).toEqual([
      {
        roleArn: 'arn:aws:iam::123456789012:role/esync-access/esync-dev-orders-extract',
        sessionName: 'esync-orders',
      },
      {
        roleArn: 'arn:aws:iam::123456789012:role/esync-access/esync-dev-users-extract',
        sessionName: 'esync-users',
      },
    ]);
  });

  it('uses the function’s own clients and secrets when no access role is configured (one stack, the local stack)', () => {
    const { calls, assumeRole } = recordingAssumeRole();
    const deps = createDeps({ config: readRuntimeConfig(ENV), catalog, assumeRole });

    const context = deps.connectorContext(catalog.get('orders'));

    expect(context.clients).toBe(deps.clients);
    expect(context.secrets).toBe(deps.secrets);
    expect(calls).toEqual([]);
  });

  it('refuses an access role template without {pipeline}, naming the variable', () => {
    const config = readRuntimeConfig({ ...ENV, ESYNC_ACCESS_ROLE_ARN: 'arn:aws:iam::1:role/x' });
    const deps = createDeps({ config, catalog, assumeRole: recordingAssumeRole().assumeRole });

    expect(() => deps.connectorContext(catalog.get('orders'))).toThrow(
      /ESYNC_ACCESS_ROLE_ARN must hold \{pipeline\}, got "arn:aws:iam::1:role\/x"/,
    );
  });
});

describe('credentials shared by a pipeline’s clients', () => {
  const at = (minutes: number) => new Date(Date.UTC(2026, 11, 7, 10, minutes));

  it('assumes once for concurrent callers and again only when expiry is near', async () => {
    let assumed = 0;
    let clock = at(0).getTime();
    const credentials = sharedCredentials(
      async () => ({ accessKeyId: `key-${++assumed}`, secretAccessKey: 's', expiration: at(60) }),
      () => clock,
    );

    const [first, second] = await Promise.all([credentials(), credentials()]);
    clock = at(40).getTime();
    const stillValid = await credentials();
    clock = at(50).getTime();
    const renewed = await credentials();

    expect([first.accessKeyId, second.accessKeyId, stillValid.accessKeyId]).toEqual([
      'key-1',
      'key-1',
      'key-1',
    ]);
    expect(renewed.accessKeyId).toBe('key-2');
    expect(assumed).toBe(2);
  });

  it('asks again after a failed call instead of keeping the failure', async () => {
    let calls = 0;
    const credentials = sharedCredentials(async () => {
      calls += 1;
      if (calls === 1) throw new Error('AccessDenied');
      return { accessKeyId: 'key', secretAccessKey: 's' };
    });

    await expect(credentials()).rejects.toThrow('AccessDenied');
    await expect(credentials()).resolves.toMatchObject({ accessKeyId: 'key' });
    expect(calls).toBe(2);
  });
});

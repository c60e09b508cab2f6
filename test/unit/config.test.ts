import { describe, expect, it } from 'vitest';
import { DEFAULT_SECRETS_MAX_AGE_SECONDS } from '../../shared/aws/secrets.ts';
import { readRuntimeConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { DEPLOYED_ENV } from '../support/deployed-env.ts';

const DEPLOYED = DEPLOYED_ENV;

describe('runtime config', () => {
  it('reuses secrets for five minutes when the environment sets no max age', () => {
    expect(readRuntimeConfig(DEPLOYED).secretsMaxAgeSeconds).toBe(DEFAULT_SECRETS_MAX_AGE_SECONDS);
    expect(DEFAULT_SECRETS_MAX_AGE_SECONDS).toBe(300);
  });

  it('reads the secret max age the stack sets', () => {
    const config = readRuntimeConfig({ ...DEPLOYED, ESYNC_SECRETS_MAX_AGE_SECONDS: '45' });

    expect(config.secretsMaxAgeSeconds).toBe(45);
  });

  it('refuses a secret max age that is not whole seconds, naming the variable and value', () => {
    const read = () => readRuntimeConfig({ ...DEPLOYED, ESYNC_SECRETS_MAX_AGE_SECONDS: '5m' });

    expect(read).toThrow(ConfigError);
    expect(read).toThrow(
      'environment variable ESYNC_SECRETS_MAX_AGE_SECONDS must be a whole number of seconds, got "5m"',
    );
  });

  it('signs IAM database tokens unless the environment asks for the secrets’ passwords', () => {
    expect(readRuntimeConfig(DEPLOYED).databaseAuth).toBe('iam');
    expect(readRuntimeConfig({ ...DEPLOYED, ESYNC_DATABASE_AUTH: 'password' }).databaseAuth).toBe('password');
    expect(() => readRuntimeConfig({ ...DEPLOYED, ESYNC_DATABASE_AUTH: 'token' })).toThrow(
      'environment variable ESYNC_DATABASE_AUTH must be iam or password, got "token"',
    );
  });

  it('names the first missing variable', () => {
    const { ESYNC_DATA_BUCKET: _, ...missing } = DEPLOYED;

    expect(() => readRuntimeConfig(missing)).toThrow('environment variable ESYNC_DATA_BUCKET is not set');
  });
});

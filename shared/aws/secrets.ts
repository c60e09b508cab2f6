import type { SecretsProvider as PowertoolsSecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, isRetryable, TransientError } from '../errors.ts';
import { type SdkClient, sdkClientOf } from './clients.ts';

/** Reads secrets by name. */
export interface SecretsProvider {
  /** The secret's string value. */
  getString(name: string): Promise<string>;
  /** The secret's value parsed as a JSON object. */
  getJson(name: string): Promise<Record<string, unknown>>;
}

/** How long a secret read from Secrets Manager is served from memory when nothing else is set. */
export const DEFAULT_SECRETS_MAX_AGE_SECONDS = 300;

export interface SecretsManagerProviderOptions {
  /**
   * Seconds a value is served from memory before the next call reads it again: a rotated or
   * revoked secret takes effect in warm containers after at most this long. 0 reads every time.
   * @default 300 - {@link DEFAULT_SECRETS_MAX_AGE_SECONDS}
   */
  readonly maxAgeSeconds?: number;
}

/**
 * Secrets from AWS Secrets Manager (or the local stack's emulation of it), through the Powertools
 * parameters provider, which keeps each value for `maxAgeSeconds`. The provider and the client
 * are built with the first read (imported then), so a function that reads no secret loads
 * neither.
 */
export class SecretsManagerProvider implements SecretsProvider {
  readonly #client: SdkClient<SecretsManagerClient>;
  #provider: Promise<PowertoolsSecretsProvider> | undefined;
  readonly #maxAge: number;
  /** Reads under way, so concurrent first calls (a cold Load writing in parallel) share one request. */
  readonly #reading = new Map<string, Promise<string>>();

  constructor(client: SdkClient<SecretsManagerClient>, options: SecretsManagerProviderOptions = {}) {
    const maxAge = options.maxAgeSeconds ?? DEFAULT_SECRETS_MAX_AGE_SECONDS;
    if (!Number.isInteger(maxAge) || maxAge < 0)
      throw new ConfigError(`secrets maxAgeSeconds must be a whole number of at least 0, got ${maxAge}`);
    this.#client = client;
    this.#maxAge = maxAge;
  }

  getString(name: string): Promise<string> {
    let reading = this.#reading.get(name);
    if (!reading) {
      reading = this.#read(name).finally(() => this.#reading.delete(name));
      this.#reading.set(name, reading);
    }
    return reading;
  }

  async #read(name: string): Promise<string> {
    let value: unknown;
    try {
      value = await (await this.#powertools()).get(name, { maxAge: this.#maxAge });
    } catch (error) {
      throw secretReadError(name, (error as Error).cause ?? error);
    }
    if (typeof value !== 'string') throw new ConfigError(`secret "${name}" has no string value`);
    return value;
  }

  #powertools(): Promise<PowertoolsSecretsProvider> {
    this.#provider ??= Promise.all([
      import('@aws-lambda-powertools/parameters/secrets'),
      sdkClientOf(this.#client),
    ]).then(([{ SecretsProvider }, client]) => new SecretsProvider({ awsSdkV3Client: client }));
    return this.#provider;
  }

  async getJson(name: string): Promise<Record<string, unknown>> {
    const raw = await this.getString(name);
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {
      // fall through: the message below says what was expected without echoing the value
    }
    throw new ConfigError(`secret "${name}" must hold a JSON object`);
  }
}

/** The SDK's failure as ours: retried when it may pass (throttling, 5xx), a config problem otherwise. */
function secretReadError(name: string, error: unknown): Error {
  if (isRetryable(error)) return new TransientError(`reading secret "${name}" failed`, { cause: error });
  if ((error as Error).name === 'ResourceNotFoundException')
    return new ConfigError(
      `secret "${name}" does not exist: create it in Secrets Manager (aws secretsmanager create-secret --name ${name} --secret-string ...); on the local stack, esync secrets set ${name} --value ... (kept in .esync/secrets.json and handed to the running esync dev at once), or start esync dev --demo-data for the demo's database secrets`,
      { cause: error },
    );
  return new ConfigError(`cannot read secret "${name}": ${(error as Error).name ?? 'error'}`, {
    cause: error,
  });
}

/** Secrets held in memory, for unit tests. */
export class StaticSecretsProvider implements SecretsProvider {
  readonly #values: ReadonlyMap<string, string>;
  constructor(values: Record<string, string | Record<string, unknown>>) {
    this.#values = new Map(
      Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
    );
  }
  async getString(name: string): Promise<string> {
    const value = this.#values.get(name);
    if (value === undefined) throw new ConfigError(`secret "${name}" does not exist`);
    return value;
  }
  async getJson(name: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.getString(name)) as Record<string, unknown>;
  }
}

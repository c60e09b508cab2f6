import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, isRetryable, TransientError } from '../errors.ts';

/** Reads secrets by name. Values are cached for the life of the process (a Lambda container). */
export interface SecretsProvider {
  /** The secret's string value. */
  getString(name: string): Promise<string>;
  /** The secret's value parsed as a JSON object. */
  getJson(name: string): Promise<Record<string, unknown>>;
}

/** Secrets from AWS Secrets Manager (or the local stack's emulation of it). */
export class SecretsManagerProvider implements SecretsProvider {
  readonly #client: SecretsManagerClient;
  readonly #cache = new Map<string, Promise<string>>();

  constructor(client: SecretsManagerClient) {
    this.#client = client;
  }

  getString(name: string): Promise<string> {
    let value = this.#cache.get(name);
    if (!value) {
      value = this.#fetch(name);
      this.#cache.set(name, value);
      value.catch(() => this.#cache.delete(name));
    }
    return value;
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

  async #fetch(name: string): Promise<string> {
    try {
      const out = await this.#client.send(new GetSecretValueCommand({ SecretId: name }));
      if (out.SecretString === undefined) throw new ConfigError(`secret "${name}" has no string value`);
      return out.SecretString;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      if (isRetryable(error)) throw new TransientError(`reading secret "${name}" failed`, { cause: error });
      throw new ConfigError(`cannot read secret "${name}": ${(error as Error).name ?? 'error'}`, {
        cause: error,
      });
    }
  }
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

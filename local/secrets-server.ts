import { randomBytes, randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  type LocalServiceOptions,
  pageByToken,
  requireString,
  storeService,
} from './aws-json-server.ts';

/**
 * A local AWS Secrets Manager: the JSON 1.1 protocol subset ESync uses (`GetSecretValue`,
 * `CreateSecret`, `PutSecretValue`, `DescribeSecret`, `ListSecrets`), with the service's error
 * shapes, so `SecretsManagerProvider` and the unchanged SDK client reach it through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Secrets live in memory; versions carry the
 * `AWSCURRENT` / `AWSPREVIOUS` staging labels as in AWS.
 */

export interface SecretsServerOptions extends LocalServiceOptions {
  /** Secrets created at start: name → secret string. */
  readonly secrets?: Readonly<Record<string, string>>;
}

interface SecretVersion {
  readonly id: string;
  readonly secretString: string | undefined;
  readonly secretBinary: string | undefined;
  readonly createdDate: number;
  readonly stages: Set<string>;
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  description: string | undefined;
  readonly createdDate: number;
  lastChangedDate: number;
  lastAccessedDate: number | undefined;
  readonly tags: readonly { Key: string; Value: string }[];
  readonly versions: Map<string, SecretVersion>;
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const epochSeconds = () => Date.now() / 1000;

const notFound = () =>
  new AwsServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");

function arnSuffix(): string {
  return Array.from(randomBytes(6), (b) => ARN_SUFFIX_ALPHABET[b % ARN_SUFFIX_ALPHABET.length]).join('');
}

function optionalString(input: Record<string, unknown>, member: string): string | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new AwsServiceError('InvalidParameterException', `${member} must be a string, got ${typeof value}`);
  return value;
}

/** The in-memory store behind the server; its methods are the service operations. */
class SecretStore {
  readonly #secrets = new Map<string, Secret>();
  readonly #arnPrefix: string;

  constructor(region: string, accountId: string) {
    this.#arnPrefix = `arn:aws:secretsmanager:${region}:${accountId}:secret:`;
  }

  find(secretId: string): Secret {
    const byName = this.#secrets.get(secretId);
    if (byName) return byName;
    for (const secret of this.#secrets.values()) {
      // A partial ARN (without the random suffix) also names the secret, as in AWS.
      if (secret.arn === secretId || `${this.#arnPrefix}${secret.name}` === secretId) return secret;
    }
    throw notFound();
  }

  addVersion(
    secret: Secret,
    input: Record<string, unknown>,
    token: string | undefined,
  ): SecretVersion | undefined {
    const secretString = optionalString(input, 'SecretString');
    const secretBinary = optionalString(input, 'SecretBinary');
    if (secretString === undefined && secretBinary === undefined) return undefined;
    if (secretString !== undefined && secretBinary !== undefined)
      throw new AwsServiceError(
        'InvalidParameterException',
        'You can specify SecretString or SecretBinary, not both.',
      );
    const id = token ?? randomUUID();
    const existing = secret.versions.get(id);
    if (existing) {
      if (existing.secretString === secretString && existing.secretBinary === secretBinary) return existing;
      throw new AwsServiceError(
        'ResourceExistsException',
        `You can't modify an existing version, you can only create a new version. Version ${id} already exists.`,
      );
    }
    for (const version of secret.versions.values()) {
      version.stages.delete(PREVIOUS);
      if (version.stages.delete(CURRENT)) version.stages.add(PREVIOUS);
    }
    const version: SecretVersion = {
      id,
      secretString,
      secretBinary,
      createdDate: epochSeconds(),
      stages: new Set([CURRENT]),
    };
    secret.versions.set(id, version);
    secret.lastChangedDate = version.createdDate;
    return version;
  }

  createSecret(input: Record<string, unknown>) {
    const name = requireString(input, 'Name');
    if (!NAME_PATTERN.test(name))
      throw new AwsServiceError(
        'ValidationException',
        `Invalid name "${name}": use 1-512 letters, digits and the characters /_+=.@-`,
      );
    if (this.#secrets.has(name))
      throw new AwsServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const now = epochSeconds();
    const tags = Array.isArray(input.Tags) ? (input.Tags as { Key: string; Value: string }[]) : [];
    const secret: Secret = {
      name,
      arn: `${this.#arnPrefix}${name}-${arnSuffix()}`,
      description: optionalString(input, 'Description'),
      createdDate: now,
      lastChangedDate: now,
      lastAccessedDate: undefined,
      tags,
      versions: new Map(),
    };
    const version = this.addVersion(secret, input, optionalString(input, 'ClientRequestToken'));
    this.#secrets.set(name, secret);
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
  }

  putSecretValue(input: Record<string, unknown>) {
    const secret = this.find(requireString(input, 'SecretId'));
    const version = this.addVersion(secret, input, optionalString(input, 'ClientRequestToken'));
    if (!version)
      throw new AwsServiceError(
        'InvalidRequestException',
        'You must provide either SecretString or SecretBinary.',
      );
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  getSecretValue(input: Record<string, unknown>) {
    const secret = this.find(requireString(input, 'SecretId'));
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage') ?? (versionId ? undefined : CURRENT);
    const version = [...secret.versions.values()].find(
      (v) => (versionId === undefined || v.id === versionId) && (stage === undefined || v.stages.has(stage)),
    );
    if (!version)
      throw new AwsServiceError(
        'ResourceNotFoundException',
        versionId
          ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`
          : `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
      );
    secret.lastAccessedDate = Math.floor(epochSeconds() / 86_400) * 86_400;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  describe(secret: Secret, versionsKey: 'VersionIdsToStages' | 'SecretVersionsToStages') {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      CreatedDate: secret.createdDate,
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastAccessedDate !== undefined ? { LastAccessedDate: secret.lastAccessedDate } : {}),
      ...(secret.tags.length > 0 ? { Tags: secret.tags } : {}),
      [versionsKey]: Object.fromEntries([...secret.versions.values()].map((v) => [v.id, [...v.stages]])),
    };
  }

  describeSecret(input: Record<string, unknown>) {
    return this.describe(this.find(requireString(input, 'SecretId')), 'VersionIdsToStages');
  }

  listSecrets(input: Record<string, unknown>) {
    const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100)
      throw new AwsServiceError('InvalidParameterException', `MaxResults must be 1-100, got ${maxResults}`);
    const filters = Array.isArray(input.Filters)
      ? (input.Filters as { Key?: string; Values?: string[] }[])
      : [];
    const all = [...this.#secrets.values()]
      .filter((secret) =>
        filters.every((filter) => {
          const values = filter.Values ?? [];
          if (filter.Key === 'name') return values.some((v) => secret.name.startsWith(v));
          if (filter.Key === 'description') return values.some((v) => secret.description?.startsWith(v));
          if (filter.Key === 'all')
            return values.some((v) => secret.name.includes(v) || secret.description?.includes(v));
          throw new AwsServiceError('InvalidParameterException', `unsupported filter key "${filter.Key}"`);
        }),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
    const { page, next } = pageByToken(all, input.NextToken, maxResults, 'InvalidNextTokenException');
    return { SecretList: page.map((secret) => this.describe(secret, 'SecretVersionsToStages')), ...next };
  }
}

/** Starts the Secrets Manager emulator on 127.0.0.1 with the given secrets. */
export const startSecretsServer = storeService<SecretsServerOptions, SecretStore>(
  'secretsmanager',
  ({ region, accountId }, options) => {
    const store = new SecretStore(region, accountId);
    for (const [name, value] of Object.entries(options.secrets ?? {}))
      store.createSecret({ Name: name, SecretString: value });
    return store;
  },
  ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DescribeSecret', 'ListSecrets'],
);

import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';

export const buildSecretsManagerClient = (config: SecretsManagerClientConfig): SecretsManagerClient =>
  new SecretsManagerClient(config);

import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';

export const buildSsmClient = (config: SSMClientConfig): SSMClient => new SSMClient(config);

import { SFNClient, type SFNClientConfig } from '@aws-sdk/client-sfn';

export const buildSfnClient = (config: SFNClientConfig): SFNClient => new SFNClient(config);

import { EventBridgeClient, type EventBridgeClientConfig } from '@aws-sdk/client-eventbridge';

export const buildEventBridgeClient = (config: EventBridgeClientConfig): EventBridgeClient =>
  new EventBridgeClient(config);

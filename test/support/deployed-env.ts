/** The environment the stack gives a deployed function in dev (what shared/config.ts reads). */
export const DEPLOYED_ENV = {
  ESYNC_STAGE: 'dev',
  ESYNC_STATE_TABLE: 'esync-dev-core-state',
  ESYNC_IDEMPOTENCY_TABLE: 'esync-dev-core-idempotency',
  ESYNC_DATA_BUCKET: 'esync-dev-core-data',
  ESYNC_EVENT_BUS: 'esync-dev-core-bus',
  ESYNC_QUEUE_URL_PREFIX: 'https://sqs.eu-west-1.amazonaws.com/123456789012/',
  ESYNC_STATE_MACHINE_ARN_PREFIX: 'arn:aws:states:eu-west-1:123456789012:stateMachine:',
} as const;

import { createAwsClients } from '../../shared/aws/clients.ts';
import { StaticSecretsProvider } from '../../shared/aws/secrets.ts';
import type { ConnectorContext } from '../../shared/connectors/types.ts';
import { DEFAULT_RETRY } from '../../shared/domain/retry.ts';
import type { ExtensionRegistry } from '../../shared/extensions/registry.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';

/**
 * The context a connector is created with in a unit test: clients that are built but never
 * called, no secrets, the default retries, and the extensions given.
 */
export function testConnectorContext(pipeline: Pipeline, extensions?: ExtensionRegistry): ConnectorContext {
  return {
    pipeline,
    clients: createAwsClients(),
    secrets: new StaticSecretsProvider({}),
    dataBucket: 'bucket',
    stage: 'test',
    retry: DEFAULT_RETRY,
    ...(extensions && { extensions }),
  };
}

/** The sample extensions' pipeline: the jsonl-url source reading `url`, the order-id validator. */
export const sampleExtensionsPipeline = (name: string, url: string) => `name: ${name}
source:
  type: custom
  connector: jsonl-url
  options:
    url: ${url}
  key: [order_id]
  cursor: [updated_at]
target:
  type: dynamodb
validation:
  - field: order_id
    custom: order-id
`;

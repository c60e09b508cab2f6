import { describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';

function problems(
  kafka: Record<string, unknown> | undefined,
  source: object = { type: 'kafka', key: ['id'] },
) {
  const result = pipelineSchema.safeParse({
    name: 'orders',
    source,
    target: { type: 'dynamodb' },
    triggers: kafka === undefined ? {} : { kafka: { topics: ['orders'], ...kafka } },
  });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('triggers.kafka', () => {
  it('takes an MSK cluster, or self-managed brokers with SASL/SCRAM or mTLS credentials', () => {
    expect(problems({ clusterArn: MSK })).toEqual([]);
    expect(
      problems({
        bootstrapServers: ['b-1.example.com:9096'],
        authentication: { method: 'sasl-scram-256', secret: 'esync/prod/kafka' },
        rootCaSecret: 'esync/prod/kafka-ca',
      }),
    ).toEqual([]);
  });

  it('refuses both clusters, neither, and credentials for MSK, naming the setting', () => {
    expect(problems({ clusterArn: MSK, bootstrapServers: ['b-1.example.com:9096'] })).toEqual([
      'triggers.kafka.bootstrapServers: give clusterArn (Amazon MSK) or bootstrapServers (self-managed), not both',
    ]);
    expect(problems({})).toEqual([
      'triggers.kafka.clusterArn: give clusterArn (Amazon MSK) or bootstrapServers (self-managed Kafka)',
    ]);
    expect(problems({ clusterArn: MSK, authentication: { method: 'mtls', secret: 's' } })).toEqual([
      'triggers.kafka.authentication: is for self-managed Kafka (bootstrapServers); MSK is reached with IAM',
    ]);
  });

  it('takes a schema registry for a kafka source only', () => {
    const schemaRegistry = { url: 'https://registry.example.com', secret: 'esync/prod/registry' };

    expect(problems({ clusterArn: MSK, schemaRegistry })).toEqual([]);
    expect(problems({ clusterArn: MSK, schemaRegistry }, { type: 'cdc', key: ['id'] })).toEqual([
      'triggers.kafka.schemaRegistry: is for a kafka source (Avro or Protobuf values); a cdc source reads Debezium JSON',
    ]);
  });

  it('refuses a broker without its port and a kafka source without the trigger', () => {
    expect(problems({ bootstrapServers: ['b-1.example.com'] })).toEqual([
      'triggers.kafka.bootstrapServers.0: a broker as host:port',
    ]);
    expect(problems(undefined)).toEqual(['triggers.kafka: a kafka source needs triggers.kafka']);
  });
});

import { describe, expect, it } from 'vitest';
import { jsonlUrl } from '../../../examples/extensions/jsonl-url.ts';
import { SOURCE_CONNECTORS } from '../../../shared/connectors/sources/registry.ts';
import { ExtensionRegistry } from '../../../shared/extensions/registry.ts';
import { type PipelineInput, pipelineSchema, SOURCE_TYPES } from '../../../shared/pipeline/schema.ts';
import { testConnectorContext } from '../../support/connector-context.ts';

const SOURCES: Record<(typeof SOURCE_TYPES)[number], PipelineInput['source']> = {
  postgres: { type: 'postgres', connection: { secret: 'db' }, table: 'users', key: ['id'] },
  mysql: { type: 'mysql', connection: { secret: 'db' }, table: 'users', key: ['id'] },
  s3: { type: 's3', key: ['id'] },
  github: { type: 'github', owner: 'o', repo: 'r', key: ['id'] },
  http: { type: 'http', url: 'https://api.example.com/items', key: ['id'] },
  dynamodb: { type: 'dynamodb', table: 'items', key: ['pk'] },
  webhook: { type: 'webhook', key: ['id'] },
  cdc: { type: 'cdc', key: ['id'] },
  kafka: { type: 'kafka', key: ['id'] },
  custom: {
    type: 'custom',
    connector: 'jsonl-url',
    options: { url: 'https://example.com/items.jsonl' },
    key: ['id'],
  },
};

function parse(source: PipelineInput['source']) {
  const triggers =
    source.type === 'webhook'
      ? { webhook: { signature: 'github' as const, secret: 'hook' } }
      : source.type === 'cdc'
        ? { cdc: { pattern: { source: ['esync.cdc'] } } }
        : source.type === 'kafka'
          ? { kafka: { bootstrapServers: ['broker-1.example.com:9096'], topics: ['orders'] } }
          : {};
  return pipelineSchema.parse({ name: 'registry-test', source, target: { type: 'dynamodb' }, triggers });
}

const contextOf = (pipeline: ReturnType<typeof parse>) =>
  testConnectorContext(pipeline, new ExtensionRegistry().add(jsonlUrl, 'extensions/jsonl-url.ts'));

describe('createSource', () => {
  it.each(SOURCE_TYPES)('creates a %s source without connecting to anything', async (type) => {
    const pipeline = parse(SOURCES[type]);
    const source = await SOURCE_CONNECTORS.loadAndCreate(pipeline.source, contextOf(pipeline));
    expect(typeof source.read).toBe('function');
    await source.close();
  });

  it.each(['webhook', 'cdc'] as const)(
    'gives a pushed %s source nothing to read in a batch run',
    async (type) => {
      const pipeline = parse(SOURCES[type]);
      const source = await SOURCE_CONNECTORS.loadAndCreate(pipeline.source, contextOf(pipeline));
      const pages: unknown[] = [];
      for await (const page of source.read({ from: null, to: null }, { id: 'all', spec: {} }))
        pages.push(page);
      expect(pages).toEqual([]);
      expect((await source.discover()).capabilities).toEqual({
        incremental: false,
        deletes: 'none',
        cdc: true,
      });
      expect(await source.currentHighWatermark()).toBeNull();
      expect(await source.planPartitions({ from: null, to: null }, 4)).toEqual([{ id: 'all', spec: {} }]);
    },
  );
});

import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';

/** `count` pipelines of the three shapes that add the most resources: scheduled SQL, webhook, CDC. */
export function generatedPipelines(count: number): Pipeline[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `p${String(i).padStart(3, '0')}-sync`;
    switch (i % 3) {
      case 0:
        return pipelineSchema.parse({
          name,
          source: { type: 'postgres', connection: { secret: `esync/gen/${name}` }, table: 't', key: ['id'] },
          target: { type: 'dynamodb', keyAttribute: 'id' },
          triggers: { schedule: 'rate(1 hour)' },
          retention: { keepHistory: true },
        });
      case 1:
        return pipelineSchema.parse({
          name,
          source: { type: 'webhook', key: ['id'] },
          target: {
            type: 'http',
            url: 'https://api.example.com/{key}',
            auth: { secret: `esync/gen/${name}` },
          },
          triggers: { webhook: { signature: 'github', secret: `esync/gen/${name}-hook` } },
        });
      default:
        return pipelineSchema.parse({
          name,
          source: { type: 'cdc', key: ['id'] },
          target: { type: 's3', prefix: 'lake/' },
          triggers: { cdc: { pattern: { source: [`esync.${name}`] } } },
        });
    }
  });
}

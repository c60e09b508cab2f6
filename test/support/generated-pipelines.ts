import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';

/** History kept, by pipeline: tiers and values between them (rounded up), none twice in a row. */
const HISTORY_DAYS = [30, 45, 1, 400] as const;

/**
 * `count` pipelines of the three shapes that add the most resources: scheduled SQL, webhook, CDC;
 * each with its own history days, every other one with a chat webhook of its own.
 */
export function generatedPipelines(count: number): Pipeline[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `p${String(i).padStart(3, '0')}-sync`;
    const common = {
      name,
      retention: { keepHistory: i % 3 === 0, historyDays: HISTORY_DAYS[i % HISTORY_DAYS.length] },
      ...(i % 2 === 0 && { alerts: { notify: { webhooks: [{ secret: `esync/gen/${name}-chat` }] } } }),
    };
    switch (i % 3) {
      case 0:
        return pipelineSchema.parse({
          ...common,
          source: { type: 'postgres', connection: { secret: `esync/gen/${name}` }, table: 't', key: ['id'] },
          target: { type: 'dynamodb', keyAttribute: 'id' },
          triggers: { schedule: 'rate(1 hour)' },
        });
      case 1:
        return pipelineSchema.parse({
          ...common,
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
          ...common,
          source: { type: 'cdc', key: ['id'] },
          target: { type: 's3', prefix: 'lake/' },
          triggers: { cdc: { pattern: { source: [`esync.${name}`] } } },
        });
    }
  });
}

import { describe, expect, it } from 'vitest';
import { pipelineChannels } from '../../../shared/pipeline/channels.ts';
import { PUSH_ONLY_SOURCE_TYPES } from '../../../shared/pipeline/push-only-sources.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { pipelineWarnings } from '../../../shared/pipeline/warnings.ts';

const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';

/** A valid pipeline of each push-only source type, with the trigger it takes its changes from. */
const PUSHED = {
  webhook: {
    source: { type: 'webhook', key: ['id'] },
    triggers: { webhook: { signature: 'standard-webhooks', secret: 'hook' } },
  },
  cdc: { source: { type: 'cdc', key: ['id'] }, triggers: { cdc: { pattern: { source: ['test'] } } } },
  kafka: {
    source: { type: 'kafka', key: ['id'] },
    triggers: { kafka: { clusterArn: MSK, topics: ['orders'] } },
  },
} as const;

const parse = (type: keyof typeof PUSHED, extraTriggers: object = {}) =>
  pipelineSchema.safeParse({
    name: 'pushed',
    source: PUSHED[type].source,
    triggers: { ...PUSHED[type].triggers, ...extraTriggers },
    target: { type: 'dynamodb' },
  });

describe('push-only sources', () => {
  it.each(PUSH_ONLY_SOURCE_TYPES)('refuse a schedule for a %s source, naming the trigger', (type) => {
    const result = parse(type, { schedule: 'rate(1 hour)' });

    expect(result.success).toBe(false);
    expect(result.error?.issues).toContainEqual(
      expect.objectContaining({
        path: ['triggers', 'schedule'],
        message: `a ${type} source has nothing to read on a schedule`,
      }),
    );
  });

  it.each(PUSH_ONLY_SOURCE_TYPES)(
    'refuse hard-delete detection by Verify for a %s source, whose deletes arrive as events',
    (type) => {
      const result = pipelineSchema.safeParse({
        name: 'pushed',
        source: { ...PUSHED[type].source, deletes: { mode: 'verify' } },
        triggers: PUSHED[type].triggers,
        target: { type: 'dynamodb' },
      });

      expect(result.success).toBe(false);
      expect(result.error?.issues).toContainEqual(
        expect.objectContaining({
          path: ['source', 'deletes', 'mode'],
          message: `is verify, but a ${type} source has no rows for Verify to compare: its deletes arrive as events`,
        }),
      );
    },
  );

  it.each(PUSH_ONLY_SOURCE_TYPES)('warn of no undetected deletes for a %s pipeline', (type) => {
    const pipeline = parse(type);
    if (!pipeline.success) throw pipeline.error;

    expect(pipelineWarnings(pipeline.data).filter((w) => w.path.startsWith('source.deletes'))).toEqual([]);
  });

  it.each(PUSH_ONLY_SOURCE_TYPES)('give a %s pipeline no poll channel', (type) => {
    const pipeline = parse(type);
    if (!pipeline.success) throw pipeline.error;

    expect(pipelineChannels(pipeline.data).map((c) => c.channel)).not.toContain('poll');
  });

  it('give a polled source with a push trigger its poll channel', () => {
    const pipeline = pipelineSchema.parse({
      name: 'users',
      source: { type: 'postgres', connection: { secret: 'db' }, table: 'users', key: ['id'] },
      triggers: { schedule: 'rate(1 hour)', ...PUSHED.cdc.triggers },
      target: { type: 'dynamodb' },
    });

    expect(pipelineChannels(pipeline).map((c) => c.channel)).toEqual(['poll', 'bus']);
  });
});

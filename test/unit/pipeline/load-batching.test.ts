import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LOAD_BATCH_SIZE,
  defaultLoadBatchSize,
  loadBatchingProblem,
  PUSHED_LOAD_BATCH_SIZE,
} from '../../../shared/pipeline/load-batching.ts';
import { type PipelineInput, pipelineSchema, SOURCE_TYPES } from '../../../shared/pipeline/schema.ts';

const TARGET = { type: 'dynamodb' } as const;

const PIPELINES = {
  webhook: {
    name: 'hooks',
    source: { type: 'webhook', key: ['id'] },
    triggers: { webhook: { signature: 'standard-webhooks', secret: 'hook' } },
    target: TARGET,
  },
  cdc: {
    name: 'changes',
    source: { type: 'cdc', key: ['id'] },
    triggers: { cdc: { pattern: { source: ['test'] } } },
    target: TARGET,
  },
  postgres: {
    name: 'users',
    source: { type: 'postgres', connection: { secret: 'db' }, table: 'users', key: ['id'] },
    target: TARGET,
  },
  postgresWithCdcTrigger: {
    name: 'users',
    source: { type: 'postgres', connection: { secret: 'db' }, table: 'users', key: ['id'] },
    triggers: { cdc: { pattern: { source: ['test'] } } },
    target: TARGET,
  },
} satisfies Record<string, PipelineInput>;

describe('defaultLoadBatchSize', () => {
  it.each(['webhook', 'cdc', 'kafka'])('gives a push-only %s source 10 messages an invocation', (type) => {
    expect(defaultLoadBatchSize(type)).toBe(PUSHED_LOAD_BATCH_SIZE);
    expect(PUSHED_LOAD_BATCH_SIZE).toBe(10);
  });

  it.each(['postgres', 'mysql', 's3', 'github', 'http', 'dynamodb', 'custom'])(
    'gives a polled %s source 2 messages (of up to 500 records) an invocation',
    (type) => {
      expect(defaultLoadBatchSize(type)).toBe(DEFAULT_LOAD_BATCH_SIZE);
      expect(DEFAULT_LOAD_BATCH_SIZE).toBe(2);
    },
  );

  it.each(SOURCE_TYPES)('gives a %s source a default that needs no batching window', (type) => {
    expect(loadBatchingProblem(defaultLoadBatchSize(type), 0)).toBeUndefined();
  });
});

describe('load.batchSize in the pipeline schema', () => {
  it.each([
    ['webhook', 10],
    ['cdc', 10],
    ['postgres', 2],
    ['postgresWithCdcTrigger', 2],
  ] as const)('parses a %s pipeline without one to %i', (which, expected) => {
    expect(pipelineSchema.parse(PIPELINES[which]).load.batchSize).toBe(expected);
  });

  it('derives the default when load is given without batchSize', () => {
    const parsed = pipelineSchema.parse({ ...PIPELINES.webhook, load: { maxConcurrency: 3 } });

    expect(parsed.load).toMatchObject({ batchSize: 10, maxConcurrency: 3, batchingWindowSeconds: 1 });
  });

  it.each([
    ['webhook', 4],
    ['postgres', 25],
  ] as const)('keeps an explicit value for a %s pipeline (%i)', (which, batchSize) => {
    expect(pipelineSchema.parse({ ...PIPELINES[which], load: { batchSize } }).load.batchSize).toBe(batchSize);
  });

  it('accepts the derived 10 of a webhook pipeline without a batching window', () => {
    const result = pipelineSchema.safeParse({ ...PIPELINES.webhook, load: { batchingWindowSeconds: 0 } });

    expect(result.success).toBe(true);
    expect(result.data?.load).toMatchObject({ batchSize: 10, batchingWindowSeconds: 0 });
  });

  it('still refuses a batch size above 10 without a batching window, at load.batchingWindowSeconds', () => {
    const result = pipelineSchema.safeParse({
      ...PIPELINES.webhook,
      load: { batchSize: 11, batchingWindowSeconds: 0 },
    });

    expect(result.success).toBe(false);
    expect(result.error?.issues).toHaveLength(1);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['load', 'batchingWindowSeconds'],
      message: expect.stringContaining('a batchSize above 10 (got 11)'),
    });
  });
});

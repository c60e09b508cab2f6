import { describe, expect, it } from 'vitest';
import { channelCombinations } from '../../../shared/pipeline/channels.ts';
import { type Pipeline, pipelineSchema } from '../../../shared/pipeline/schema.ts';

const MSK = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const bus = { cdc: { pattern: { source: ['esync.cdc'] } } };
const kafka = { kafka: { clusterArn: MSK, topics: ['shop.public.users'] } };
const sharedTable = { type: 'dynamodb', table: 'users' };

const pipeline = (name: string, source: object, triggers: object, target: object = { type: 'dynamodb' }) =>
  pipelineSchema.parse({ name, source, triggers, target });

const polledUsers = (cursor: string[], key = ['id']) =>
  pipeline(
    'users-backfill',
    { type: 'postgres', connection: { secret: 'db' }, table: 'users', key, cursor },
    { schedule: 'rate(1 hour)' },
    sharedTable,
  );

const streamedUsers = pipeline('users-cdc', { type: 'cdc', key: ['id'] }, bus, sharedTable);

const summary = (pipelines: Pipeline[]) => {
  const { combinations, warnings } = channelCombinations(pipelines);
  return {
    combinations: combinations.map((c) => ({
      pipelines: c.pipelines,
      channels: c.channels.map((ch) => `${ch.pipeline} ${ch.channel} ${ch.basis}`),
      order: c.order,
    })),
    warnings: warnings.map((w) => `${w.pipeline} ${w.path}`),
  };
};

describe('channel combinations', () => {
  it('versions plain Kafka records by their cursor, or by the record timestamp, which orders with no other channel', () => {
    // Prepare
    const plain = (name: string, cursor: string[]) =>
      pipeline(
        name,
        { type: 'kafka', key: ['id'], cursor },
        { kafka: { bootstrapServers: ['broker-1.example.com:9096'], topics: ['users'] } },
        sharedTable,
      );

    // Act
    const withCursor = summary([polledUsers(['updated_at']), plain('users-kafka', ['updated_at'])]);
    const withoutCursor = summary([polledUsers(['updated_at']), plain('users-kafka', [])]);

    // Assess
    expect(withCursor.combinations[0]).toMatchObject({
      channels: ['users-backfill poll cursor', 'users-kafka kafka cursor'],
      order: 'if-timestamp-cursor',
    });
    expect(withoutCursor.combinations[0]).toMatchObject({
      channels: ['users-backfill poll cursor', 'users-kafka kafka arrival-time'],
      order: 'no',
    });
    expect(withoutCursor.warnings).toContain('users-kafka source.cursor');
  });

  it('finds nothing to explain where each target is fed by one channel', () => {
    // Act
    const result = summary([
      polledUsers(['updated_at']),
      pipeline('events', { type: 'cdc', key: ['id'] }, bus),
    ]);

    // Assess
    expect(result).toEqual({ combinations: [], warnings: [] });
  });

  it('puts a GitHub poll and its webhooks in one version order, both by updated_at', () => {
    // Prepare
    const github = pipeline(
      'issues',
      { type: 'github', owner: 'acme', repo: 'shop', key: ['kind', 'id'] },
      { schedule: 'rate(1 hour)', webhook: { signature: 'github', secret: 'hook' } },
    );

    // Act
    const { combinations, warnings } = channelCombinations([github]);

    // Assess
    expect(warnings).toEqual([]);
    expect(combinations).toEqual([
      {
        pipelines: ['issues'],
        target: 'dynamodb target of issues',
        channels: [
          expect.objectContaining({ channel: 'poll', via: 'triggers.schedule', basis: 'change-time' }),
          expect.objectContaining({ channel: 'webhook', via: 'triggers.webhook', basis: 'change-time' }),
        ],
        order: 'one',
        explanation: expect.stringMatching(/^One version order: the newer change wins whichever channel/),
      },
    ]);
  });

  it('puts Debezium events from the bus and from Kafka in one order, by commit time then log position', () => {
    // Act
    const result = summary([pipeline('stock', { type: 'cdc', key: ['sku'] }, { ...bus, ...kafka })]);

    // Assess
    expect(result).toEqual({
      combinations: [
        {
          pipelines: ['stock'],
          channels: ['stock bus change-time', 'stock kafka change-time'],
          order: 'one',
        },
      ],
      warnings: [],
    });
  });

  it('advises format debezium when esync.change events on the bus meet Debezium events from Kafka', () => {
    // Act
    const { combinations, warnings } = channelCombinations([
      pipeline('stock', { type: 'cdc', format: 'esync', key: ['sku'] }, { ...bus, ...kafka }),
    ]);

    // Assess
    expect(combinations.map((c) => c.order)).toEqual(['if-sender-follows']);
    expect(warnings).toEqual([
      {
        pipeline: 'stock',
        path: 'source.format',
        message: expect.stringMatching(
          /^is esync: .* ordered with stock kafka only when .* Use format debezium/,
        ),
      },
    ]);
  });

  it('groups a backfill poll and a CDC pipeline that write one table, in one order if the cursor holds timestamps', () => {
    // Act
    const { combinations, warnings } = channelCombinations([polledUsers(['updated_at']), streamedUsers]);

    // Assess
    expect(combinations).toEqual([
      expect.objectContaining({
        pipelines: ['users-backfill', 'users-cdc'],
        target: 'dynamodb table users',
        order: 'if-timestamp-cursor',
        explanation: expect.stringMatching(/^One version order when every cursor named holds timestamps/),
      }),
    ]);
    expect(warnings).toEqual([]);
  });

  it('takes a polled source with triggers.cdc as a backfill poll and a change stream of one pipeline', () => {
    // Prepare
    const both = pipeline(
      'items',
      { type: 'postgres', connection: { secret: 'db' }, table: 'items', key: ['id'], cursor: ['updated_at'] },
      { schedule: 'rate(1 day)', ...bus },
    );

    // Act
    const result = summary([both]);

    // Assess
    expect(result).toEqual({
      combinations: [
        {
          pipelines: ['items'],
          channels: ['items poll cursor', 'items bus change-time'],
          order: 'if-timestamp-cursor',
        },
      ],
      warnings: [],
    });
  });

  it('puts a full-read backfill (no cursor) in the one order, stamped with the time its read started', () => {
    // Act
    const result = summary([polledUsers([]), streamedUsers]);

    // Assess
    expect(result).toEqual({
      combinations: [
        {
          pipelines: ['users-backfill', 'users-cdc'],
          channels: ['users-backfill poll read-time', 'users-cdc bus change-time'],
          order: 'one',
        },
      ],
      warnings: [],
    });
  });

  it('warns when pipelines that write one table make their keys of different fields', () => {
    // Act
    const { warnings } = channelCombinations([polledUsers([], ['user_id']), streamedUsers]);

    // Assess
    expect(warnings).toEqual([
      {
        pipeline: 'users-cdc',
        path: 'source.key',
        message: expect.stringMatching(
          /^is \[id\], but users-backfill writes the same dynamodb table users with key \[user_id\]/,
        ),
      },
    ]);
  });

  it('finds no shared order for JSON webhooks versioned by arrival time beside a poll, and advises a cursor', () => {
    // Prepare
    const hooks = pipeline(
      'users-hooks',
      { type: 'webhook', key: ['id'] },
      { webhook: { signature: 'standard-webhooks', secret: 'hook' } },
      sharedTable,
    );

    // Act
    const result = summary([polledUsers([]), hooks]);

    // Assess
    expect(result).toEqual({
      combinations: [
        {
          pipelines: ['users-backfill', 'users-hooks'],
          channels: ['users-backfill poll read-time', 'users-hooks webhook arrival-time'],
          order: 'no',
        },
      ],
      warnings: ['users-hooks source.cursor'],
    });
  });

  it('never groups pipelines whose targets are their own (an owned table, an S3 lake folder)', () => {
    // Act
    const result = summary([
      pipeline('a', { type: 'cdc', key: ['id'] }, bus, { type: 's3' }),
      pipeline('b', { type: 'cdc', key: ['id'] }, bus, { type: 's3' }),
      pipeline('c', { type: 'cdc', key: ['id'] }, bus),
      pipeline('d', { type: 'cdc', key: ['id'] }, bus),
    ]);

    // Assess
    expect(result).toEqual({ combinations: [], warnings: [] });
  });
});

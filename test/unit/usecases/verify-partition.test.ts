import { describe, expect, it } from 'vitest';
import { keyRangePartitions, rangesFromBoundaries } from '../../../shared/domain/key-range.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { deletesPartOf } from '../../../shared/usecases/phases/6-verify-partition.ts';
import { keysOfPartition } from '../../../shared/usecases/phases/6-verify-target.ts';

const pipeline = (source: Record<string, unknown>) =>
  pipelineSchema.parse({ name: 'p', source, target: { type: 'dynamodb' } });
const postgres = (key: string[], deletes: Record<string, unknown> = { mode: 'none' }) =>
  pipeline({
    type: 'postgres',
    connection: { secret: 'db' },
    table: 't',
    key,
    cursor: ['updated_at'],
    deletes,
  });

describe('the target keys of a verify partition', () => {
  it('gives every integer key to exactly one range, ordered as numbers', () => {
    // Prepare
    const partitions = keyRangePartitions(rangesFromBoundaries([[10], [200]]));
    const holds = partitions.map((p) => keysOfPartition(postgres(['id']), p));

    // Act
    const owners = ['-5', '9', '10', '11', '99', '200', '201', '1000'].map((key) =>
      holds.flatMap((h, i) => (h(key) ? [i] : [])),
    );

    // Assess
    expect(owners).toEqual([[0], [0], [0], [1], [1], [1], [2], [2]]);
  });

  it('splits a composite key at #, keeping a # of the last column in it', () => {
    // Prepare
    const [first, second] = keyRangePartitions(rangesFromBoundaries([['b', 'm#1']]));
    const p = postgres(['region', 'name']);

    // Act
    const inFirst = keysOfPartition(p, first as never);
    const inSecond = keysOfPartition(p, second as never);

    // Assess
    expect(['a#z', 'b#m#1', 'b#a'].map(inFirst)).toEqual([true, true, true]);
    expect(['b#m#2', 'c#a'].map(inSecond)).toEqual([true, true]);
    expect(['b#m#2', 'c#a'].map(inFirst)).toEqual([false, false]);
  });

  it('holds every key for a partition that is not a range of the record key', () => {
    // Prepare
    const s3 = pipeline({ type: 's3', prefix: 'in/', format: 'jsonl', key: ['id'], cursor: [] });
    const objects = { id: 'range-1-of-2', spec: { range: { after: null, upTo: ['in/b.jsonl'] } } };

    // Act
    const holds = keysOfPartition(s3, objects);

    // Assess
    expect(['zzz', 'a'].map(holds)).toEqual([true, true]);
  });
});

describe('the part of each verify partition in finding hard deletes', () => {
  it('is its own key range for a SQL source, nothing without deletes.mode verify', () => {
    expect(deletesPartOf(postgres(['id'], { mode: 'verify' }), 3)).toBe('range');
    expect(deletesPartOf(postgres(['id']), 0)).toBe('none');
  });

  it('is every key, found by the first partition, when a key expression makes the record key', () => {
    const keyed = pipeline({
      type: 'postgres',
      connection: { secret: 'db' },
      table: 't',
      key: ['id'],
      keyExpression: '$lowercase(email)',
      deletes: { mode: 'verify' },
    });
    const [first] = keyRangePartitions(rangesFromBoundaries([[10]]));

    expect([0, 1].map((i) => deletesPartOf(keyed, i))).toEqual(['all', 'none']);
    expect(['ada@example.com', '5'].map(keysOfPartition(keyed, first as never))).toEqual([true, true]);
  });
});

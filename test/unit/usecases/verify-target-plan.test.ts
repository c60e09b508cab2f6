import { describe, expect, it } from 'vitest';
import type { TargetConnector, TargetSize } from '../../../shared/connectors/types.ts';
import { keyRangePartitions, rangesFromBoundaries } from '../../../shared/domain/key-range.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import type { VerifyItem } from '../../../shared/usecases/phases/6-verify-partition.ts';
import { MAX_SLICE_RECORDS, planTargetRead } from '../../../shared/usecases/phases/6-verify-target.ts';

/**
 * Verify's choice of how partitions read a DynamoDB target, with the target's size and the run's
 * counts faked: by key, or one whole read sliced per partition, cut finer when slices would hold
 * more than a partition should.
 */

const pipeline = pipelineSchema.parse({
  name: 'p',
  source: { type: 'postgres', connection: { secret: 'db' }, table: 't', key: ['id'], cursor: ['updated_at'] },
  target: { type: 'dynamodb' },
});
const RECORDS = 1000;
/** 1 KB items: a Scan of the table costs a quarter of reading every key. */
const TABLE: TargetSize = { records: RECORDS, bytes: RECORDS * 1000 };

const rangedItems = (boundaries: number[]): VerifyItem[] =>
  keyRangePartitions(
    rangesFromBoundaries(
      boundaries.map((b) => [b]),
      ['integer'],
    ),
  ).map((partition) => ({ partition, findDeletes: 'none' as const }));
const wholeWindow: VerifyItem[] = [{ partition: { id: 'all', spec: {} }, findDeletes: 'none' }];

function fakeDeps(size: TargetSize) {
  const written: string[] = [];
  const target = {
    segmented: {
      approximateRecords: async () => size.records,
      approximateSize: async () => size,
      readSegment: async () => ({ changes: [], next: null }),
    },
    close: async () => {},
  } as unknown as TargetConnector;
  const deps = {
    createTarget: () => target,
    state: { runs: { get: async () => ({ counts: { extracted: size.records } }) } },
    clients: {
      s3: {
        send: async (command: { input: { Key: string } }) => {
          written.push(command.input.Key);
          return {};
        },
      },
    },
    config: { dataBucket: 'data' },
  } as unknown as Deps;
  return { deps, written };
}

describe("Verify's plan of the target read", () => {
  it('reads a table whole when that costs less, its partitions as planned while their slices hold at most the bound', async () => {
    // Prepare
    const { deps } = fakeDeps(TABLE);
    const planned = rangedItems([250, 500, 750]);
    const finer = async () => {
      throw new Error('not cut');
    };

    // Act
    const read = await planTargetRead(deps, pipeline, 'run-1', planned, finer, { sliceRecords: 250 });

    // Assess
    expect(read.segments).toHaveLength(4);
    expect(read.items.map((i) => [i.partition.id, i.targetSlice?.slice])).toEqual([
      ['range-1-of-4', 0],
      ['range-2-of-4', 1],
      ['range-3-of-4', 2],
      ['range-4-of-4', 3],
    ]);
  });

  it('cuts the key ranges finer when the slices would hold more than the bound, each item its own slice', async () => {
    // Prepare
    const { deps } = fakeDeps(TABLE);
    const asked: number[] = [];
    const finer = async (parts: number) => {
      asked.push(parts);
      return rangedItems(Array.from({ length: parts - 1 }, (_, i) => (i + 1) * (RECORDS / parts)));
    };

    // Act
    const read = await planTargetRead(deps, pipeline, 'run-1', rangedItems([500]), finer, {
      sliceRecords: 150,
    });

    // Assess: 1000 records, 150 a slice at most: 7 partitions, a slice each, a segment each.
    expect(asked).toEqual([Math.ceil(RECORDS / 150)]);
    expect(read.items.map((i) => i.targetSlice?.slice)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(read.segments).toHaveLength(7);
  });

  it('reads by key a table above the bound whose partition is not a key range: it would hold the whole read', async () => {
    // Prepare
    const { deps, written } = fakeDeps(TABLE);
    const finer = async () => wholeWindow;

    // Act
    const above = await planTargetRead(deps, pipeline, 'run-1', wholeWindow, finer, { sliceRecords: 999 });
    const within = await planTargetRead(deps, pipeline, 'run-1', wholeWindow, finer, { sliceRecords: 1000 });

    // Assess
    expect(above).toEqual({ items: wholeWindow, segments: [] });
    expect(within.segments.length).toBeGreaterThan(0);
    expect(within.items.map((i) => i.targetSlice?.slice)).toEqual([0]);
    expect(written).toHaveLength(1);
  });

  it('bounds a slice at 250,000 records by default', () => {
    expect(MAX_SLICE_RECORDS).toBe(250_000);
  });
});

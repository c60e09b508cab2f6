import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { expiresAt, keys } from './keys.ts';
import { queryAll } from './query-all.ts';

/** One difference between source and target that Verify found. */
export interface Mismatch {
  readonly key: string;
  /** `not-in-source`: a live target key the source no longer has (a hard delete). */
  readonly problem: 'missing' | 'content' | 'not-deleted' | 'not-in-source';
  readonly sourceVersion?: string;
  readonly targetVersion?: string;
}

/**
 * What one invocation of a partition's Verify found. A partition verified in several invocations
 * (continuations) leaves one result per invocation, numbered by `seq`; a retried invocation
 * overwrites its own.
 */
export interface VerifyChunk {
  readonly partitionId: string;
  readonly seq: number;
  readonly compared: number;
  readonly mismatches: number;
  /** Target keys the source no longer has, sent as deletes. */
  readonly deleted: number;
  /**
   * Records the partition read from the target as a whole (its key range, or its slice of one
   * read of the target), besides the keys it looked up one by one.
   */
  readonly targetRead: number;
  /** The first differences, mismatches and deletes, kept for the report. */
  readonly sample: readonly Mismatch[];
}

/** The results of a run's partitioned Verify, summed by its summary step. */
export class VerifyResultsRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionDays = 30,
  ) {}

  async put(runId: string, chunk: VerifyChunk): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...keys.verifyChunk(runId, chunk.partitionId, chunk.seq),
          type: 'verify-chunk',
          ...chunk,
          expiresAt: expiresAt(this.retentionDays),
        },
      }),
    );
  }

  /** Every result of the run's Verify, in partition and sequence order. */
  async list(runId: string): Promise<VerifyChunk[]> {
    const found: VerifyChunk[] = [];
    for await (const item of queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
      ExpressionAttributeValues: { ':pk': keys.run(runId).pk, ':v': 'VERIFY#' },
    }))
      found.push({
        partitionId: String(item.partitionId),
        seq: Number(item.seq),
        compared: Number(item.compared ?? 0),
        mismatches: Number(item.mismatches ?? 0),
        deleted: Number(item.deleted ?? 0),
        targetRead: Number(item.targetRead ?? 0),
        sample: (item.sample ?? []) as Mismatch[],
      });
    return found;
  }
}

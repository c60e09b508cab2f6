import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ChangeWindow, Cursor } from '../connectors/types.ts';
import { PartitionTakenOverError } from '../errors.ts';
import { conditionFailed, conditionHeld, readItem } from './items.ts';
import { expiresAt, keys } from './keys.ts';
import { queryAll } from './query-all.ts';

/**
 * The plan of a run that has not verified yet. A later run that starts from the same
 * checkpoint with the same pipeline definition (`basis`) extracts this plan's partitions
 * instead of planning anew, so what is done is not done again.
 */
export interface SavedPlan {
  readonly pipeline: string;
  /** The run that made the plan. */
  readonly planId: string;
  /** What the plan depends on: the checkpoint it starts from and the pipeline's definition. */
  readonly basis: string;
  readonly window: ChangeWindow;
  /** Data bucket key of the JSON array of the plan's partitions. */
  readonly partitionsKey: string;
  readonly partitionCount: number;
  readonly createdAt: string;
}

/** How far one partition of a plan has been extracted. */
export interface PartitionProgress {
  readonly partitionId: string;
  /** The last row whose records are on the load queue. */
  readonly cursor: Cursor | null;
  /** Rows of the partition on the queue so far (over every run that extracted it). */
  readonly extracted: number;
  readonly done: boolean;
  /**
   * The run that owns the partition: the last to claim it (a run resuming the plan) or, unclaimed,
   * the run whose Extract wrote this progress. Only the owner's Extract sends and records.
   */
  readonly runId: string;
}

/** What claiming a partition found: finished already, or the progress the claimant takes over. */
export type PartitionClaim =
  | { readonly finished: true }
  /** `taken`: the partition's progress when claimed; none when no run had recorded any. */
  | { readonly finished: false; readonly taken: PartitionProgress | undefined };

/** Progress items expire once no run can resume their plan any more. */
const PROGRESS_RETENTION_DAYS = 30;

/** Unfinished plans and the progress of their partitions: what makes a stopped run resumable. */
export class ProgressRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getPlan(pipeline: string): Promise<SavedPlan | undefined> {
    const stored = await readItem(this.ddb, this.table, keys.plan(pipeline));
    if (!stored) return undefined;
    const { pk: _pk, sk: _sk, type: _t, ...plan } = stored;
    return plan as SavedPlan;
  }

  async putPlan(plan: SavedPlan): Promise<void> {
    await this.ddb.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.plan(plan.pipeline), type: 'plan', ...plan } }),
    );
  }

  /** Forgets the pipeline's saved plan when it is still `planId` (a newer plan stays). */
  async finishPlan(pipeline: string, planId: string): Promise<void> {
    await conditionHeld(
      this.ddb.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.plan(pipeline),
          ConditionExpression: 'planId = :id',
          ExpressionAttributeValues: { ':id': planId },
        }),
      ),
    );
  }

  async getPartition(
    pipeline: string,
    planId: string,
    partitionId: string,
  ): Promise<PartitionProgress | undefined> {
    const stored = await readItem(
      this.ddb,
      this.table,
      keys.partitionProgress(pipeline, planId, partitionId),
    );
    return stored ? toProgress(stored) : undefined;
  }

  /** Every partition of the plan with recorded progress. */
  async listPartitions(pipeline: string, planId: string): Promise<PartitionProgress[]> {
    const found: PartitionProgress[] = [];
    for await (const item of queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
      ExpressionAttributeValues: { ':pk': keys.progressOfPlan(pipeline, planId), ':part': 'PART#' },
    }))
      found.push(toProgress(item));
    return found;
  }

  /**
   * Makes `runId` the partition's owner, unless it is finished, and answers the progress it had
   * then: no other run's Extract can move it any more (see {@link recordPartition}), so the
   * claimant resumes from exactly what it abandons earlier registrations against.
   */
  async claimPartition(
    pipeline: string,
    planId: string,
    partitionId: string,
    runId: string,
  ): Promise<PartitionClaim> {
    const claiming = this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.partitionProgress(pipeline, planId, partitionId),
        UpdateExpression:
          'SET #type = :type, partitionId = :id, runId = :run, extracted = if_not_exists(extracted, :zero), done = if_not_exists(done, :no), expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(pk) OR done = :no',
        ExpressionAttributeNames: { '#type': 'type' },
        ExpressionAttributeValues: {
          ':type': 'partition-progress',
          ':id': partitionId,
          ':run': runId,
          ':zero': 0,
          ':no': false,
          ':exp': expiresAt(PROGRESS_RETENTION_DAYS),
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const out = await claiming.catch((error: unknown) => {
      if (conditionFailed(error)) return undefined;
      throw error;
    });
    if (!out) return { finished: true };
    return { finished: false, taken: out.Attributes ? toProgress(out.Attributes) : undefined };
  }

  /**
   * Checks that `runId` still owns the partition (a consistent read).
   * @throws PartitionTakenOverError when another run claimed it.
   */
  async confirmOwner(pipeline: string, planId: string, partitionId: string, runId: string): Promise<void> {
    assertOwner(await this.getPartition(pipeline, planId, partitionId), runId);
  }

  /**
   * Records a partition's progress, by its owner only. It only moves forward: a retried Extract
   * cannot move it back, nor undo `done`; such a refusal is no error.
   * @throws PartitionTakenOverError when another run claimed the partition: the Extract of a
   * stopped run still running (Lambda keeps running after StopExecution) must stop.
   */
  async recordPartition(pipeline: string, planId: string, progress: PartitionProgress): Promise<void> {
    const recorded = await conditionHeld(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.partitionProgress(pipeline, planId, progress.partitionId),
          UpdateExpression:
            'SET #type = :type, partitionId = :id, #cursor = :cursor, extracted = :n, done = :done, runId = :run, expiresAt = :exp',
          ConditionExpression:
            'attribute_not_exists(pk) OR (runId = :run AND done = :no AND extracted <= :n)',
          ExpressionAttributeNames: { '#type': 'type', '#cursor': 'cursor' },
          ExpressionAttributeValues: {
            ':type': 'partition-progress',
            ':id': progress.partitionId,
            ':cursor': progress.cursor,
            ':n': progress.extracted,
            ':done': progress.done,
            ':run': progress.runId,
            ':exp': expiresAt(PROGRESS_RETENTION_DAYS),
            ':no': false,
          },
        }),
      ),
    );
    if (!recorded) await this.confirmOwner(pipeline, planId, progress.partitionId, progress.runId);
  }
}

/**
 * A partition with no progress is anyone's; one with progress belongs to its `runId`.
 * @throws PartitionTakenOverError when `progress` belongs to another run.
 */
export function assertOwner(progress: PartitionProgress | undefined, runId: string): void {
  if (progress !== undefined && progress.runId !== runId)
    throw new PartitionTakenOverError(progress.partitionId, progress.runId);
}

function toProgress(item: Record<string, unknown>): PartitionProgress {
  return {
    partitionId: String(item.partitionId),
    cursor: (item.cursor ?? null) as Cursor | null,
    extracted: Number(item.extracted ?? 0),
    done: item.done === true,
    runId: String(item.runId),
  };
}

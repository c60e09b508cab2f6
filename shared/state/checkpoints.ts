import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor } from '../connectors/types.ts';
import { keys } from './keys.ts';

export interface Checkpoint {
  readonly pipeline: string;
  /** Everything at or before this cursor has been loaded (or accounted for). */
  readonly cursor: Cursor | null;
  /** Run that set it, or `reset` for an operator reset. */
  readonly setBy: string;
  readonly updatedAt: string;
  readonly reason?: string;
}

/** Per-pipeline checkpoints: where the next batch run starts. */
export class CheckpointRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(pipeline: string): Promise<Checkpoint | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: keys.checkpoint(pipeline), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const item = out.Item as Checkpoint & Record<string, unknown>;
    return {
      pipeline,
      cursor: item.cursor ?? null,
      setBy: item.setBy,
      updatedAt: item.updatedAt,
      reason: item.reason,
    };
  }

  async put(checkpoint: Checkpoint): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.checkpoint(checkpoint.pipeline), type: 'checkpoint', ...checkpoint },
      }),
    );
  }
}

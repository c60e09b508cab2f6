import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor } from '../connectors/types.ts';
import type { SchemaField } from '../domain/schema-drift.ts';
import { readItem } from './items.ts';
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

/** The source schema a pipeline accepted last: what the next run's Discover compares with. */
export interface AcceptedSchema {
  readonly pipeline: string;
  readonly fields: readonly SchemaField[];
  /** Run that set it. */
  readonly setBy: string;
  readonly updatedAt: string;
}

/**
 * Per-pipeline checkpoints: where the next batch run starts; and beside each, the source schema
 * the pipeline accepted (an operator's checkpoint reset leaves it as it is).
 */
export class CheckpointRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(pipeline: string): Promise<Checkpoint | undefined> {
    const item = (await readItem(this.ddb, this.table, keys.checkpoint(pipeline))) as
      | (Checkpoint & Record<string, unknown>)
      | undefined;
    if (!item) return undefined;
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

  /**
   * The pipeline's last run whose full Verify passed while no run of it has ended otherwise
   * since: its ledger vouches for the messages it loaded clean (`usecases/unchanged-messages.ts`).
   * An operator's checkpoint reset leaves it, since a reset moves where runs start, not what the
   * target holds.
   */
  async verifiedRun(pipeline: string): Promise<string | undefined> {
    const stored = await readItem(this.ddb, this.table, keys.verifiedRun(pipeline));
    return typeof stored?.runId === 'string' ? stored.runId : undefined;
  }

  async setVerifiedRun(pipeline: string, runId: string, at: string): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.verifiedRun(pipeline), type: 'verified-run', runId, updatedAt: at },
      }),
    );
  }

  /** Forgets the last verified run: the next run sends every message. */
  async forgetVerifiedRun(pipeline: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.table, Key: keys.verifiedRun(pipeline) }));
  }

  async getSchema(pipeline: string): Promise<AcceptedSchema | undefined> {
    const item = (await readItem(this.ddb, this.table, keys.sourceSchema(pipeline))) as
      | (AcceptedSchema & Record<string, unknown>)
      | undefined;
    if (!item) return undefined;
    return { pipeline, fields: item.fields, setBy: item.setBy, updatedAt: item.updatedAt };
  }

  async putSchema(schema: AcceptedSchema): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.sourceSchema(schema.pipeline), type: 'source-schema', ...schema },
      }),
    );
  }
}

import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { RecordData } from '../records/envelope.ts';
import { conditionHeld, cursorOfLastKey, putIfAbsent, readItem, startKeyOf } from './items.ts';
import { keys } from './keys.ts';
import { fromStoredData, toStoredData } from './record-data.ts';

export type ConflictStatus = 'open' | 'resolved';

export interface ConflictRecord {
  readonly id: string;
  readonly pipeline: string;
  readonly key: string;
  readonly status: ConflictStatus;
  readonly createdAt: string;
  readonly strategy: string;
  /** Fields changed on both sides (field-merge), empty for whole-record conflicts. */
  readonly fields: readonly string[];
  readonly source: { readonly version: string; readonly data: RecordData | null };
  readonly target: { readonly version: string; readonly data: RecordData | null };
  readonly base?: RecordData | null;
  readonly resolution?: {
    readonly choice: 'source' | 'target' | 'merged';
    readonly data: RecordData | null;
    readonly by: string;
    readonly at: string;
    readonly reason: string;
  };
}

/** Id of the conflict a change raises: the same change parked twice (a redelivery) is one conflict. */
export const conflictId = (pipeline: string, key: string, version: string) =>
  Buffer.from(`${pipeline}\u0000${key}\u0000${version}`).toString('base64url');

function toConflict(item: Record<string, unknown>): ConflictRecord {
  const { pk: _a, sk: _b, gsi1pk: _c, gsi1sk: _d, type: _e, ...rest } = item;
  const stored = rest as unknown as ConflictRecord;
  return {
    ...stored,
    source: { ...stored.source, data: fromStoredData(stored.source.data) },
    target: { ...stored.target, data: fromStoredData(stored.target.data) },
    ...(stored.base === undefined ? {} : { base: fromStoredData(stored.base) }),
    ...(stored.resolution
      ? { resolution: { ...stored.resolution, data: fromStoredData(stored.resolution.data) } }
      : {}),
  };
}

/** Parked conflicts, open until an operator resolves them. */
export class ConflictRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Parks a conflict; returns false when the same conflict was already parked. */
  async park(conflict: Omit<ConflictRecord, 'status' | 'resolution'>): Promise<boolean> {
    return putIfAbsent(this.ddb, this.table, {
      ...keys.conflict(conflict.id),
      ...keys.conflictInList(conflict.pipeline, 'open', conflict.createdAt, conflict.id),
      type: 'conflict',
      ...conflict,
      source: { ...conflict.source, data: toStoredData(conflict.source.data) },
      target: { ...conflict.target, data: toStoredData(conflict.target.data) },
      ...(conflict.base === undefined ? {} : { base: toStoredData(conflict.base) }),
      status: 'open',
    });
  }

  async get(id: string): Promise<ConflictRecord> {
    const stored = await readItem(this.ddb, this.table, keys.conflict(id));
    if (!stored) throw new NotFoundError(`conflict "${id}" does not exist`);
    return toConflict(stored);
  }

  async list(query: { pipeline: string; status?: ConflictStatus; limit?: number; after?: string }) {
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': keys.conflictsOf(query.pipeline, query.status ?? 'open') },
        ScanIndexForward: false,
        Limit: query.limit ?? 50,
        ExclusiveStartKey: startKeyOf(query.after),
      }),
    );
    return {
      conflicts: (out.Items ?? []).map(toConflict),
      next: cursorOfLastKey(out.LastEvaluatedKey),
    };
  }

  /** Marks an open conflict resolved; a second resolution is refused. */
  async resolve(id: string, resolution: NonNullable<ConflictRecord['resolution']>): Promise<ConflictRecord> {
    const current = await this.get(id);
    const resolved = await conditionHeld(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.conflict(id),
          UpdateExpression: 'SET #s = :resolved, resolution = :r, gsi1pk = :g',
          ConditionExpression: '#s = :open',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':resolved': 'resolved',
            ':open': 'open',
            ':r': { ...resolution, data: toStoredData(resolution.data) },
            ':g': keys.conflictsOf(current.pipeline, 'resolved'),
          },
        }),
      ),
    );
    if (!resolved) throw new ConflictError(`conflict "${id}" is already resolved`);
    return { ...current, status: 'resolved', resolution };
  }
}

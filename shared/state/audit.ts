import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys.ts';

export interface AuditEntry {
  readonly pipeline: string;
  /** IAM principal (ARN) or `local:<name>` on the local stack. */
  readonly who: string;
  readonly at: string;
  /** e.g. `checkpoint.reset`, `conflict.resolve`, `run.start`, `dlq.redrive`. */
  readonly action: string;
  readonly what: Readonly<Record<string, unknown>>;
  readonly why: string;
}

/** Append-only audit trail of every mutating management call. */
export class AuditRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async append(entry: AuditEntry): Promise<void> {
    const id = randomUUID();
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.audit(entry.pipeline, entry.at, id), type: 'audit', id, ...entry },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async list(pipeline: string, limit = 50): Promise<AuditEntry[]> {
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `AUDIT#${pipeline}` },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((item) => {
      const { pk: _a, sk: _b, type: _c, id: _d, ...entry } = item;
      return entry as AuditEntry;
    });
  }
}

import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expiresAt, keys } from './keys.ts';

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

/** Which entries to read, newest first. Times are ISO-8601 UTC as `toISOString()` writes them. */
export interface AuditQuery {
  /** One pipeline's trail (its own partition); without it, every pipeline's (gsi1). */
  readonly pipeline?: string;
  /** Exact action, e.g. `checkpoint.reset`. */
  readonly action?: string;
  /** Entries whose principal contains this text (an ARN is long; a user name is enough). */
  readonly actor?: string;
  /** Entries at or after this time. */
  readonly since?: string;
  /** Entries before this time. */
  readonly until?: string;
  /** Entries older than this cursor (the `next` of a previous page). */
  readonly before?: string;
  readonly limit: number;
}

export interface AuditPage {
  readonly entries: AuditEntry[];
  /** Sort key of the last entry returned, when more entries may follow. */
  readonly next?: string;
}

/** The sort-key condition of a query: `since` inclusive, the lower of `until` and `before` exclusive. */
function sortKeyRange(field: string, query: AuditQuery) {
  const bounds = [query.until, query.before].filter((b): b is string => b !== undefined);
  const upper = bounds.length > 0 ? bounds.reduce((a, b) => (a < b ? a : b)) : undefined;
  const values: Record<string, string> = {};
  if (upper !== undefined) values[':hi'] = upper;
  if (query.since !== undefined) values[':lo'] = query.since;
  // BETWEEN includes its upper bound: the entry equal to it (the cursor's own) is dropped after the read.
  const condition =
    upper !== undefined && query.since !== undefined
      ? ` AND ${field} BETWEEN :lo AND :hi`
      : upper !== undefined
        ? ` AND ${field} < :hi`
        : query.since !== undefined
          ? ` AND ${field} >= :lo`
          : '';
  return { condition, values, upper };
}

function filterOf(query: AuditQuery) {
  const parts: string[] = [];
  const values: Record<string, string> = {};
  if (query.action !== undefined) {
    parts.push('#action = :action');
    values[':action'] = query.action;
  }
  if (query.actor !== undefined) {
    parts.push('contains(#who, :actor)');
    values[':actor'] = query.actor;
  }
  if (parts.length === 0) return {};
  return {
    FilterExpression: parts.join(' AND '),
    ExpressionAttributeNames: {
      ...(query.action !== undefined && { '#action': 'action' }),
      ...(query.actor !== undefined && { '#who': 'who' }),
    },
    values,
  };
}

/** Append-only audit trail of every mutating management call; layout in keys.ts. */
export class AuditRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Writes one entry, kept `retentionDays` from its time (then removed by the table's TTL). */
  async append(entry: AuditEntry, retentionDays: number): Promise<void> {
    const id = randomUUID();
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...keys.audit(entry.pipeline, entry.at, id),
          type: 'audit',
          id,
          ...entry,
          expiresAt: expiresAt(retentionDays, new Date(entry.at)),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /**
   * Up to `limit` entries matching the query, newest first. Paging continues past pages the
   * action and actor filters emptied, so `limit` entries come back whenever they exist.
   */
  async page(query: AuditQuery): Promise<AuditPage> {
    const byPipeline = query.pipeline !== undefined;
    const [pkField, skField] = byPipeline ? ['pk', 'sk'] : ['gsi1pk', 'gsi1sk'];
    const range = sortKeyRange(skField, query);
    if (query.since !== undefined && range.upper !== undefined && query.since >= range.upper)
      return { entries: [] };
    const filter = filterOf(query);
    const entries: { sk: string; entry: AuditEntry }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          ...(byPipeline ? {} : { IndexName: 'gsi1' }),
          KeyConditionExpression: `${pkField} = :p${range.condition}`,
          ExpressionAttributeValues: {
            ':p': byPipeline ? keys.auditOf(query.pipeline ?? '') : keys.auditIndex,
            ...range.values,
            ...filter.values,
          },
          ...(filter.FilterExpression && {
            FilterExpression: filter.FilterExpression,
            ExpressionAttributeNames: filter.ExpressionAttributeNames,
          }),
          ScanIndexForward: false,
          Limit: query.limit + 1,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const sk = String(item.sk);
        if (sk === range.upper) continue;
        const { pk: _a, sk: _b, gsi1pk: _c, gsi1sk: _d, type: _e, id: _f, expiresAt: _g, ...entry } = item;
        entries.push({ sk, entry: entry as AuditEntry });
      }
      start = out.LastEvaluatedKey;
    } while (start !== undefined && entries.length <= query.limit);
    const kept = entries.slice(0, query.limit);
    const more = entries.length > query.limit || start !== undefined;
    const last = kept.at(-1);
    return { entries: kept.map((e) => e.entry), ...(more && last !== undefined && { next: last.sk }) };
  }

  /** The newest `limit` entries of one pipeline. */
  async list(pipeline: string, limit = 50): Promise<AuditEntry[]> {
    return (await this.page({ pipeline, limit })).entries;
  }
}

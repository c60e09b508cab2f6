import { DescribeTableCommand, type KeySchemaElement } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectorError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { splitKey } from '../../sql/keyset.ts';
import type { ChangeWindow, Cursor, Partition, SourceDiscovery, SourceRow } from '../../types.ts';
import { type AwsErrorNames, classifyAwsError } from '../support/aws-errors.ts';
import { retrying } from '../support/retrying.ts';
import { SourceBase, sourceFactory } from '../support/source-base.ts';

const CONNECTOR = 'dynamodb source';

interface TableKey {
  readonly name: string;
  readonly type: 'S' | 'N' | 'B';
}

interface TableInfo {
  readonly key: readonly TableKey[];
  readonly attributes: readonly { name: string; type: string }[];
  readonly itemCount: number | undefined;
}

const DYNAMODB_ERRORS: AwsErrorNames = {
  connector: CONNECTOR,
  service: 'DynamoDB',
  missing: { name: 'ResourceNotFoundException', says: 'no such table' },
  denied: new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException']),
};

/** Values a JSON envelope can carry: sets as sorted arrays, binary as base64. */
function toJson(value: unknown): unknown {
  if (value instanceof Set) return [...value].map(toJson).sort();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') {
    const out: RecordData = {};
    for (const [name, inner] of Object.entries(value)) out[name] = toJson(inner);
    return out;
  }
  return value;
}

interface SegmentPartition {
  readonly segments: readonly number[];
  readonly totalSegments: number;
}

/**
 * The DynamoDB source: full loads of one table by parallel scan segments; each partition
 * scans some of the `segments` (one each when Extract runs that many partitions).
 *
 * Rows come in scan order (DynamoDB's hash order), not key order. A row's cursor is
 * `[segment]` with its key, and a resume continues the segment with `ExclusiveStartKey`
 * when the pipeline key is the table's key (else it rescans the segment and skips up to
 * the key it stopped after). There is no high watermark: every run reads the whole table.
 * A row's version comes from the pipeline's cursor field when it has one (e.g. an
 * `updatedAt` attribute); otherwise from the time the read started, which is newer than
 * any earlier load's, and unchanged items are then recognised by their content hash.
 */
export class DynamodbSource extends SourceBase<'dynamodb'> {
  readonly #dynamodb = this.context.clients.dynamodb;
  readonly #ddb = this.context.clients.ddb;
  readonly #retry = this.context.retry;
  #table: Promise<TableInfo> | undefined;

  get #where(): string {
    return `DynamoDB table "${this.config.table}"`;
  }

  async discover(): Promise<SourceDiscovery> {
    const table = await this.#describe();
    return {
      fields: table.attributes.map(({ name, type }) => ({
        name,
        type,
        nullable: !table.key.some((k) => k.name === name),
      })),
      primaryKey: table.key.map((k) => k.name),
      capabilities: { incremental: false, deletes: this.config.deletes.mode, cdc: false },
      ...(table.itemCount === undefined ? {} : { approximateRows: table.itemCount }),
    };
  }

  override async planPartitions(_window: ChangeWindow, desired: number): Promise<Partition[]> {
    const total = this.config.segments;
    const groups = Math.max(1, Math.min(desired, total));
    return Array.from({ length: groups }, (_, index) => {
      const segments = Array.from({ length: total }, (_, s) => s).filter((s) => s % groups === index);
      return { id: `segments-${segments.join('-')}-of-${total}`, spec: { segments, totalSegments: total } };
    });
  }

  async *read(_window: ChangeWindow, partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const { segments, totalSegments } = this.#partition(partition);
    const table = await this.#describe();
    const mapper = this.rowMapper();
    const resumeSegment = typeof resumeAfter?.values[0] === 'number' ? resumeAfter.values[0] : undefined;
    for (const segment of segments) {
      if (resumeSegment !== undefined && segment < resumeSegment) continue;
      const resumeKey = segment === resumeSegment ? resumeAfter?.key : undefined;
      let startKey = resumeKey === undefined ? undefined : this.#startKey(resumeKey, table);
      let skipping = resumeKey !== undefined && startKey === undefined;
      do {
        const page = await this.#scan(segment, totalSegments, startKey);
        startKey = page.LastEvaluatedKey;
        const rows: SourceRow[] = [];
        for (const item of page.Items ?? []) {
          const data = toJson(item) as RecordData;
          const key = mapper.key(data, this.#where);
          if (skipping) {
            skipping = key !== resumeKey;
            continue;
          }
          rows.push(mapper.rowWith(data, key, { values: [segment], key }));
        }
        if (rows.length > 0) yield rows;
      } while (startKey);
      if (skipping)
        throw new ConnectorError(
          CONNECTOR,
          `${this.#where}: cannot resume segment ${segment} after ${resumeKey}: the item is gone; run again`,
        );
    }
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    return null;
  }

  #scan(segment: number, totalSegments: number, startKey: Record<string, unknown> | undefined) {
    return retrying(CONNECTOR, this.#retry, async () => {
      try {
        return await this.#ddb.send(
          new ScanCommand({
            TableName: this.config.table,
            Segment: segment,
            TotalSegments: totalSegments,
            Limit: this.config.pageSize,
            ConsistentRead: true,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
      } catch (error) {
        throw classifyAwsError(error, this.#where, DYNAMODB_ERRORS);
      }
    });
  }

  /** The table key of a record key, when the pipeline key is exactly the table's key. */
  #startKey(key: string, table: TableInfo): Record<string, unknown> | undefined {
    const names = table.key.map((k) => k.name);
    if (names.length !== this.config.key.length || names.some((n, i) => this.config.key[i] !== n))
      return undefined;
    if (table.key.some((k) => k.type === 'B')) return undefined;
    const parts = splitKey(key, names.length);
    return Object.fromEntries(
      table.key.map((k, i) => [k.name, k.type === 'N' ? Number(parts[i]) : parts[i]]),
    );
  }

  #partition(partition: Partition): SegmentPartition {
    const { segments, totalSegments } = partition.spec as { segments?: unknown; totalSegments?: unknown };
    if (segments === undefined && totalSegments === undefined) {
      const total = this.config.segments;
      return { segments: Array.from({ length: total }, (_, s) => s), totalSegments: total };
    }
    if (
      typeof totalSegments === 'number' &&
      Array.isArray(segments) &&
      segments.every((s) => Number.isInteger(s) && s >= 0 && s < totalSegments)
    )
      return { segments: segments as number[], totalSegments };
    throw new ConnectorError(
      CONNECTOR,
      `partition "${partition.id}" has a spec this source does not plan: ${JSON.stringify(partition.spec)}`,
    );
  }

  #describe(): Promise<TableInfo> {
    if (!this.#table) {
      const describing = retrying(CONNECTOR, this.#retry, async () => {
        try {
          const { Table } = await this.#dynamodb.send(
            new DescribeTableCommand({ TableName: this.config.table }),
          );
          const types = new Map(
            (Table?.AttributeDefinitions ?? []).map((a) => [a.AttributeName ?? '', a.AttributeType ?? 'S']),
          );
          const key = [...(Table?.KeySchema ?? [])]
            .sort((a: KeySchemaElement, b: KeySchemaElement) =>
              a.KeyType === 'HASH' ? -1 : b.KeyType === 'HASH' ? 1 : 0,
            )
            .map((k) => ({
              name: k.AttributeName ?? '',
              type: (types.get(k.AttributeName ?? '') ?? 'S') as TableKey['type'],
            }));
          return {
            key,
            attributes: [...types].map(([name, type]) => ({ name, type })),
            itemCount: Table?.ItemCount,
          };
        } catch (error) {
          throw classifyAwsError(error, this.#where, DYNAMODB_ERRORS);
        }
      });
      describing.catch(() => {
        if (this.#table === describing) this.#table = undefined;
      });
      this.#table = describing;
    }
    return this.#table;
  }
}

/** Creates the DynamoDB source. */
export const createDynamodbSource = sourceFactory<'dynamodb'>(DynamodbSource);

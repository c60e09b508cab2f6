import {
  type AttributeDefinition,
  type AttributeValue,
  BatchExecuteStatementCommand,
  BatchGetItemCommand,
  type BatchStatementRequest,
  type BatchStatementResponse,
  DescribeTableCommand,
  type KeySchemaElement,
  ScanCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import DataLoader from 'dataloader';
import { itemBytes, sampleWithinBudget } from '../../../cost/units.ts';
import { backoffDelay, withRetry } from '../../../domain/retry.ts';
import {
  ConfigError,
  ConnectorError,
  EsyncError,
  isRetryable,
  TransientError,
  ValidationError,
} from '../../../errors.ts';
import { ownedTargetTableName } from '../../../naming.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { contentHash } from '../../../records/hash.ts';
import type {
  SegmentedTargetRead,
  TargetChange,
  TargetSegment,
  TargetSnapshotRecord,
  TargetState,
  TargetWrite,
  WriteOutcome,
} from '../../types.ts';
import { chunk, mapWithConcurrency, newestPerKey, outcomesInOrder } from '../support/batch.ts';
import { toJsonRecord } from '../support/json-value.ts';
import { TargetBase, targetFactory } from '../support/target-base.ts';
import { perInvocation, WriteLimit } from '../support/write-limit.ts';
import { BATCH_STATEMENT_LIMIT, insertStatement, insertVerdict } from './batch-insert.ts';
import { fromDynamoItem, toDynamoData } from './marshal.ts';

/**
 * Meta attributes stored beside the record's fields. Names are one letter on purpose: DynamoDB
 * bills every attribute name byte of every item on every write and read.
 */
export const META = {
  /** Version of our last write. */
  version: '_v',
  /** Content hash of the data of our last write. */
  hash: '_h',
  /** Present (true) on tombstones. */
  deleted: '_d',
  /** Present (true) when the record's data has a field named like the key attribute. */
  keyInData: '_k',
} as const;

const META_NAMES: ReadonlySet<string> = new Set(Object.values(META));

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_LIMIT = 100;
const READ_CONCURRENCY = 4;
const SCAN_SEGMENTS = 4;
/** Parallel Scan segments of which one is read to tell a table's size: a thousandth of its items. */
const SIZE_SAMPLE_SEGMENTS = 1000;

type Item = Record<string, unknown>;
type RawItem = Record<string, AttributeValue>;

/** A write expected absent with its item, waiting in the invocation's pool of inserts. */
interface PooledInsert {
  readonly write: TargetWrite;
  readonly item: Item;
}

/** What became of a pooled insert: its outcome, or `put` when the conditional put decides it. */
type InsertVerdictOf = WriteOutcome | 'put';

interface TableKeys {
  readonly keySchema: readonly KeySchemaElement[];
  readonly attributes: readonly AttributeDefinition[];
}

function unreservedKeyAttribute(name: string): string {
  if (META_NAMES.has(name))
    throw new ConfigError(`target.keyAttribute "${name}" is reserved for ESync's meta attributes`);
  return name;
}

/**
 * DynamoDB target: one item per record, holding the record's fields, the key attribute and the
 * meta attributes in {@link META}. Every write is a single-item conditional PutItem gated on the
 * stored version (`attribute_not_exists(key) OR _v < :v`, and at an equal version `_h < :h`: a tie
 * goes to the higher content hash, `records/version.ts`), so replays and late events change
 * nothing; a delete writes a tombstone the same way, so a late older upsert cannot resurrect it.
 * Single-item writes (not transactions) cost half and run on every local emulator. Up to
 * `load.writeConcurrency` requests are in flight at once, one per key at a time, fewer while
 * DynamoDB throttles (see {@link WriteLimit}).
 *
 * With `target.batchInserts` (the default), a write of a key that Load expects absent
 * (`stored: 'absent'`: its state read found nothing, or a first full load that skips the read) goes out with up to 24 others,
 * from any message of the same Load invocation, as PartiQL INSERTs in one BatchExecuteStatement
 * ({@link insertStatement}): the same write units, one request instead of 25.
 * An insert that finds the key taken falls back to the conditional PutItem, which decides it by
 * version; a replaced item's old attributes are unknown to Load, so every other write is that PutItem.
 */
export class DynamoDbTarget extends TargetBase<'dynamodb'> {
  readonly #table = this.config.table ?? ownedTargetTableName(this.context.stage, this.context.pipeline.name);
  readonly #keyAttribute = unreservedKeyAttribute(this.config.keyAttribute);
  readonly #writes = new WriteLimit(this.context.pipeline.load.writeConcurrency);
  readonly #batchInserts = this.config.batchInserts;
  #description: Promise<TableDescription | undefined> | undefined;
  /** The pool of inserts made outside any invocation scope (tests, scripts). */
  readonly #outsidePool = this.#newPool();

  /** The table this target writes. */
  get table(): string {
    return this.#table;
  }

  async discover(): Promise<{ exists: boolean; detail: string }> {
    let description: TableKeys;
    try {
      description = await this.#describeKeys();
    } catch (error) {
      if ((error as { name?: unknown }).name === 'ResourceNotFoundException')
        return { exists: false, detail: `table "${this.#table}" does not exist` };
      throw this.#mapError(error, 'DescribeTable');
    }
    const hash = description.keySchema.find((k) => k.KeyType === 'HASH');
    const range = description.keySchema.find((k) => k.KeyType === 'RANGE');
    const hashType = description.attributes.find(
      (a) => a.AttributeName === hash?.AttributeName,
    )?.AttributeType;
    if (hash?.AttributeName !== this.#keyAttribute || range !== undefined || hashType !== 'S')
      throw new ConfigError(
        `table "${this.#table}" must have a string partition key "${this.#keyAttribute}" and no sort key ` +
          `(found ${description.keySchema.map((k) => `${k.AttributeName} ${k.KeyType}`).join(', ')}); ` +
          'set target.keyAttribute to its partition key name',
      );
    return { exists: true, detail: `table "${this.#table}", partition key "${this.#keyAttribute}"` };
  }

  async #describeKeys(): Promise<TableKeys> {
    const out = await this.context.clients.dynamodb.send(
      new DescribeTableCommand({ TableName: this.#table }),
    );
    return { keySchema: out.Table?.KeySchema ?? [], attributes: out.Table?.AttributeDefinitions ?? [] };
  }

  async readState(
    keys: readonly string[],
    options: { withData: boolean },
  ): Promise<Map<string, TargetState>> {
    const unique = [...new Set(keys)];
    const state = new Map<string, TargetState>();
    const pages = await mapWithConcurrency(chunk(unique, BATCH_GET_LIMIT), READ_CONCURRENCY, (part) =>
      this.#batchGet(part, options.withData),
    );
    for (const items of pages)
      for (const item of items) {
        const key = item[this.#keyAttribute];
        if (typeof key === 'string') state.set(key, this.#stateOf(item, options.withData));
      }
    return state;
  }

  async #batchGet(keys: readonly string[], withData: boolean): Promise<Item[]> {
    const retry = this.context.retry;
    const projection = withData
      ? {}
      : {
          ProjectionExpression: '#k, #v, #h, #d',
          ExpressionAttributeNames: {
            '#k': this.#keyAttribute,
            '#v': META.version,
            '#h': META.hash,
            '#d': META.deleted,
          },
        };
    const found: Item[] = [];
    let pending: RawItem[] = keys.map((key) => ({ [this.#keyAttribute]: { S: key } }));
    // Eventually consistent reads cost half; a shadow a moment old is harmless because the
    // version-gated put still refuses anything older than what is stored.
    // UnprocessedKeys is DynamoDB shedding load without an error; it gets the same backoff as throttling.
    // The low-level client reads numbers as their text (fromDynamoItem), never through a double.
    for (let round = 1; pending.length > 0; round++) {
      const request = { [this.#table]: { Keys: pending, ...projection } };
      const out = await withRetry(
        () => this.context.clients.dynamodb.send(new BatchGetItemCommand({ RequestItems: request })),
        retry,
      ).catch((error: unknown) => {
        throw this.#mapError(error, 'BatchGetItem');
      });
      found.push(...(out.Responses?.[this.#table] ?? []).map(fromDynamoItem));
      pending = out.UnprocessedKeys?.[this.#table]?.Keys ?? [];
      if (pending.length === 0) break;
      if (round >= retry.maxAttempts)
        throw new TransientError(
          `dynamodb: table "${this.#table}" left ${pending.length} keys unprocessed after ${round} BatchGetItem rounds`,
        );
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(round, retry)));
    }
    return found;
  }

  #stateOf(item: Item, withData: boolean): TargetState {
    const deleted = item[META.deleted] === true;
    return {
      version: typeof item[META.version] === 'string' ? (item[META.version] as string) : '',
      hash: typeof item[META.hash] === 'string' ? (item[META.hash] as string) : '',
      deleted,
      ...(withData && !deleted ? { data: this.#dataOf(item) } : {}),
    };
  }

  /** The record's fields of an item: everything but the meta attributes and the key attribute we added. */
  #dataOf(item: Item): RecordData {
    const data: RecordData = {};
    const keepKey = item[META.keyInData] === true;
    for (const [name, value] of Object.entries(item))
      if (!META_NAMES.has(name) && (keepKey || name !== this.#keyAttribute)) data[name] = value;
    return data;
  }

  async write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]> {
    const { winners, superseded } = newestPerKey(writes);
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    for (const write of superseded) outcomes.set(write, { key: write.key, status: 'stale' });
    const insertable = (write: TargetWrite) => this.#batchInserts && write.stored === 'absent';
    await Promise.all(
      winners.map(async (write) =>
        outcomes.set(write, await (insertable(write) ? this.#insert(write) : this.#put(write))),
      ),
    );
    // A missing table or refused credentials concern the whole batch: they are thrown, not counted per record.
    for (const outcome of outcomes.values())
      if (outcome.status === 'failed' && outcome.error instanceof ConnectorError) throw outcome.error;
    return outcomesInOrder(writes, outcomes);
  }

  /**
   * The write of a key expected absent, as an INSERT pooled with the invocation's other inserts
   * (see {@link #pool}); one that finds its key taken, or that DynamoDB refused or still shed
   * after the last round, goes through {@link #put}. The key stays held until its write is
   * decided, so another message's write of the key waits, as for a single put.
   */
  #insert(write: TargetWrite): Promise<WriteOutcome> {
    let item: Item;
    try {
      item = this.#itemOf(write);
    } catch (error) {
      return Promise.resolve({ key: write.key, status: 'failed', error });
    }
    return this.#writes.holding([write.key], async () => {
      const inserted = await this.#pool().load({ write, item });
      if (inserted !== 'put') return inserted;
      return this.#put(write, item, (operation) => this.#writes.retryingHeld(operation, this.context.retry));
    });
  }

  /**
   * The inserts of the invocation running now, across its messages: every insert asked for before
   * the event loop turns goes out in BatchExecuteStatement requests of up to 25, so ten messages of
   * three new keys make two requests, not ten. Each insert gets its own verdict, and each message
   * its own outcomes: a statement that fails fails only the message that asked for it.
   */
  #pool(): DataLoader<PooledInsert, InsertVerdictOf> {
    return perInvocation(this, () => this.#newPool(), this.#outsidePool);
  }

  #newPool(): DataLoader<PooledInsert, InsertVerdictOf> {
    return new DataLoader((batch: readonly PooledInsert[]) => this.#insertPooled(batch), {
      maxBatchSize: BATCH_STATEMENT_LIMIT,
      cache: false,
      batchScheduleFn: (dispatch) => setImmediate(dispatch),
    });
  }

  /** One pooled request's inserts: applied, failed, or left to the conditional put (`put`). */
  async #insertPooled(batch: readonly PooledInsert[]): Promise<InsertVerdictOf[]> {
    const items = new Map(batch.map((p) => [p.write, p.item]));
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    const toPut = new Set(await this.#insertRounds(items, outcomes));
    return batch.map((p) => (toPut.has(p.write) ? 'put' : (outcomes.get(p.write) ?? 'put')));
  }

  /**
   * Sends `items` as INSERTs, one BatchExecuteStatement per round: statements DynamoDB shed are
   * sent again after a backoff. Returns the writes left to the conditional put.
   */
  async #insertRounds(
    items: ReadonlyMap<TargetWrite, Item>,
    outcomes: Map<TargetWrite, WriteOutcome>,
  ): Promise<TargetWrite[]> {
    const retry = this.context.retry;
    const toPut: TargetWrite[] = [];
    let pending = [...items.keys()];
    for (let round = 1; pending.length > 0; round++) {
      const sent = pending;
      let responses: BatchStatementResponse[];
      try {
        responses = await this.#sendInserts(
          sent.map((write) => insertStatement(this.#table, items.get(write) ?? {})),
        );
      } catch (error) {
        const mapped = this.#mapError(error, 'BatchExecuteStatement');
        // A missing table or refused credentials concern every write. A request refused or failed
        // whole for anything else (its content, a fault past the retries) leaves each write to its
        // own put: a request pools several messages' inserts, and each message fails only by its own.
        if (!(mapped instanceof ConnectorError)) return [...toPut, ...sent];
        for (const write of sent) outcomes.set(write, { key: write.key, status: 'failed', error: mapped });
        return toPut;
      }
      pending = [];
      for (const [i, write] of sent.entries()) {
        const verdict = insertVerdict(responses[i]);
        if (verdict === 'applied') outcomes.set(write, { key: write.key, status: 'applied' });
        else if (verdict === 'put') toPut.push(write);
        else if (verdict === 'retry') pending.push(write);
        else
          outcomes.set(write, { key: write.key, status: 'failed', error: this.#unavailable(responses[i]) });
      }
      if (pending.length === 0) break;
      this.#writes.observe(
        new TransientError(`dynamodb: table "${this.#table}" shed ${pending.length} inserts`, {
          throttled: true,
        }),
      );
      // Still shed after the rounds: each goes on as a put, with the retries every put gets
      // (the SDK's and ours), so a hot key is not failed sooner than on the put path.
      if (round >= retry.maxAttempts) return [...toPut, ...pending];
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(round, retry)));
    }
    return toPut;
  }

  async #sendInserts(statements: BatchStatementRequest[]): Promise<BatchStatementResponse[]> {
    const out = await this.#writes.retryingHeld(
      () => this.context.clients.dynamodb.send(new BatchExecuteStatementCommand({ Statements: statements })),
      this.context.retry,
    );
    return out.Responses ?? [];
  }

  #unavailable(response: BatchStatementResponse | undefined): ConnectorError {
    const code = response?.Error?.Code;
    return code === 'ResourceNotFound'
      ? new ConnectorError('dynamodb', `table "${this.#table}" does not exist`)
      : new ConnectorError('dynamodb', `not authorized to use table "${this.#table}" (${String(code)})`);
  }

  /**
   * The version-gated PutItem of one write. `send` runs the request (by default under the write
   * limit, after the key's previous write).
   */
  async #put(
    write: TargetWrite,
    prepared?: Item,
    send: (operation: () => Promise<unknown>) => Promise<unknown> = (operation) =>
      this.#writes.retrying(write.key, operation, this.context.retry),
  ): Promise<WriteOutcome> {
    let item: Item;
    try {
      item = prepared ?? this.#itemOf(write);
    } catch (error) {
      return { key: write.key, status: 'failed', error };
    }
    try {
      await send(() =>
        this.context.clients.ddb.send(
          new PutCommand({
            TableName: this.#table,
            Item: item,
            // A tie (one version, other content) goes to the higher hash: records/version.ts.
            ConditionExpression: 'attribute_not_exists(#k) OR #v < :v OR (#v = :v AND #h < :h)',
            ExpressionAttributeNames: { '#k': this.#keyAttribute, '#v': META.version, '#h': META.hash },
            ExpressionAttributeValues: { ':v': write.version, ':h': write.hash },
          }),
        ),
      );
      return { key: write.key, status: 'applied' };
    } catch (error) {
      if ((error as { name?: unknown }).name === 'ConditionalCheckFailedException')
        return { key: write.key, status: 'stale' };
      return {
        key: write.key,
        status: 'failed',
        error: this.#mapError(error, `PutItem of key "${write.key}"`),
      };
    }
  }

  #itemOf(write: TargetWrite): Item {
    const meta = { [META.version]: write.version, [META.hash]: write.hash };
    if (write.op === 'delete') return { [this.#keyAttribute]: write.key, ...meta, [META.deleted]: true };
    if (write.data === null) throw new ValidationError(`dynamodb: upsert of key "${write.key}" has no data`);
    const data = toDynamoData(toJsonRecord(write.data));
    const reserved = Object.keys(data).filter((name) => META_NAMES.has(name));
    if (reserved.length > 0)
      throw new ValidationError(
        `dynamodb: key "${write.key}" has fields ${reserved.map((n) => `"${n}"`).join(', ')} reserved for ESync's meta attributes; rename them in transform.rename`,
        reserved.map((name) => ({ path: name, message: 'reserved attribute name' })),
      );
    let keyInData = false;
    if (Object.hasOwn(data, this.#keyAttribute)) {
      if (data[this.#keyAttribute] !== write.key)
        throw new ValidationError(
          `dynamodb: field "${this.#keyAttribute}" of key "${write.key}" holds ${JSON.stringify(data[this.#keyAttribute])}, ` +
            'but that attribute stores the record key as a string; choose another target.keyAttribute or rename the field',
          [{ path: this.#keyAttribute, message: 'differs from the record key' }],
        );
      keyInData = true;
    }
    return {
      ...data,
      [this.#keyAttribute]: write.key,
      ...meta,
      ...(keyInData ? { [META.keyInData]: true } : {}),
    };
  }

  async *snapshot(): AsyncIterable<TargetSnapshotRecord[]> {
    // Segments are scanned side by side, one page each per round, so a large table is read in parallel.
    let cursors: { segment: number; start: RawItem | undefined }[] = Array.from(
      { length: SCAN_SEGMENTS },
      (_, segment) => ({
        segment,
        start: undefined,
      }),
    );
    while (cursors.length > 0) {
      const pages = await Promise.all(
        cursors.map((cursor) =>
          this.#scanPage({ index: cursor.segment, total: SCAN_SEGMENTS }, cursor.start),
        ),
      );
      const records: TargetSnapshotRecord[] = [];
      const next: typeof cursors = [];
      for (const [i, page] of pages.entries()) {
        for (const { key, version, hash } of page.records)
          if (hash !== null) records.push({ key, version, hash });
        if (page.next) next.push({ segment: (cursors[i] as { segment: number }).segment, start: page.next });
      }
      cursors = next;
      if (records.length > 0) yield records;
    }
  }

  /** A parallel Scan (Segment of TotalSegments), resumed from its LastEvaluatedKey. */
  readonly segmented: SegmentedTargetRead = {
    approximateRecords: async () => (await this.#describe())?.ItemCount,
    approximateSize: async (budget = Number.POSITIVE_INFINITY) => {
      // DynamoDB updates ItemCount and TableSizeBytes about every six hours (dynalite never):
      // one hash-split share of the table, read whole, tells what a fresh load holds. The share
      // the description promises, or the one being read, past the budget: not worth reading.
      const table = await this.#describe();
      if (!sampleWithinBudget((table?.TableSizeBytes ?? 0) / SIZE_SAMPLE_SEGMENTS, budget)) return undefined;
      const share = await this.#sizeSample(budget);
      if (share === undefined) return undefined;
      return {
        records: Math.max(table?.ItemCount ?? 0, share.records * SIZE_SAMPLE_SEGMENTS),
        bytes: Math.max(table?.TableSizeBytes ?? 0, share.bytes * SIZE_SAMPLE_SEGMENTS),
      };
    },
    readSegment: async (segment, from, limit) => {
      const start = from === null ? undefined : (JSON.parse(from) as RawItem);
      const page = await this.#scanPage(segment, start, limit, true);
      return {
        changes: page.records,
        next: page.next ? JSON.stringify(page.next) : null,
      };
    },
  };

  /**
   * Items and billed bytes of segment 0 of {@link SIZE_SAMPLE_SEGMENTS} of a parallel Scan,
   * tombstones included; `undefined` as soon as what it read costs more than `budget` read units.
   */
  async #sizeSample(budget: number): Promise<{ records: number; bytes: number } | undefined> {
    let records = 0;
    let bytes = 0;
    let start: RawItem | undefined;
    do {
      const from = start;
      const out = await withRetry(
        () =>
          this.context.clients.dynamodb.send(
            new ScanCommand({
              TableName: this.#table,
              Segment: 0,
              TotalSegments: SIZE_SAMPLE_SEGMENTS,
              ...(from ? { ExclusiveStartKey: from } : {}),
            }),
          ),
        this.context.retry,
      ).catch((error: unknown) => {
        throw this.#mapError(error, 'Scan');
      });
      for (const item of out.Items ?? []) {
        records++;
        bytes += itemBytes(item);
      }
      if (!sampleWithinBudget(bytes, budget)) return undefined;
      start = out.LastEvaluatedKey;
    } while (start);
    return { records, bytes };
  }

  /**
   * The table's description: its ItemCount and TableSizeBytes, which DynamoDB updates about every
   * six hours, so one request serves every question this connector is asked (Verify's plan asks
   * for the size, then for the records); a failed request is asked again.
   */
  #describe(): Promise<TableDescription | undefined> {
    this.#description ??= withRetry(
      () => this.context.clients.dynamodb.send(new DescribeTableCommand({ TableName: this.#table })),
      this.context.retry,
    ).then(
      (out) => out.Table,
      (error: unknown) => {
        this.#description = undefined;
        throw this.#mapError(error, 'DescribeTable');
      },
    );
    return this.#description;
  }

  /** The live records of one page of a Scan segment and the key to go on from; with `deletes`, tombstones too. */
  async #scanPage(
    segment: TargetSegment,
    start: RawItem | undefined,
    limit?: number,
    deletes = false,
  ): Promise<{ records: TargetChange[]; next: RawItem | undefined }> {
    const out = await withRetry(
      () =>
        this.context.clients.dynamodb.send(
          new ScanCommand({
            TableName: this.#table,
            Segment: segment.index,
            TotalSegments: segment.total,
            ...(deletes
              ? {}
              : {
                  FilterExpression: 'attribute_not_exists(#d)',
                  ExpressionAttributeNames: { '#d': META.deleted },
                }),
            ...(limit === undefined ? {} : { Limit: limit }),
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      this.context.retry,
    ).catch((error: unknown) => {
      throw this.#mapError(error, 'Scan');
    });
    const records: TargetChange[] = [];
    for (const item of (out.Items ?? []).map(fromDynamoItem)) {
      const key = item[this.#keyAttribute];
      if (typeof key !== 'string') continue;
      const version = item[META.version];
      records.push({
        key,
        version: typeof version === 'string' ? version : '',
        hash: item[META.deleted] === true ? null : contentHash(this.#dataOf(item)),
        tie: '',
      });
    }
    return { records, next: out.LastEvaluatedKey };
  }

  #mapError(error: unknown, operation: string): Error {
    if (error instanceof EsyncError) return error;
    const name = (error as { name?: unknown }).name;
    if (isRetryable(error))
      return new TransientError(
        `dynamodb: ${operation} on table "${this.#table}" kept failing (${String(name)})`,
        {
          cause: error,
        },
      );
    if (name === 'ResourceNotFoundException')
      return new ConnectorError('dynamodb', `table "${this.#table}" does not exist`, { cause: error });
    if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException')
      return new ConnectorError('dynamodb', `not authorized to use table "${this.#table}" (${name})`, {
        cause: error,
      });
    // ValidationException (item over 400 KB, bad type) and values the SDK cannot marshal concern one record.
    if (name === 'ValidationException' || (error as { $metadata?: unknown }).$metadata === undefined)
      return new ValidationError(`dynamodb: ${operation} refused: ${(error as Error).message}`, [], {
        cause: error,
      });
    return new ConnectorError('dynamodb', `${operation} on table "${this.#table}" failed: ${String(name)}`, {
      cause: error,
    });
  }
}

/** Creates the DynamoDB target; nothing is sent before the first call. */
export const createDynamoDbTarget = targetFactory<'dynamodb'>(DynamoDbTarget);

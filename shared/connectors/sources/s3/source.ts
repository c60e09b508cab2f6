import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { s3Commands } from '../../../aws/s3-commands.ts';
import { compareCursors } from '../../../domain/cursor.ts';
import {
  boundaryPositions,
  compareKeyTuples,
  inKeyRange,
  keyRangePartitions,
  parseKeyRange,
  rangesFromBoundaries,
} from '../../../domain/key-range.ts';
import { backoffDelay } from '../../../domain/retry.ts';
import { ConnectorError, isRetryable, TransientError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { parseExactJson } from '../../../records/exact-json.ts';
import { timestampVersion } from '../../../records/version.ts';
import type { ChangeWindow, Cursor, Partition, SourceDiscovery, SourceRow } from '../../types.ts';
import { type AwsErrorNames, classifyAwsError } from '../support/aws-errors.ts';
import { retrying } from '../support/retrying.ts';
import { SourceBase, sourceFactory } from '../support/source-base.ts';

const CONNECTOR = 's3 source';

/** An object as listed: what orders it in the read. */
interface ListedObject {
  readonly key: string;
  /** LastModified, ISO-8601 UTC. */
  readonly modified: string;
}

/** One record of an object with its position (JSON Lines: line number; CSV: record number). */
interface PositionedRecord {
  readonly position: number;
  readonly data: RecordData;
}

const S3_ERRORS: AwsErrorNames = {
  connector: CONNECTOR,
  service: 'S3',
  missing: { name: 'NoSuchBucket', says: 'no such bucket' },
  denied: new Set([
    'AccessDenied',
    'InvalidAccessKeyId',
    'SignatureDoesNotMatch',
    'AllAccessDisabled',
    'Forbidden',
  ]),
  forbiddenIsDenied: true,
};

/** The composite cursor of a record: [LastModified, object key, position], then the record key. */
const cursorOf = (object: ListedObject, position: number, key: string): Cursor => ({
  values: [object.modified, object.key, position],
  key,
});

/**
 * The S3 source: JSON Lines or CSV objects (gzip when asked, or by the `.gz` suffix) under a
 * prefix, streamed record by record so an object of any size needs only one record in memory.
 *
 * Order and cursor: objects by (LastModified, key), records by their position in the object;
 * a row's cursor is `[LastModified, objectKey, position]` with the record key as tie-break,
 * so a read resumes inside an object. The high watermark is the start of the previous
 * second by the clock: S3 times have one-second precision, so objects written later in the
 * current second wait for the next window rather than risk being passed over. An object
 * whose upload began before a window's end but finished after it carries the earlier time:
 * set `lookbackSeconds` to cover the longest upload.
 *
 * Partitions are ranges of object keys cut so each holds about as many of the window's
 * objects, read in the order above; the listing decides what each reads. The version of a row is its object's
 * LastModified, with the object key and position as tie-break, so the newest object wins.
 */
export class S3Source extends SourceBase<'s3'> {
  readonly #s3 = this.context.clients.s3;
  readonly #bucket = this.config.bucket ?? this.context.dataBucket;
  readonly #retry = this.context.retry;

  get #where(): string {
    return `s3://${this.#bucket}/${this.config.prefix}`;
  }

  async discover(): Promise<SourceDiscovery> {
    const objects = await this.#list();
    const fields = new Map<string, string>();
    const first = objects[0];
    if (first) {
      for await (const record of this.#records(first, 0)) {
        for (const [name, value] of Object.entries(record.data))
          fields.set(name, value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
        this.rowMapper().key(record.data, `s3://${this.#bucket}/${first.key} record ${record.position}`);
        break;
      }
    }
    return {
      fields: [...fields].map(([name, type]) => ({ name, type, nullable: type === 'null' })),
      primaryKey: [],
      capabilities: { incremental: true, deletes: this.config.deletes.mode, cdc: false },
    };
  }

  override async planPartitions(window: ChangeWindow, desired: number): Promise<Partition[]> {
    const keys = (await this.#list())
      .filter((o) => this.#overlaps(o, window.from, window.to))
      .map((o) => [o.key])
      .sort(compareKeyTuples);
    if (Math.min(desired, keys.length) <= 1) return [{ id: 'all', spec: {} }];
    const boundaries = boundaryPositions(keys.length, desired).map((p) => keys[p - 1] as string[]);
    return keyRangePartitions(rangesFromBoundaries(boundaries));
  }

  async *read(window: ChangeWindow, partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const range = parseKeyRange(partition, 1, CONNECTOR);
    const lower = [window.from, resumeAfter].filter((c): c is Cursor => Boolean(c));
    const mapper = this.rowMapper();
    const objects = (await this.#list()).filter(
      (o) => (!range || inKeyRange([o.key], range)) && lower.every((l) => this.#overlaps(o, l, window.to)),
    );
    let page: SourceRow[] = [];
    for (const object of objects) {
      const skipThrough = Math.max(0, ...lower.map((l) => this.#positionWithin(object, l)));
      for await (const record of this.#records(object, skipThrough)) {
        const where = `s3://${this.#bucket}/${object.key} record ${record.position}`;
        const key = mapper.key(record.data, where);
        const cursor = cursorOf(object, record.position, key);
        if (lower.some((l) => compareCursors(cursor, l) <= 0)) continue;
        if (window.to && compareCursors(cursor, window.to) > 0) continue;
        const version = timestampVersion(
          object.modified,
          `${object.key}|${String(record.position).padStart(12, '0')}`,
        );
        page.push(mapper.rowWith(record.data, key, cursor, object.modified, version));
        if (page.length >= this.config.pageSize) {
          yield page;
          page = [];
        }
      }
    }
    if (page.length > 0) yield page;
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    const second = Math.floor(this.now().getTime() / 1000) * 1000 - 1000;
    // Empty object key and position: every object of that second sorts after the bound.
    return { values: [new Date(second).toISOString(), '', 0], key: '' };
  }

  /** Whether some record of `object` may lie in (lower, upper]. */
  #overlaps(object: ListedObject, lower: Cursor | null, upper: Cursor | null): boolean {
    if (lower && compareCursors(cursorOf(object, Number.MAX_SAFE_INTEGER, ''), lower) <= 0) return false;
    if (upper && compareCursors(cursorOf(object, 0, ''), upper) > 0) return false;
    return true;
  }

  /** Records of `object` at or before this position are at or before `bound`. */
  #positionWithin(object: ListedObject, bound: Cursor): number {
    const [modified, key, position] = bound.values;
    if (modified !== object.modified || key !== object.key || typeof position !== 'number') return 0;
    // The record at `position` itself is compared by key in read(); those before are skipped unread.
    return Math.max(0, position - 1);
  }

  /**
   * Every object under the prefix, in (LastModified, key) order. Pages continue with
   * StartAfter rather than a continuation token: S3 treats both alike, and s3rver (the local
   * stack's S3) can only decrypt its tokens under OpenSSL's legacy provider.
   */
  async #list(): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let startAfter: string | undefined;
    const { ListObjectsV2Command } = await s3Commands();
    for (;;) {
      const page = await retrying(CONNECTOR, this.#retry, async () => {
        try {
          return await this.#s3.send(
            new ListObjectsV2Command({
              Bucket: this.#bucket,
              Prefix: this.config.prefix || undefined,
              ...(startAfter ? { StartAfter: startAfter } : {}),
            }),
          );
        } catch (error) {
          throw classifyAwsError(error, this.#where, S3_ERRORS);
        }
      });
      const contents = page.Contents ?? [];
      for (const item of contents)
        if (item.Key && !item.Key.endsWith('/') && item.LastModified)
          objects.push({ key: item.Key, modified: item.LastModified.toISOString() });
      const last = contents[contents.length - 1]?.Key;
      if (!page.IsTruncated || !last) break;
      startAfter = last;
    }
    return objects.sort((a, b) => compareCursors(cursorOf(a, 0, ''), cursorOf(b, 0, '')));
  }

  /**
   * The records of one object after position `skipThrough`, streamed. A transient failure
   * mid-stream reopens the object and skips what was already produced.
   */
  async *#records(object: ListedObject, skipThrough: number): AsyncIterable<PositionedRecord> {
    let produced = skipThrough;
    for (let attempt = 1; ; attempt++) {
      const body = await this.#open(object);
      if (!body) return;
      try {
        for await (const record of this.#parse(object, body)) {
          if (record.position <= produced) continue;
          produced = record.position;
          yield record;
        }
        return;
      } catch (error) {
        if (!isRetryable(error) || attempt >= this.#retry.maxAttempts) {
          if (error instanceof ConnectorError || error instanceof TransientError) throw error;
          throw classifyAwsError(error, `s3://${this.#bucket}/${object.key}`, S3_ERRORS);
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, this.#retry)));
      } finally {
        body.destroy();
      }
    }
  }

  /** The object's body; `undefined` when it was deleted since it was listed. */
  async #open(object: ListedObject): Promise<Readable | undefined> {
    const where = `s3://${this.#bucket}/${object.key}`;
    const { GetObjectCommand } = await s3Commands();
    return retrying(CONNECTOR, this.#retry, async () => {
      try {
        const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: object.key }));
        return out.Body as Readable;
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw classifyAwsError(error, where, S3_ERRORS);
      }
    });
  }

  async *#parse(object: ListedObject, body: Readable): AsyncIterable<PositionedRecord> {
    const where = `s3://${this.#bucket}/${object.key}`;
    const gzip =
      this.config.compression === 'gzip' ||
      (this.config.compression === 'auto' && object.key.endsWith('.gz'));
    const stream = gzip ? body.pipe(createGunzip()) : body;
    if (gzip) body.on('error', (error) => stream.destroy(error));
    stream.setEncoding('utf8');
    try {
      if (this.config.format === 'jsonl') {
        let line = 0;
        for await (const text of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
          line++;
          if (text.trim() === '') continue;
          let data: unknown;
          try {
            data = parseExactJson(text);
          } catch (error) {
            throw new ConnectorError(
              CONNECTOR,
              `${where} line ${line}: not valid JSON (${(error as Error).message})`,
            );
          }
          if (typeof data !== 'object' || data === null || Array.isArray(data))
            throw new ConnectorError(
              CONNECTOR,
              `${where} line ${line}: a JSON Lines record must be an object`,
            );
          yield { position: line, data: data as RecordData };
        }
        return;
      }
      yield* csvObjectRecords(stream, where);
    } finally {
      stream.destroy();
    }
  }
}

/**
 * A CSV object's records, named by its header row and numbered from 1 after it. The parser is
 * imported with the first CSV object read, so csv-parse is a chunk that no cold start loads.
 */
async function* csvObjectRecords(stream: Readable, where: string): AsyncGenerator<PositionedRecord> {
  let header: string[] | undefined;
  let position = 0;
  try {
    const { csvRecords } = await import('./csv.ts');
    for await (const fields of csvRecords(stream)) {
      if (!header) {
        header = fields;
        continue;
      }
      position++;
      if (fields.length !== header.length)
        throw new ConnectorError(
          CONNECTOR,
          `${where} record ${position}: ${fields.length} fields where the header has ${header.length}`,
        );
      const data: RecordData = {};
      header.forEach((name, i) => {
        data[name] = fields[i];
      });
      yield { position, data };
    }
  } catch (error) {
    if (error instanceof SyntaxError) throw new ConnectorError(CONNECTOR, `${where}: ${error.message}`);
    throw error;
  }
}

/** Creates the S3 source. */
export const createS3Source = sourceFactory<'s3'>(S3Source);

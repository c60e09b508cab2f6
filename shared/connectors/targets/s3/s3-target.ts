import { s3Commands } from '../../../aws/s3-commands.ts';
import { ConnectorError, ValidationError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { parseExactJson, stringifyExactJson } from '../../../records/exact-json.ts';
import { contentHash, DELETED_HASH } from '../../../records/hash.ts';
import type {
  SegmentedTargetRead,
  TargetChange,
  TargetSnapshotRecord,
  TargetState,
  TargetWrite,
  WriteOutcome,
} from '../../types.ts';
import { chunk, mapWithConcurrency, outcomesInOrder } from '../support/batch.ts';
import { TargetBase, targetFactory } from '../support/target-base.ts';
import { keepNewest, liveRecordsOf, segmentOfName } from '../support/target-changes.ts';
import { WriteLimit } from '../support/write-limit.ts';
import {
  archivedChangeOf,
  archiveKeyPrefix,
  archiveObjectOf,
  type LakeLine,
  lakeLineOf,
  lakeLineSchema,
  lakeObjectKey,
  lakeRoot,
  partitionDay,
} from './lake-layout.ts';
import { mapS3Error, S3Objects } from './s3-objects.ts';

/** Lake objects read at once by Verify's snapshot. */
const OBJECT_CONCURRENCY = 8;
/** Keys whose archive is read at once for their current data. */
const ARCHIVE_READ_CONCURRENCY = 16;
const SNAPSHOT_PAGE = 1000;

/**
 * S3 data lake target: partitioned JSON Lines plus a per-key change archive (layout in
 * `lake-layout.ts`). Every change is appended, the older ones too: a lake is a history, and
 * readers (and {@link snapshot}) take the newest version per key. Rewriting an object under its
 * deterministic name is the idempotency: a retry changes nothing.
 *
 * `readState` returns an empty map: an append-only lake keeps no per-key state to compare
 * with, so the load path writes every change it is given (and replays rewrite the same objects).
 * {@link readNewestChanges} tells it, from the archive, which of them tie with a held change.
 */
export class S3LakeTarget extends TargetBase<'s3'> {
  readonly #bucket = this.config.bucket ?? this.context.dataBucket;
  readonly #objects = new S3Objects(
    this.context.clients.s3,
    this.context.retry,
    new WriteLimit(this.context.pipeline.load.writeConcurrency),
  );

  get #pipeline(): string {
    return this.context.pipeline.name;
  }

  async discover(): Promise<{ exists: boolean; detail: string }> {
    try {
      const { HeadBucketCommand } = await s3Commands();
      await this.context.clients.s3.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (error) {
      const mapped = mapS3Error(error, 'HeadBucket', this.#bucket);
      if (mapped instanceof ConnectorError && /does not exist/.test(mapped.message))
        return { exists: false, detail: `bucket "${this.#bucket}" does not exist` };
      throw mapped;
    }
    return {
      exists: true,
      detail: `s3://${this.#bucket}/${lakeRoot(this.config.prefix, this.#pipeline)} (archive in s3://${this.context.dataBucket}/archive/)`,
    };
  }

  async readState(): Promise<Map<string, TargetState>> {
    return new Map();
  }

  /** The newest archived change of each key, when it is not a delete (see `lake-layout.ts`). */
  async readCurrentData(keys: readonly string[]): Promise<Map<string, RecordData>> {
    const found = await mapWithConcurrency([...new Set(keys)], ARCHIVE_READ_CONCURRENCY, async (key) => {
      const newest = await this.#newestArchived(key);
      if (newest === undefined) return undefined;
      const line = this.#parseLine(await this.#objects.getText(this.context.dataBucket, newest), newest, 1);
      return line.op === 'upsert' && line.data ? ([key, line.data] as const) : undefined;
    });
    return new Map(found.filter((f) => f !== undefined));
  }

  /**
   * The newest archived change of each key, from the archive objects' names alone (one listing
   * per key, no object read): what the load path compares incoming changes with to count ties.
   */
  async readNewestChanges(keys: readonly string[]): Promise<Map<string, TargetState>> {
    const found = await mapWithConcurrency([...new Set(keys)], ARCHIVE_READ_CONCURRENCY, async (key) => {
      const newest = await this.#newestArchived(key);
      if (newest === undefined) return undefined;
      const change = archivedChangeOf(newest);
      return [key, { ...change, deleted: change.hash === DELETED_HASH }] as const;
    });
    return new Map(found.filter((f) => f !== undefined));
  }

  /** The name of the newest archive object of `key`: names sort as the changes do. */
  async #newestArchived(key: string): Promise<string | undefined> {
    let newest: string | undefined;
    for await (const page of this.#objects.list(
      this.context.dataBucket,
      archiveKeyPrefix(this.#pipeline, key),
    ))
      for (const name of page) if (newest === undefined || name > newest) newest = name;
    return newest;
  }

  async write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]> {
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    const groups = new Map<string, { day: string; messageKey: string; writes: TargetWrite[] }>();
    for (const write of writes) {
      try {
        if (write.op === 'upsert' && write.data === null)
          throw new ValidationError(`s3 lake: upsert of key "${write.key}" has no data`);
        const day = partitionDay(write);
        const id = `${day}\u0000${write.messageKey}`;
        const group = groups.get(id) ?? { day, messageKey: write.messageKey, writes: [] };
        group.writes.push(write);
        groups.set(id, group);
      } catch (error) {
        outcomes.set(write, { key: write.key, status: 'failed', error });
      }
    }
    const lines = new Map<TargetWrite, LakeLine>();
    for (const group of groups.values())
      for (const write of group.writes) lines.set(write, lakeLineOf(write));

    const failures = new Map<TargetWrite, unknown>();
    // Lake objects and archive objects go out together, as many at once as the write limit allows.
    const lakePuts = [...groups.values()].map(async (group) => {
      const key = lakeObjectKey(
        this.config.prefix,
        this.#pipeline,
        group.day,
        group.messageKey,
        group.writes,
      );
      const body = `${group.writes.map((w) => stringifyExactJson(lines.get(w))).join('\n')}\n`;
      await this.#objects.put(this.#bucket, key, body, 'application/x-ndjson').catch((error: unknown) => {
        for (const write of group.writes) failures.set(write, error);
      });
    });
    const archivePuts = [...lines.keys()].map(async (write) => {
      const { key, body, tagging } = archiveObjectOf(this.context.pipeline, write);
      await this.#objects
        .put(this.context.dataBucket, key, body, 'application/json', tagging)
        .catch((error: unknown) => {
          if (!failures.has(write)) failures.set(write, error);
        });
    });
    await Promise.all([...lakePuts, ...archivePuts]);
    for (const error of failures.values()) if (error instanceof ConnectorError) throw error;
    for (const write of lines.keys()) {
      const error = failures.get(write);
      outcomes.set(
        write,
        error === undefined
          ? { key: write.key, status: 'applied' }
          : { key: write.key, status: 'failed', error },
      );
    }
    return outcomesInOrder(writes, outcomes);
  }

  /**
   * Reduces every lake object of the pipeline to the newest change per key (`compareChanges`:
   * version, then the line's `hash`) and yields the live ones, hashing the data of that change
   * as stored (not the line's `hash`).
   */
  async *snapshot(): AsyncIterable<TargetSnapshotRecord[]> {
    const newest = new Map<string, TargetChange>();
    for await (const keys of this.#objects.list(this.#bucket, lakeRoot(this.config.prefix, this.#pipeline)))
      keepNewest(newest, await this.#changesIn(keys));
    for (const page of chunk(liveRecordsOf(newest), SNAPSHOT_PAGE)) yield page;
  }

  /**
   * The lake's object list split by a hash of each object's name: a segment lists the pipeline's
   * objects page by page (resumed after the last name listed) and reads those of its own; every
   * change it finds is handed on, and the reader keeps the newest per key.
   */
  readonly segmented: SegmentedTargetRead = {
    approximateRecords: async () => undefined,
    readSegment: async (segment, from, limit) => {
      const root = lakeRoot(this.config.prefix, this.#pipeline);
      const page = await this.#objects.listPage(this.#bucket, root, from, limit);
      const own = page.keys.filter((k) => segmentOfName(k, segment.total) === segment.index);
      return {
        changes: await this.#changesIn(own),
        next: page.truncated ? (page.keys[page.keys.length - 1] as string) : null,
      };
    },
  };

  /** Every change the lake objects among `objectKeys` hold, the data of each hashed as stored. */
  async #changesIn(objectKeys: readonly string[]): Promise<TargetChange[]> {
    const objects = objectKeys.filter((k) => k.endsWith('.jsonl'));
    const bodies = await mapWithConcurrency(objects, OBJECT_CONCURRENCY, (k) =>
      this.#objects.getText(this.#bucket, k),
    );
    const changes: TargetChange[] = [];
    for (const [i, body] of bodies.entries())
      for (const [n, text] of body.split('\n').entries()) {
        if (text.trim() === '') continue;
        const line = this.#parseLine(text, objects[i] as string, n + 1);
        const hash = line.op === 'delete' || line.data === null ? null : contentHash(line.data);
        changes.push({ key: line.key, version: line.version, hash, tie: line.hash });
      }
    return changes;
  }

  #parseLine(text: string, object: string, lineNumber: number): LakeLine {
    let parsed: unknown;
    try {
      parsed = parseExactJson(text);
    } catch {
      throw new ConnectorError('s3', `s3://${this.#bucket}/${object} line ${lineNumber} is not JSON`);
    }
    const result = lakeLineSchema.safeParse(parsed);
    if (!result.success)
      throw new ConnectorError(
        's3',
        `s3://${this.#bucket}/${object} line ${lineNumber} is not a lake line: ${result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
      );
    return result.data;
  }
}

/** Creates the S3 lake target. */
export const createS3LakeTarget = targetFactory<'s3'>(S3LakeTarget);

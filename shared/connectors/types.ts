import type { AwsClients } from '../aws/clients.ts';
import type { SecretsProvider } from '../aws/secrets.ts';
import type { KeyRange } from '../domain/key-range.ts';
import type { RetryOptions } from '../domain/retry.ts';
import type { SchemaDrift, SchemaField } from '../domain/schema-drift.ts';
import type { ExtensionRegistry } from '../extensions/registry.ts';
import type { Pipeline, SourceConfig, TargetConfig } from '../pipeline/schema.ts';
import type { ChangeWindow, Cursor } from '../records/cursor.ts';
import type { RecordData } from '../records/envelope.ts';
import type { TargetState } from '../records/target-state.ts';
import type { Version } from '../records/version.ts';
import type { DatabaseTokenSigner } from './sql/iam-token.ts';

// The positions of a read and what a target holds are record types, used by the domain too.
export type { ChangeWindow, Cursor, TargetState };

/** What every connector is given: its pipeline, AWS clients, secrets, and where ESync keeps data. */
export interface ConnectorContext {
  readonly pipeline: Pipeline;
  readonly clients: AwsClients;
  readonly secrets: SecretsProvider;
  /** The ESync data bucket (default bucket of the s3 source and target). */
  readonly dataBucket: string;
  /** The stage, used in owned resource names (`esync-<stage>-<pipeline>-target`). */
  readonly stage: string;
  readonly retry: RetryOptions;
  /**
   * Signs the IAM token of a database connection that sets `iam` (RDS Proxy).
   * @default - none: such a connection logs in with the secret's password (the local stack)
   */
  readonly signDatabaseToken?: DatabaseTokenSigner;
  /**
   * Where a custom source or target (`type: custom`) is found.
   * @default - the extensions installed in this process (installedExtensions)
   */
  readonly extensions?: ExtensionRegistry;
}

/** One field as the source describes it: the column a schema-drift check compares. */
export type FieldInfo = SchemaField;

export interface SourceDiscovery {
  readonly fields: readonly FieldInfo[];
  /** Key fields the source declares (primary key), to check against the pipeline's `key`. */
  readonly primaryKey: readonly string[];
  readonly capabilities: {
    readonly incremental: boolean;
    readonly deletes: 'none' | 'soft' | 'verify';
    readonly cdc: boolean;
  };
  /** Rough size, when the source knows it cheaply. */
  readonly approximateRows?: number;
  /**
   * Whether {@link fields} come from the source's catalog (a database table's columns), so a run
   * can tell the schema changed from the one before (`usecases/schema-drift.ts`).
   * @default false - a sample (the first record) or a fixed list, which cannot show drift
   */
  readonly fieldsFromCatalog?: boolean;
}

/** A slice of a window that one Extract iteration reads; `spec` is the connector's own. */
export interface Partition {
  readonly id: string;
  readonly spec: Readonly<Record<string, unknown>>;
}

/** One source row as read, before it becomes an envelope. */
export interface SourceRow {
  readonly data: RecordData;
  /** Deleted at the source (soft delete column, DELETE event). */
  readonly deleted: boolean;
  /** Position of this row in the composite cursor order. */
  readonly cursor: Cursor;
  /** Orders changes of one key; see `records/version.ts`. */
  readonly version: Version;
  /** Source-side change time, ISO-8601. */
  readonly ts: string;
}

export interface SourceConnector {
  discover(): Promise<SourceDiscovery>;
  /** Splits a window into at most `desired` partitions. */
  planPartitions(window: ChangeWindow, desired: number): Promise<Partition[]>;
  /**
   * Reads a partition page by page in cursor order, starting after `resumeAfter` when given
   * (an Extract continuation). Each yielded page is non-empty.
   */
  read(window: ChangeWindow, partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]>;
  /** Upper bound of a new window: the source's newest cursor now (null when empty). */
  currentHighWatermark(): Promise<Cursor | null>;
  close(): Promise<void>;
}

/**
 * A source whose API answers for one record (GitHub): what the source holds for it now. The load
 * path asks it to decide ties (`usecases/source-ties.ts`).
 */
export interface SourceRereader {
  /**
   * The record as the source holds it now, found from a change's data (its id or number).
   * @throws ConnectorError when the source cannot answer (gone, unreachable, refused)
   */
  reread(data: Readonly<RecordData>): Promise<SourceRow>;
}

/** One write the load path decided on. `data` is already validated and transformed. */
export interface TargetWrite {
  readonly key: string;
  readonly op: 'upsert' | 'delete';
  readonly version: Version;
  readonly hash: string;
  readonly data: RecordData | null;
  /** Deterministic id of the queue message the write comes from (S3 object keys, Idempotency-Key). */
  readonly messageKey: string;
  readonly ts: string;
  /**
   * What Load expects the target to hold for the key: what its state read found, or `absent` for
   * a first full load, which skips the read. A hint for the form of the write (DynamoDB inserts
   * expected-absent keys in batches), never for its outcome: the version gate still decides.
   * @default - unknown
   */
  readonly stored?: 'absent' | 'live' | 'tombstone';
}

/** Per-record result of a write: applied, or refused because the target already held a version as new or newer. */
export type WriteOutcome =
  | { readonly key: string; readonly status: 'applied' }
  | { readonly key: string; readonly status: 'stale' }
  | { readonly key: string; readonly status: 'failed'; readonly error: unknown };

/** One record as Verify sees it in the target. */
export interface TargetSnapshotRecord {
  readonly key: string;
  readonly version: Version;
  /** Hash recomputed from the data the target holds now (not the stored `_h`). */
  readonly hash: string;
}

/**
 * One stored change of a key, as a segment of a split read of the target finds it: a target that
 * keeps one state per key (DynamoDB) gives its live records; one that keeps a history (the S3
 * lake) gives every change, and the reader takes the newest per key by version, then `tie`.
 */
export interface TargetChange {
  readonly key: string;
  readonly version: Version;
  /** Hash of the data the change holds; `null` for a delete. */
  readonly hash: string | null;
  /** Orders two changes of one version (the lake line's `hash`); `''` where keys have one state. */
  readonly tie: string;
}

/** One split of a target read: segment `index` of `total`, read by parallel readers. */
export interface TargetSegment {
  readonly index: number;
  readonly total: number;
}

/** A page of one segment, and where its next page starts (`null`: the segment is read). */
export interface TargetSegmentPage {
  readonly changes: readonly TargetChange[];
  /** Opaque position (JSON text) to resume the segment from, in a later invocation too. */
  readonly next: string | null;
}

/**
 * A target read split into segments that parallel readers take, each page by page with a
 * position to resume from: for a target that cannot read a key range (DynamoDB's parallel Scan,
 * the S3 lake's object list split by object name), so Verify's one read of the target spreads
 * over many invocations.
 */
/** What a target holds, as far as it tells without reading it (DynamoDB: ItemCount, TableSizeBytes). */
export interface TargetSize {
  readonly records: number;
  readonly bytes: number;
}

export interface SegmentedTargetRead {
  /** Records the target holds, as far as it tells without reading them; `undefined` when it cannot. */
  approximateRecords(): Promise<number | undefined>;
  /**
   * Records and bytes the target holds, when it tells both; `undefined` too when telling would
   * read more than `budget` read units (cost/units.ts `sizeSampleBudget`). @default - unknown
   */
  approximateSize?(budget?: number): Promise<TargetSize | undefined>;
  /** The page of `segment` after `from` (`null`: its start), of at most about `limit` records or objects. */
  readSegment(segment: TargetSegment, from: string | null, limit: number): Promise<TargetSegmentPage>;
}

export interface TargetConnector {
  discover(): Promise<{ readonly exists: boolean; readonly detail: string }>;
  /** Reads the sync state of many keys at once; missing keys are absent from the map. */
  readState(
    keys: readonly string[],
    options: { readonly withData: boolean },
  ): Promise<Map<string, TargetState>>;
  write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]>;
  /**
   * The data of the live records among `keys`, for a target whose {@link readState} does not
   * return it (the S3 lake keeps no per-key state). Keeps the stored value of a field a change
   * left unavailable. @default - the data of {@link readState}
   */
  readCurrentData?(keys: readonly string[]): Promise<Map<string, RecordData>>;
  /**
   * The newest change held for each of `keys` (version, hash, whether a delete), without data,
   * for a target that writes every change it is given and so returns no {@link readState} (the
   * S3 lake appends a history). The load path uses it only to count version ties, never to
   * decide a write. @default - ties are counted from {@link readState}
   */
  readNewestChanges?(keys: readonly string[]): Promise<Map<string, TargetState>>;
  /**
   * Every live (not deleted) record, for Verify. Given a key range (of the source's key columns,
   * ordered as `domain/key-range.ts` compares them), a target that reads by key range returns
   * only the records in it; any other returns them all, and the caller keeps the range's own.
   * @default - every live record
   */
  snapshot(range?: KeyRange): AsyncIterable<TargetSnapshotRecord[]>;
  /**
   * Takes a change of the source's columns into a target with a fixed schema, idempotently:
   * adds the new columns of `drift.added`, and checks that each retyped column holds the new
   * type's values, widening it when `widen` (`schema.onDrift: evolve`) and the wider type holds
   * what it stores. `sourceType` is the source connector's type, whose type names `drift` holds.
   * Returns what it changed, in words.
   * @throws SchemaDriftError when a retyped column cannot hold the new values (and cannot be widened)
   * @default - nothing to change: the target stores each record as it comes
   */
  evolveSchema?(
    drift: SchemaDrift,
    sourceType: string,
    options: { readonly widen: boolean },
  ): Promise<string[]>;
  /**
   * The read of {@link snapshot} split into segments, for a target that cannot read a key range.
   * @default - the target is read whole by {@link snapshot}
   */
  readonly segmented?: SegmentedTargetRead;
  close(): Promise<void>;
}

export type SourceFactory<T extends SourceConfig['type']> = (
  config: Extract<SourceConfig, { type: T }>,
  context: ConnectorContext,
) => SourceConnector;

export type TargetFactory<T extends TargetConfig['type']> = (
  config: Extract<TargetConfig, { type: T }>,
  context: ConnectorContext,
) => TargetConnector;

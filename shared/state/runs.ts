import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type RunCounts, zeroCounts } from '../domain/run-counts.ts';
import type { DriftPolicy, SchemaDrift, SchemaField } from '../domain/schema-drift.ts';
import { NotFoundError } from '../errors.ts';
import {
  conditionFailed,
  conditionHeld,
  cursorOfLastKey,
  putIfAbsent,
  readItem,
  startKeyOf,
} from './items.ts';
import { expiresAt, keys } from './keys.ts';

export const PHASES = ['Discover', 'Plan', 'Execute', 'AwaitLoad', 'Verify', 'Cleanup'] as const;
export type Phase = (typeof PHASES)[number];
/**
 * `aborted` and `timed-out` come from the execution's own end (stopped, or past the state
 * machine's timeout), recorded from its Step Functions status change event.
 */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'aborted', 'timed-out'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface PhaseRecord {
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The source schema a run's Discover read, and how it drifted from the one accepted before. */
export interface RunSchema {
  /** The source's columns, from its catalog. */
  readonly fields: readonly SchemaField[];
  /** The pipeline's `schema.onDrift` at the time. */
  readonly policy: DriftPolicy;
  /** The difference from the accepted schema; absent when there was none, or none accepted yet (a first run). */
  readonly drift?: SchemaDrift;
  /** `describeDrift` of {@link drift}, for people. */
  readonly summary?: string;
  /**
   * What the policy did with the drift: `evolved` (the target took it), `failed` (freeze stopped
   * the run before loading), `discarded` (Extract leaves {@link discarded} out of each record).
   */
  readonly action?: 'evolved' | 'failed' | 'discarded';
  /** Fields left out of every record under `discard`. */
  readonly discarded?: readonly string[];
  /** What the target did to take the drift under `evolve` (columns added or widened), for people. */
  readonly targetChanges?: readonly string[];
}

export interface RunRecord {
  readonly runId: string;
  readonly pipeline: string;
  readonly trigger: string;
  readonly requestedBy?: string;
  readonly executionArn?: string;
  readonly status: RunStatus;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly window?: { from: unknown; to: unknown };
  /** The plan whose partitions the run extracts: its own, or an unfinished earlier run's it resumes. */
  readonly planId?: string;
  /** The earlier runs of a resumed plan, whose messages this run's AwaitLoad waits for too. */
  readonly earlierRuns?: readonly string[];
  readonly phases: Partial<Record<Phase, PhaseRecord>>;
  readonly counts: RunCounts;
  /** Version ties the run's changes met (`records/version.ts`, `usecases/source-ties.ts`). */
  readonly ties?: number;
  /** Of `ties`, those decided by reading the record again at the source; the others by content hash. */
  readonly tiesReread?: number;
  readonly verify?: Readonly<Record<string, unknown>>;
  readonly cost?: {
    readonly usd: number;
    readonly byService: Readonly<Record<string, number>>;
    readonly usdPerMillionRecords?: number;
  };
  readonly failure?: { readonly error: string; readonly cause: string };
  readonly reportKey?: string;
  /** The source schema Discover read, for a source with a catalog (`usecases/schema-drift.ts`). */
  readonly schema?: RunSchema;
  /** Records sent without the fields `schema.onDrift: discard` leaves out (each also counted by its outcome). */
  readonly fieldsDiscarded?: number;
}

export interface ListRunsQuery {
  readonly pipeline: string;
  readonly status?: RunStatus;
  readonly limit?: number;
  /** Opaque pagination cursor from a previous page. */
  readonly after?: string;
}

/** A run as its stored item holds it, without the table's keys and attributes. */
export function toRun(item: Record<string, unknown>): RunRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, expiresAt: _e, type: _t, ...run } = item;
  return run as unknown as RunRecord;
}

/** Run records: one per batch run (execution), holding phases, counts and the outcome. */
export class RunRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Creates the run unless it exists (a retried Discover keeps the first record), kept
   * `retentionDays` from its start (the pipeline's `retention.runDays`).
   */
  async create(run: Omit<RunRecord, 'phases' | 'counts' | 'status'>, retentionDays: number): Promise<void> {
    await putIfAbsent(this.ddb, this.table, {
      ...keys.run(run.runId),
      ...keys.runInList(run.pipeline, run.startedAt, run.runId),
      type: 'run',
      expiresAt: expiresAt(retentionDays, new Date(run.startedAt)),
      ...run,
      status: 'running',
      phases: {},
      counts: zeroCounts(),
    });
  }

  async get(runId: string): Promise<RunRecord> {
    const run = await this.find(runId);
    if (!run) throw new NotFoundError(`run "${runId}" does not exist`);
    return run;
  }

  async find(runId: string): Promise<RunRecord | undefined> {
    const stored = await readItem(this.ddb, this.table, keys.run(runId));
    return stored ? toRun(stored) : undefined;
  }

  /** Sets top-level attributes of a run (status, window, counts, verify, cost, failure...). */
  async update(
    runId: string,
    fields: Partial<Omit<RunRecord, 'runId' | 'pipeline' | 'phases'>>,
  ): Promise<void> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.run(runId),
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  }

  /**
   * Ends a run that is still `running` with the fields given; false when it had already ended
   * (its own Cleanup or RecordFailure got there first).
   */
  async endIfRunning(
    runId: string,
    fields: Pick<RunRecord, 'status' | 'endedAt' | 'counts'> &
      Pick<Partial<RunRecord>, 'failure' | 'phases' | 'ties' | 'tiesReread' | 'fieldsDiscarded'>,
  ): Promise<boolean> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    return conditionHeld(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.run(runId),
          UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ExpressionAttributeNames: {
            ...Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
            '#s': 'status',
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
            ':running': 'running',
          },
          ConditionExpression: '#s = :running',
        }),
      ),
    );
  }

  /**
   * Records a phase's start or end. A start reaching a run that has already ended is left out:
   * a Lambda of a stopped execution may start its phase after RunEnded closed the run's phases,
   * and the run must not show a phase running for ever.
   * @returns the run as the write left it, so a phase need not read it again; undefined when a start was left out
   * @throws ConditionalCheckFailedException when the run does not exist
   */
  async setPhase(runId: string, phase: Phase, record: PhaseRecord): Promise<RunRecord | undefined> {
    const starting = record.status === 'running';
    try {
      const out = await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.run(runId),
          UpdateExpression: 'SET phases.#p = :r',
          ExpressionAttributeNames: { '#p': phase, ...(starting ? { '#s': 'status' } : {}) },
          ExpressionAttributeValues: { ':r': record, ...(starting ? { ':running': 'running' } : {}) },
          ConditionExpression: starting ? 'attribute_exists(pk) AND #s = :running' : 'attribute_exists(pk)',
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ? toRun(out.Attributes) : undefined;
    } catch (error) {
      // Only a refused start is read: whether the run has ended (left out) or does not exist.
      if (starting && conditionFailed(error) && (await this.find(runId))) return undefined;
      throw error;
    }
  }

  /** A pipeline's runs, newest first. */
  async list(query: ListRunsQuery): Promise<{ runs: RunRecord[]; next?: string }> {
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: {
          ':p': keys.runsOf(query.pipeline),
          ...(query.status ? { ':s': query.status } : {}),
        },
        ...(query.status
          ? { FilterExpression: '#s = :s', ExpressionAttributeNames: { '#s': 'status' } }
          : {}),
        ScanIndexForward: false,
        Limit: query.limit ?? 20,
        ExclusiveStartKey: startKeyOf(query.after),
      }),
    );
    return { runs: (out.Items ?? []).map(toRun), next: cursorOfLastKey(out.LastEvaluatedKey) };
  }
}

import type { IndexModel } from '../cost/units.ts';

/** gsi1 partition of a ledger scope's messages still waiting for Load. */
const pendingOf = (scope: string) => `PENDING#${scope}`;

/** gsi1 sort key of what is listed newest first (runs, conflicts, audit entries): its time, then its id. */
const listedAt = (at: string, id: string) => `${at}#${id}`;

const runsOf = (pipeline: string) => `RUNS#${pipeline}`;
const conflictsOf = (pipeline: string, status: string) => `CONFLICTS#${pipeline}#${status}`;

/**
 * Key layout of the single state table (`pk`, `sk`, GSI `gsi1` on `gsi1pk`/`gsi1sk`, TTL on
 * `expiresAt`). One table keeps every access pattern at single-digit-millisecond reads and one
 * KMS key; the layout below is the whole contract.
 *
 * | item              | pk                          | sk                | gsi1pk                      | gsi1sk            |
 * |-------------------|-----------------------------|-------------------|-----------------------------|-------------------|
 * | checkpoint        | PIPE#<pipeline>             | CHECKPOINT        |                             |                   |
 * | unfinished plan   | PIPE#<pipeline>             | PLAN              |                             |                   |
 * | accepted schema   | PIPE#<pipeline>             | SCHEMA            |                             |                   |
 * | last verified run | PIPE#<pipeline>             | VERIFIED          |                             |                   |
 * | partition progress| PLAN#<pipeline>#<planId>    | PART#<partition>  |                             |                   |
 * | run               | RUN#<runId>                 | RUN               | RUNS#<pipeline>             | <startedAt>#<id>  |
 * | verify result     | RUN#<runId>                 | VERIFY#<partition>#<seq> |                      |                   |
 * | message ledger    | RUN#<runId> or STREAM#<p>#<day> | MSG#<messageKey> | PENDING#<pk> while pending  | MSG#<messageKey>  |
 * | field-merge base  | BASE#<pipeline>#<key>       | BASE              |                             |                   |
 * | conflict          | CONFLICT#<id>               | CONFLICT          | CONFLICTS#<pipeline>#<status> | <createdAt>#<id> |
 * | audit entry       | AUDIT#<pipeline>            | <at>#<id>         | AUDIT                       | <at>#<id>         |
 *
 * Access patterns: a run by id; the progress of a plan's partitions (Query pk); a pipeline's runs newest first (gsi1, filter by status);
 * the ledger of a run (Query pk, begins_with MSG#), or only its messages still pending (gsi1, sparse: the
 * index entry goes when the message is completed or abandoned); a run's Verify results (Query pk, begins_with VERIFY#); bases by key (BatchGetItem); open or
 * resolved conflicts of a pipeline newest first (gsi1); audit trail of a pipeline (Query pk) or of all
 * pipelines (gsi1), newest first, by time range.
 */
export const keys = {
  checkpoint: (pipeline: string) => ({ pk: `PIPE#${pipeline}`, sk: 'CHECKPOINT' }),
  plan: (pipeline: string) => ({ pk: `PIPE#${pipeline}`, sk: 'PLAN' }),
  sourceSchema: (pipeline: string) => ({ pk: `PIPE#${pipeline}`, sk: 'SCHEMA' }),
  /** The last run whose full Verify passed, no run of the pipeline having ended otherwise since. */
  verifiedRun: (pipeline: string) => ({ pk: `PIPE#${pipeline}`, sk: 'VERIFIED' }),
  progressOfPlan: (pipeline: string, planId: string) => `PLAN#${pipeline}#${planId}`,
  partitionProgress: (pipeline: string, planId: string, partitionId: string) => ({
    pk: `PLAN#${pipeline}#${planId}`,
    sk: `PART#${partitionId}`,
  }),
  run: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'RUN' }),
  /** The sequence is zero-padded so a partition's results list in order. */
  verifyChunk: (runId: string, partitionId: string, seq: number) => ({
    pk: `RUN#${runId}`,
    sk: `VERIFY#${partitionId}#${String(seq).padStart(6, '0')}`,
  }),
  runsOf,
  listedAt,
  /** gsi1 keys of a run: in its pipeline's runs, by start time. */
  runInList: (pipeline: string, startedAt: string, runId: string) => ({
    gsi1pk: runsOf(pipeline),
    gsi1sk: listedAt(startedAt, runId),
  }),
  ledgerScopeOfRun: (runId: string) => `RUN#${runId}`,
  ledgerScopeOfStream: (pipeline: string, day: string) => `STREAM#${pipeline}#${day}`,
  message: (scope: string, messageKey: string) => ({ pk: scope, sk: `MSG#${messageKey}` }),
  pendingOf,
  /** gsi1 keys a ledger message carries while it waits for Load (registered or on its last receive). */
  pendingMessage: (scope: string, messageKey: string) => ({
    gsi1pk: pendingOf(scope),
    gsi1sk: `MSG#${messageKey}`,
  }),
  base: (pipeline: string, key: string) => ({ pk: `BASE#${pipeline}#${key}`, sk: 'BASE' }),
  conflict: (id: string) => ({ pk: `CONFLICT#${id}`, sk: 'CONFLICT' }),
  conflictsOf,
  /** gsi1 keys of a conflict: in its pipeline's conflicts of its status, by creation time. */
  conflictInList: (pipeline: string, status: string, createdAt: string, id: string) => ({
    gsi1pk: conflictsOf(pipeline, status),
    gsi1sk: listedAt(createdAt, id),
  }),
  audit: (pipeline: string, at: string, id: string) => ({
    pk: `AUDIT#${pipeline}`,
    sk: listedAt(at, id),
    gsi1pk: 'AUDIT',
    gsi1sk: listedAt(at, id),
  }),
  auditOf: (pipeline: string) => `AUDIT#${pipeline}`,
  /** gsi1 partition of every pipeline's audit entries: mutating management calls are rare, so one partition holds them. */
  auditIndex: 'AUDIT',
} as const;

/** A key attribute's string, in the plain or the wire form (`{S: "..."}`). */
function keyText(value: unknown): string {
  if (typeof value === 'string') return value;
  const wire = (value as { S?: unknown } | undefined)?.S;
  return typeof wire === 'string' ? wire : '';
}

/**
 * The state table's index gsi1 as its writes are billed (shared/cost/units.ts). It projects
 * every attribute: the runs, conflicts and audit lists read whole items from it. Runs, conflicts
 * and audit entries sit in it from their first write on (so each update of a run rewrites its
 * entry there too); a ledger message only while pending, which the writes that set and remove its
 * keys say.
 */
export const STATE_GSI1: IndexModel = {
  name: 'gsi1',
  keys: ['gsi1pk', 'gsi1sk'],
  tableKeys: ['pk', 'sk'],
  projection: 'ALL',
  holds: (key) => {
    const pk = keyText(key.pk);
    const sk = keyText(key.sk);
    return (pk.startsWith('RUN#') && sk === 'RUN') || pk.startsWith('CONFLICT#') || pk.startsWith('AUDIT#');
  },
};

/** Epoch seconds `days` from `now`, for the TTL attribute. */
export function expiresAt(days: number, now: Date = new Date()): number {
  return Math.floor(now.getTime() / 1000) + days * 86_400;
}

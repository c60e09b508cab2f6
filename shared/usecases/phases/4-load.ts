import { s3Commands } from '../../aws/s3-commands.ts';
import { decodeChangeEvent, isChangeEvent } from '../../cdc/index.ts';
import { archiveAppliedChanges } from '../../connectors/targets/change-archive.ts';
import type { TargetConnector, TargetState, TargetWrite, WriteOutcome } from '../../connectors/types.ts';
import { type ApplyWrite, decideApply, isVersionTie } from '../../domain/decide.ts';
import { stageRecords } from '../../domain/expressions.ts';
import { zeroOutcomes } from '../../domain/run-counts.ts';
import type { ValidationReason } from '../../domain/validation.ts';
import { isRetryable, TransientError, ValidationError } from '../../errors.ts';
import { quarantineKey } from '../../naming.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import { type RecordData, type RecordEnvelope, recordEnvelopeSchema } from '../../records/envelope.ts';
import { parseExactJson, stringifyExactJson } from '../../records/exact-json.ts';
import { contentHash, DELETED_HASH } from '../../records/hash.ts';
import { jsonDepth, MAX_JSON_DEPTH } from '../../records/json-depth.ts';
import { parseLoadMessage } from '../../records/messages.ts';
import { compareVersions } from '../../records/version.ts';
import { conflictId } from '../../state/conflicts.ts';
import { keys } from '../../state/keys.ts';
import type { MessageOutcome } from '../../state/ledger.ts';
import { recordsOfChangeEvent } from '../cdc-events.ts';
import type { Deps } from '../deps.ts';
import { type PipelineRuntime, runtimeOf } from '../load-runtime.ts';
import { emitConflictParked } from '../run-events.ts';
import { type PreparedChange, type SourceTies, settleTiesAtSource } from '../source-ties.ts';

/** One queue message as the SQS event source hands it over. */
export interface LoadMessageInput {
  readonly messageId: string;
  readonly body: string;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  readonly receiveCount: number;
  /** When the invocation handling this receive ends at the latest (epoch ms). */
  readonly invocationEndsAt?: number;
}

export interface LoadResult extends MessageOutcome {
  readonly pipeline: string;
  readonly records: number;
  /** False when the ledger already held this message's outcome (a duplicate delivery). */
  readonly firstCompletion: boolean;
  readonly poison: boolean;
}

export interface LoadUnit {
  readonly scope: string;
  readonly messageKey: string;
  readonly records: RecordEnvelope[];
  /** A CDC event of a kind that changes no row, counted by its kind. */
  readonly ignored?: MessageOutcome['ignored'];
}

const today = (now: Date) => now.toISOString().slice(0, 10);

/**
 * Turns a queue message into the records it carries: a records batch, a claim check (read
 * back from S3), or a CDC event routed from the bus. Throws ValidationError for a message
 * that cannot be decoded; retrying it would never help.
 */
async function decodeMessage(deps: Deps, pipeline: Pipeline, message: LoadMessageInput): Promise<LoadUnit> {
  let body: unknown;
  try {
    body = parseExactJson(message.body);
  } catch (error) {
    throw new ValidationError('message body is not JSON', [], { cause: error });
  }
  if (jsonDepth(body, MAX_JSON_DEPTH + 8) > MAX_JSON_DEPTH + 8)
    throw new ValidationError(`message body nests deeper than ${MAX_JSON_DEPTH + 8} levels`);
  if (isChangeEvent(body)) {
    const { records, ignored } = await recordsOfChangeEvent(
      deps,
      pipeline,
      decodeChangeEvent(pipeline, body),
    );
    const eventId =
      typeof (body as { id?: unknown }).id === 'string' ? (body as { id: string }).id : message.messageId;
    return {
      scope: keys.ledgerScopeOfStream(pipeline.name, today(deps.now())),
      messageKey: `cdc-${eventId}`,
      records,
      ...(ignored ? { ignored } : {}),
    };
  }
  const parsed = parseLoadMessage(body);
  if (!parsed.success)
    throw new ValidationError(
      'message is neither a records batch, a claim check nor a change event',
      parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  const m = parsed.data;
  if (m.pipeline !== pipeline.name)
    throw new ValidationError(
      `message for pipeline "${m.pipeline}" arrived on the queue of "${pipeline.name}"`,
    );
  if (m.kind === 'records') return { scope: m.scope, messageKey: m.messageKey, records: m.records };
  const { GetObjectCommand } = await s3Commands();
  const object = await deps.clients.s3.send(new GetObjectCommand({ Bucket: m.bucket, Key: m.key }));
  const text = (await object.Body?.transformToString('utf8')) ?? '[]';
  const records = recordEnvelopeSchema.array().parse(parseExactJson(text));
  return { scope: m.scope, messageKey: m.messageKey, records };
}

/**
 * The newest record per key of a message; the others are superseded (counted as skipped). Two
 * different records of one key and version are a tie, won by the higher hash of the data as it
 * will be written (`hashOf`), as the targets decide ties (`compareChanges`).
 */
function newestPerKey(
  records: readonly RecordEnvelope[],
  hashOf: (record: RecordEnvelope) => string,
): { latest: RecordEnvelope[]; superseded: number; ties: number } {
  const byKey = new Map<string, RecordEnvelope>();
  let ties = 0;
  for (const r of records) {
    const seen = byKey.get(r.key);
    const order = seen ? compareVersions(r.version, seen.version) : 1;
    const tie = seen !== undefined && order === 0 && r.hash !== seen.hash;
    if (tie) ties++;
    if (order > 0 || (tie && hashOf(r) > hashOf(seen as RecordEnvelope))) byKey.set(r.key, r);
  }
  return { latest: [...byKey.values()], superseded: records.length - byKey.size, ties };
}

export async function quarantine(
  deps: Deps,
  pipeline: Pipeline,
  unit: { scope: string; messageKey: string },
  entries: readonly { record?: RecordEnvelope; raw?: string; reasons: readonly unknown[] }[],
): Promise<void> {
  const { PutObjectCommand } = await s3Commands();
  await deps.clients.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.dataBucket,
      Key: quarantineKey(pipeline.name, unit),
      Body: stringifyExactJson({
        pipeline: pipeline.name,
        scope: unit.scope,
        messageKey: unit.messageKey,
        at: deps.now().toISOString(),
        entries,
      }),
      ContentType: 'application/json',
    }),
  );
}

/**
 * Field-merge bases in step with the target states read just before. Each applied write is
 * followed by its base, so a concurrent load of the same key can land between our two reads;
 * an out-of-step base would make our own pipeline's write look like someone else's edit. Such
 * keys are read again (state, then base). A base that stays older than its state (a load that
 * crashed between its write and its base) is replaced by the state's own data: from then on
 * only edits made after that write count as the target's.
 */
async function consistentBases(
  deps: Deps,
  target: TargetConnector,
  pipeline: string,
  keyList: readonly string[],
  states: Map<string, TargetState>,
): Promise<Map<string, RecordData>> {
  const bases = await deps.state.bases.getManyVersioned(pipeline, keyList);
  const outOfStep = () =>
    keyList.filter((k) => {
      const base = bases.get(k);
      const state = states.get(k);
      return base?.version !== undefined && state !== undefined && base.version !== state.version;
    });
  for (let attempt = 0; attempt < 3; attempt++) {
    const stale = outOfStep();
    if (stale.length === 0) break;
    await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
    for (const [k, s] of await target.readState(stale, { withData: true })) states.set(k, s);
    for (const [k, b] of await deps.state.bases.getManyVersioned(pipeline, stale)) bases.set(k, b);
  }
  for (const k of outOfStep()) {
    const base = bases.get(k);
    const state = states.get(k);
    if (!base?.version || !state) continue;
    if (base.version > state.version)
      throw new TransientError(`the field-merge base of key "${k}" is ahead of the target; retrying later`);
    if (state.data) bases.set(k, { data: state.data, version: state.version });
  }
  return new Map([...bases].map(([k, b]) => [k, b.data]));
}

/**
 * Applies one queue message to the target: decode, validate, transform, hash, decide per
 * record against the target's state, write, park conflicts, quarantine the invalid, and
 * record the outcome in the ledger once. Throws to have SQS redeliver the message when a
 * transient failure left records unwritten; writes are version-gated, so a redelivery
 * changes nothing that was already applied.
 */
export async function loadMessage(
  deps: Deps,
  pipelineName: string,
  message: LoadMessageInput,
): Promise<LoadResult> {
  const pipeline = deps.catalog.get(pipelineName);
  let unit: LoadUnit;
  try {
    unit = await decodeMessage(deps, pipeline, message);
  } catch (error) {
    if (
      !(error instanceof ValidationError) &&
      !(error instanceof SyntaxError) &&
      !(error as { issues?: unknown }).issues
    )
      throw error;
    return quarantinePoison(deps, pipeline, message, error as Error);
  }
  const lastReceive = message.receiveCount >= pipeline.dlq.maxReceiveCount;
  if (lastReceive && message.invocationEndsAt !== undefined)
    await markLastReceive(deps, unit, message.invocationEndsAt);
  try {
    const applied = await applyUnit(deps, pipeline, unit);
    const outcome = unit.ignored ? { ...applied, ignored: unit.ignored } : applied;
    const first = await deps.state.ledger.complete(unit.scope, unit.messageKey, unit.records.length, outcome);
    return {
      pipeline: pipeline.name,
      records: unit.records.length,
      firstCompletion: first,
      poison: false,
      ...outcome,
    };
  } catch (error) {
    if (!lastReceive) throw error;
    // SQS moves the message to the DLQ: it counts dead-lettered from now on, as a mark that a
    // redriven delivery's completion replaces (its quarantine object, should it have written one,
    // then counts again). Unless the ledger settled it already: completed by an earlier delivery
    // (its outcome stands), or abandoned by a resuming run, which reads its rows again from the
    // partition's progress it claimed (resume.ts). Such a delivery is dropped, not dead-lettered.
    const settled = !(await markDeadLettering(deps, unit, Date.now()));
    if (settled)
      return {
        pipeline: pipeline.name,
        records: 0,
        firstCompletion: false,
        poison: false,
        ...zeroOutcomes(),
        excludedKeys: [],
      };
    deps.log.error('message dead-lettered', {
      pipeline: pipeline.name,
      messageId: message.messageId,
      error: (error as Error).name,
    });
    throw error;
  }
}

/**
 * A message that cannot be decoded (not JSON, not an envelope) will fail every delivery: it is
 * quarantined whole, once, and counted in the pipeline's stream ledger of the day by its content.
 */
async function quarantinePoison(
  deps: Deps,
  pipeline: Pipeline,
  message: LoadMessageInput,
  error: Error,
): Promise<LoadResult> {
  const poison = {
    scope: keys.ledgerScopeOfStream(pipeline.name, today(deps.now())),
    messageKey: `poison-${contentHash(message.body)}`,
  };
  await quarantine(deps, pipeline, poison, [
    {
      raw: message.body.slice(0, 200_000),
      reasons: [{ rule: 'decode', message: error.message }],
    },
  ]);
  const outcome: MessageOutcome = {
    loaded: 0,
    skipped: 0,
    conflicts: 0,
    quarantined: 1,
    deadLettered: 0,
    excludedKeys: [],
  };
  const first = await deps.state.ledger.complete(poison.scope, poison.messageKey, 1, outcome);
  deps.log.warn('poison message quarantined', {
    pipeline: pipeline.name,
    messageId: message.messageId,
    reason: error.message,
  });
  return { pipeline: pipeline.name, records: 1, firstCompletion: first, poison: true, ...outcome };
}

/**
 * Marks the message as dead-lettered once `endsAt` (epoch ms) has passed, unless a completion
 * replaces the mark first; false when the ledger had already completed or abandoned it.
 */
const markDeadLettering = (deps: Deps, unit: LoadUnit, endsAt: number) =>
  deps.state.ledger.markLastReceive(
    unit.scope,
    unit.messageKey,
    { records: unit.records.length, keys: unit.records.map((r) => r.key) },
    endsAt,
  );

/**
 * On a message's last allowed receive, the ledger learns when this invocation ends: killed before
 * it completes the message, Load still has it counted dead-lettered. A failed mark does not stop
 * the load; the completion or the failure path below still counts the message.
 */
async function markLastReceive(deps: Deps, unit: LoadUnit, invocationEndsAt: number): Promise<void> {
  try {
    await markDeadLettering(deps, unit, invocationEndsAt);
  } catch (error) {
    deps.log.warn('last receive not marked in the ledger', { error: (error as Error).name });
  }
}

/**
 * What the target holds, to count ties against: its state, or, for a target that writes every
 * change and keeps no state (the S3 lake), its newest change per key, so every target counts
 * the same ties for the same changes.
 */
async function heldForTies(
  target: TargetConnector,
  keys: readonly string[],
  states: Map<string, TargetState>,
  skipRead: boolean,
): Promise<Map<string, TargetState>> {
  return skipRead || !target.readNewestChanges ? states : target.readNewestChanges(keys);
}

/** A record that is not written, with why: invalid, an expression failed, or the target refused it. */
interface InvalidRecord {
  readonly record: RecordEnvelope;
  readonly reasons: ValidationReason[];
}

/** A message's records ready to decide: the newest per key, validated, transformed and hashed. */
interface PreparedUnit {
  /** The newest record per key, as the message carries it. */
  readonly latest: RecordEnvelope[];
  /** Of those, the valid ones, transformed and hashed. */
  readonly prepared: PreparedChange[];
  /** Records superseded by a newer one of their key in the same message. */
  readonly superseded: number;
  /** Ties met within the message. */
  readonly ties: number;
  readonly filtered: number;
  readonly excludedKeys: readonly string[];
  readonly invalid: readonly InvalidRecord[];
}

/** Prepare: the expressions, the newest record per key, validation, the transform and the hash. */
async function prepareUnit(runtime: PipelineRuntime, unit: LoadUnit): Promise<PreparedUnit> {
  const writtenHash = (r: RecordEnvelope) =>
    r.op === 'delete' || r.data === null ? DELETED_HASH : contentHash(runtime.transform(r.data));
  const staged = await stageRecords(runtime.expressions, unit.records);
  const { latest, superseded, ties } = newestPerKey(staged.kept, writtenHash);
  const excludedKeys = [...staged.excludedKeys];
  const invalid: InvalidRecord[] = [...staged.failed];
  const prepared: PreparedChange[] = [];
  for (const record of latest) {
    if (record.op === 'delete' || record.data === null) {
      prepared.push({ record, data: null, hash: 'deleted' });
      continue;
    }
    const reasons = runtime.validate(record.data);
    if (reasons.length > 0) {
      invalid.push({ record, reasons });
      excludedKeys.push(record.key);
      continue;
    }
    const data = runtime.transform(record.data);
    prepared.push({ record, data, hash: contentHash(data) });
  }
  return { latest, prepared, superseded, ties, filtered: staged.filtered, excludedKeys, invalid };
}

/** What the target and the state table hold for a message's keys, read before deciding. */
interface TargetView {
  /** A first full load that read nothing: every key is expected absent. */
  readonly skipRead: boolean;
  readonly states: ReadonlyMap<string, TargetState>;
  readonly bases: ReadonlyMap<string, RecordData>;
  /** What ties are counted against (see {@link heldForTies}). */
  readonly held: ReadonlyMap<string, TargetState>;
  readonly unavailableFields: number;
  readonly sourceTies: SourceTies;
}

/**
 * Reads what deciding needs: the target's state, the field-merge bases, the held changes ties
 * count against; fills unavailable fields and settles ties at the source (both change `prepared`).
 */
async function readTargetView(
  deps: Deps,
  runtime: PipelineRuntime,
  pipeline: Pipeline,
  prepared: PreparedChange[],
): Promise<TargetView> {
  const strategy = pipeline.conflict.strategy;
  // A first full load cannot meet a target changed by someone else, and the version gate
  // in the conditional write already rejects duplicates: skip the read (it costs as much as
  // a quarter of the write).
  const skipRead =
    prepared.every((p) => p.record.provenance.initial === true) &&
    (strategy === 'source-wins' || strategy === 'latest-timestamp');
  const keyList = prepared.map((p) => p.record.key);
  const withData = !skipRead && strategy !== 'source-wins';
  const states: Map<string, TargetState> = skipRead
    ? new Map()
    : await runtime.target.readState(keyList, { withData });
  const bases =
    strategy === 'field-merge'
      ? await consistentBases(deps, runtime.target, pipeline.name, keyList, states)
      : new Map<string, RecordData>();
  const held = await heldForTies(runtime.target, keyList, states, skipRead);
  const unavailableFields = await runtime.unavailable.fill(
    runtime.target,
    prepared,
    withData ? states : undefined,
  );
  const sourceTies = await settleTiesAtSource(prepared, {
    rereader: runtime.rereader,
    held,
    prepare: (data) => {
      if (runtime.validate(data).length > 0) return undefined;
      const transformed = runtime.transform(data);
      return { data: transformed, hash: contentHash(transformed) };
    },
    log: deps.log,
  });
  return { skipRead, states, bases, held, unavailableFields, sourceTies };
}

/** A change the strategy could not settle against the target's data: parked for a person. */
interface PendingConflict {
  readonly record: RecordEnvelope;
  readonly data: RecordData | null;
  readonly state: TargetState | undefined;
  readonly fields: readonly string[];
}

/** What to do with each prepared change of a message. */
interface Decisions {
  readonly writes: TargetWrite[];
  /** Field-merge bases to store once their write is applied. */
  readonly newBases: ReadonlyMap<string, RecordData>;
  readonly conflicts: PendingConflict[];
  /** Changes the target already holds, or keeps by the strategy. */
  readonly skipped: number;
  /** Ties against what the target holds, not settled at the source. */
  readonly ties: number;
  readonly excludedKeys: string[];
}

/** The write of a change decided written; `stored` says what the target was found to hold. */
function writeOf(p: PreparedChange, decision: ApplyWrite, messageKey: string, view: TargetView): TargetWrite {
  const stored = view.states.get(p.record.key);
  return {
    key: p.record.key,
    op: decision.op,
    version: decision.version,
    hash: decision.hash,
    data: decision.data,
    messageKey,
    ts: p.record.ts,
    stored: view.skipRead || stored === undefined ? 'absent' : stored.deleted ? 'tombstone' : 'live',
  };
}

/** Decide: {@link decideApply} per change against the view read; reads and writes nothing. */
function decideUnit(
  pipeline: Pipeline,
  messageKey: string,
  prepared: readonly PreparedChange[],
  view: TargetView,
): Decisions {
  const writes: TargetWrite[] = [];
  const newBases = new Map<string, RecordData>();
  const conflicts: PendingConflict[] = [];
  const excludedKeys: string[] = [];
  let skipped = 0;
  let ties = 0;
  for (const p of prepared) {
    const key = p.record.key;
    const input = {
      change: { key, op: p.record.op, version: p.record.version, hash: p.hash, data: p.data },
      stored: view.states.get(key),
      base: view.bases.get(key),
      conflict: pipeline.conflict,
    };
    if (!view.sourceTies.keys.has(key) && isVersionTie({ ...input, stored: view.held.get(key) })) ties++;
    const decision = decideApply(input);
    if (decision.action === 'write') {
      writes.push(writeOf(p, decision, messageKey, view));
      if (decision.op === 'upsert') newBases.set(key, decision.base);
    } else if (decision.action === 'conflict') {
      conflicts.push({ record: p.record, data: p.data, state: input.stored, fields: decision.fields });
      excludedKeys.push(key);
    } else {
      if (decision.action === 'keep-target') excludedKeys.push(key);
      skipped++;
    }
  }
  return { writes, newBases, conflicts, skipped, ties, excludedKeys };
}

/** What the target did with a message's writes. */
interface Applied {
  readonly loaded: number;
  /** Writes the version gate found stale. */
  readonly stale: number;
  /** Records the target refused as invalid: quarantined with its reason. */
  readonly refused: InvalidRecord[];
}

/**
 * A record the target refuses as invalid (a reserved field name, a value it cannot store) would
 * fail on every redelivery: it is quarantined with the target's reason instead.
 */
function refusedByTarget(
  outcomes: readonly WriteOutcome[],
  latest: readonly RecordEnvelope[],
): InvalidRecord[] {
  const byKey = new Map(latest.map((r) => [r.key, r]));
  const refused: InvalidRecord[] = [];
  for (const o of outcomes) {
    if (o.status !== 'failed' || !(o.error instanceof ValidationError)) continue;
    const record = byKey.get(o.key);
    if (!record) continue;
    const issues = o.error.issues.length > 0 ? o.error.issues : [{ path: '', message: o.error.message }];
    refused.push({
      record,
      reasons: issues.map((i) => ({ field: i.path, rule: 'target', message: i.message })),
    });
  }
  return refused;
}

/** Throws for writes that failed otherwise than by refusal: the message is redelivered. */
function throwIfFailed(outcomes: readonly WriteOutcome[], writes: number): void {
  const failed = outcomes.filter((o) => o.status === 'failed' && !(o.error instanceof ValidationError));
  if (failed.length === 0) return;
  const first = failed[0] as { error: unknown };
  throw isRetryable(first.error)
    ? new TransientError(`${failed.length} of ${writes} writes failed`, { cause: first.error })
    : (first.error as Error);
}

/** Apply: the writes, the change archive, and the field-merge bases of what was applied. */
async function applyWrites(
  deps: Deps,
  runtime: PipelineRuntime,
  pipeline: Pipeline,
  decided: Decisions,
  latest: readonly RecordEnvelope[],
): Promise<Applied> {
  const { writes, newBases } = decided;
  if (writes.length === 0) return { loaded: 0, stale: 0, refused: [] };
  const outcomes = await runtime.target.write(writes);
  const refused = refusedByTarget(outcomes, latest);
  throwIfFailed(outcomes, writes.length);
  const applied = new Set(outcomes.filter((o) => o.status === 'applied').map((o) => o.key));
  await archiveAppliedChanges(deps.connectorContext(pipeline), pipeline, writes, outcomes);
  if (pipeline.conflict.strategy === 'field-merge')
    await deps.state.bases.putMany(
      pipeline.name,
      writes
        .filter((w) => applied.has(w.key) && newBases.has(w.key))
        .map((w) => ({ key: w.key, data: newBases.get(w.key) as RecordData, version: w.version })),
    );
  const stale = outcomes.filter((o) => o.status === 'stale').length;
  return { loaded: outcomes.filter((o) => o.status === 'applied').length, stale, refused };
}

/** Parks each conflict; a conflict parked for the first time is announced on the bus. */
async function parkConflicts(
  deps: Deps,
  pipeline: Pipeline,
  conflicts: readonly PendingConflict[],
  bases: ReadonlyMap<string, RecordData>,
): Promise<number> {
  for (const c of conflicts) {
    const id = conflictId(pipeline.name, c.record.key, c.record.version);
    const isNew = await deps.state.conflicts.park({
      id,
      pipeline: pipeline.name,
      key: c.record.key,
      createdAt: deps.now().toISOString(),
      strategy: pipeline.conflict.strategy,
      fields: c.fields,
      source: { version: c.record.version, data: c.data },
      target: { version: c.state?.version ?? '', data: c.state?.data ?? null },
      base: bases.get(c.record.key) ?? null,
    });
    if (isNew)
      await emitConflictParked(deps, {
        pipeline: pipeline.name,
        conflictId: id,
        key: c.record.key,
        fields: c.fields,
      });
  }
  return conflicts.length;
}

/** Settle: conflicts parked, the invalid quarantined. Returns the conflicts parked. */
async function settleUnit(
  deps: Deps,
  pipeline: Pipeline,
  unit: LoadUnit,
  conflicts: readonly PendingConflict[],
  bases: ReadonlyMap<string, RecordData>,
  invalid: readonly InvalidRecord[],
): Promise<number> {
  const parked = await parkConflicts(deps, pipeline, conflicts, bases);
  if (invalid.length > 0)
    await quarantine(
      deps,
      pipeline,
      unit,
      invalid.map((i) => ({ record: i.record, reasons: i.reasons })),
    );
  return parked;
}

/**
 * Applies one message's records to the target: prepare, read what the target holds, decide
 * (pure), apply the writes, settle conflicts and quarantine. The outcome is counted once, by the
 * caller, in the ledger.
 */
export async function applyUnit(deps: Deps, pipeline: Pipeline, unit: LoadUnit): Promise<MessageOutcome> {
  const runtime = await runtimeOf(deps, pipeline);
  const ready = await prepareUnit(runtime, unit);
  const view = await readTargetView(deps, runtime, pipeline, ready.prepared);
  const decided = decideUnit(pipeline, unit.messageKey, ready.prepared, view);
  const applied = await applyWrites(deps, runtime, pipeline, decided, ready.latest);
  const invalid = [...ready.invalid, ...applied.refused];
  const parked = await settleUnit(deps, pipeline, unit, decided.conflicts, view.bases, invalid);
  const ties = ready.ties + view.sourceTies.keys.size + decided.ties;
  return {
    loaded: applied.loaded,
    skipped: ready.superseded + decided.skipped + applied.stale,
    ...(ready.filtered > 0 ? { filtered: ready.filtered } : {}),
    conflicts: parked,
    quarantined: invalid.length,
    deadLettered: 0,
    excludedKeys: [
      ...ready.excludedKeys,
      ...decided.excludedKeys,
      ...applied.refused.map((i) => i.record.key),
    ],
    ...(view.unavailableFields > 0 ? { unavailableFields: view.unavailableFields } : {}),
    ...(ties > 0 ? { ties } : {}),
    ...(view.sourceTies.reread > 0 ? { tiesReread: view.sourceTies.reread } : {}),
  };
}

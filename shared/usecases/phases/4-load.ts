import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { decodeChangeEvent, isChangeEvent } from '../../cdc/index.ts';
import { archiveAppliedChanges } from '../../connectors/targets/change-archive.ts';
import type { SourceRereader, TargetConnector, TargetState, TargetWrite } from '../../connectors/types.ts';
import { decideApply, isVersionTie } from '../../domain/decide.ts';
import { createRecordExpressions, type RecordExpressions, stageRecords } from '../../domain/expressions.ts';
import { createTransform } from '../../domain/transform.ts';
import { createValidator, type ValidationReason } from '../../domain/validation.ts';
import { isRetryable, TransientError, ValidationError } from '../../errors.ts';
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
import { settleTiesAtSource } from '../source-ties.ts';
import { createUnavailableFields, type UnavailableFields } from '../unavailable-fields.ts';

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

/** Per-pipeline compiled validators, transforms and open target connections, kept for the container's life. */
interface PipelineRuntime {
  readonly validate: (data: RecordData) => ValidationReason[];
  readonly transform: (data: RecordData) => RecordData;
  readonly expressions: RecordExpressions | undefined;
  readonly target: TargetConnector;
  readonly unavailable: UnavailableFields;
  /** The source, when its API answers for one record: ties are re-read there. */
  readonly rereader: SourceRereader | undefined;
}
const runtimes = new WeakMap<Deps, Map<string, Promise<PipelineRuntime>>>();

function runtimeOf(deps: Deps, pipeline: Pipeline): Promise<PipelineRuntime> {
  let byName = runtimes.get(deps);
  if (!byName) {
    byName = new Map();
    runtimes.set(deps, byName);
  }
  let runtime = byName.get(pipeline.name);
  if (!runtime) {
    const unavailable = createUnavailableFields(pipeline);
    runtime = (async () => ({
      validate: unavailable.validating(createValidator(pipeline.validation)),
      transform: unavailable.transforming(
        createTransform(pipeline.transform, { hashKey: await maskKey(deps, pipeline) }),
      ),
      expressions: createRecordExpressions(pipeline.transform),
      target: deps.createTarget(pipeline),
      unavailable,
      rereader: deps.createRereader?.(pipeline),
    }))();
    runtime.catch(() => byName.delete(pipeline.name));
    byName.set(pipeline.name, runtime);
  }
  return runtime;
}

/**
 * Key of the keyed hash used by `mask: hash`: the stage's secret mask key (Secrets Manager,
 * generated at deploy) and the pipeline name, so equal values join within a pipeline and a
 * hash cannot be reversed by hashing guesses. Without a configured secret (unit tests outside
 * any stack) the key is derived from public names, and a warning says so.
 */
export async function maskKey(deps: Deps, pipeline: Pipeline): Promise<string> {
  const name = deps.config.maskKeySecret;
  if (name) return `${await deps.secrets.getString(name)}:${pipeline.name}`;
  if (Object.values(pipeline.transform.mask).includes('hash'))
    deps.log.warn('no mask key secret configured (ESYNC_MASK_KEY_SECRET): masked hashes use a public key', {
      pipeline: pipeline.name,
    });
  return `esync:${deps.config.stage}:${pipeline.name}`;
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
  // Deterministic key: a redelivered message rewrites the same object instead of adding one.
  await deps.clients.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.dataBucket,
      Key: `quarantine/${pipeline.name}/${encodeURIComponent(unit.scope)}/${unit.messageKey}.json`,
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
    const poison = {
      scope: keys.ledgerScopeOfStream(pipeline.name, today(deps.now())),
      messageKey: `poison-${contentHash(message.body)}`,
    };
    await quarantine(deps, pipeline, poison, [
      {
        raw: message.body.slice(0, 200_000),
        reasons: [{ rule: 'decode', message: (error as Error).message }],
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
      reason: (error as Error).message,
    });
    return { pipeline: pipeline.name, records: 1, firstCompletion: first, poison: true, ...outcome };
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
    if (lastReceive) {
      // Last allowed receive: SQS moves the message to the DLQ after this failure, so it is
      // counted now; the run's counters must add up even for what failed.
      const keysInUnit = unit.records.map((r) => r.key);
      await deps.state.ledger.complete(unit.scope, unit.messageKey, unit.records.length, {
        loaded: 0,
        skipped: 0,
        conflicts: 0,
        quarantined: 0,
        deadLettered: unit.records.length,
        excludedKeys: keysInUnit,
      });
      deps.log.error('message dead-lettered', {
        pipeline: pipeline.name,
        messageId: message.messageId,
        error: (error as Error).name,
      });
    }
    throw error;
  }
}

/**
 * On a message's last allowed receive, the ledger learns when this invocation ends: killed before
 * it completes the message, Load still has it counted dead-lettered. A failed mark does not stop
 * the load; the completion or the failure path below still counts the message.
 */
async function markLastReceive(deps: Deps, unit: LoadUnit, invocationEndsAt: number): Promise<void> {
  try {
    await deps.state.ledger.markLastReceive(
      unit.scope,
      unit.messageKey,
      { records: unit.records.length, keys: unit.records.map((r) => r.key) },
      invocationEndsAt,
    );
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

export async function applyUnit(deps: Deps, pipeline: Pipeline, unit: LoadUnit): Promise<MessageOutcome> {
  const runtime = await runtimeOf(deps, pipeline);
  const writtenHash = (r: RecordEnvelope) =>
    r.op === 'delete' || r.data === null ? DELETED_HASH : contentHash(runtime.transform(r.data));
  const staged = await stageRecords(runtime.expressions, unit.records);
  const { latest, superseded, ties: messageTies } = newestPerKey(staged.kept, writtenHash);
  let skipped = superseded;
  let ties = messageTies;
  const excludedKeys: string[] = staged.excludedKeys;
  const invalid: { record: RecordEnvelope; reasons: ValidationReason[] }[] = staged.failed;
  const prepared: { record: RecordEnvelope; data: RecordData | null; hash: string }[] = [];
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
  ties += sourceTies.keys.size;

  const writes: TargetWrite[] = [];
  const newBases = new Map<string, RecordData>();
  const conflicts: {
    record: RecordEnvelope;
    data: RecordData | null;
    state: TargetState;
    fields: readonly string[];
  }[] = [];
  for (const p of prepared) {
    const stored = states.get(p.record.key);
    const input = {
      change: { key: p.record.key, op: p.record.op, version: p.record.version, hash: p.hash, data: p.data },
      stored,
      base: bases.get(p.record.key),
      conflict: pipeline.conflict,
    };
    if (!sourceTies.keys.has(p.record.key) && isVersionTie({ ...input, stored: held.get(p.record.key) }))
      ties++;
    const decision = decideApply(input);
    switch (decision.action) {
      case 'write':
        writes.push({
          key: p.record.key,
          op: decision.op,
          version: decision.version,
          hash: decision.hash,
          data: decision.data,
          messageKey: unit.messageKey,
          ts: p.record.ts,
          stored: skipRead || stored === undefined ? 'absent' : stored.deleted ? 'tombstone' : 'live',
        });
        if (decision.op === 'upsert') newBases.set(p.record.key, decision.base);
        break;
      case 'conflict':
        conflicts.push({
          record: p.record,
          data: p.data,
          state: stored as TargetState,
          fields: decision.fields,
        });
        excludedKeys.push(p.record.key);
        break;
      case 'keep-target':
        excludedKeys.push(p.record.key);
        skipped++;
        break;
      default:
        skipped++;
    }
  }

  let loaded = 0;
  if (writes.length > 0) {
    const outcomes = await runtime.target.write(writes);
    // A record the target refuses as invalid (a reserved field name, a value it cannot store)
    // would fail on every redelivery: it is quarantined with the target's reason instead.
    const byKey = new Map(latest.map((r) => [r.key, r]));
    const refused = outcomes.filter(
      (o): o is Extract<typeof o, { status: 'failed' }> =>
        o.status === 'failed' && o.error instanceof ValidationError,
    );
    for (const o of refused) {
      const record = byKey.get(o.key);
      if (!record) continue;
      const error = o.error as ValidationError;
      invalid.push({
        record,
        reasons: (error.issues.length > 0 ? error.issues : [{ path: '', message: error.message }]).map(
          (i) => ({
            field: i.path,
            rule: 'target',
            message: i.message,
          }),
        ),
      });
      excludedKeys.push(o.key);
    }
    const failed = outcomes.filter((o) => o.status === 'failed' && !(o.error instanceof ValidationError));
    if (failed.length > 0) {
      const first = failed[0] as { error: unknown };
      throw isRetryable(first.error)
        ? new TransientError(`${failed.length} of ${writes.length} writes failed`, { cause: first.error })
        : (first.error as Error);
    }
    for (const o of outcomes) {
      if (o.status === 'applied') loaded++;
      else if (o.status === 'stale') skipped++;
    }
    await archiveAppliedChanges(deps.connectorContext(pipeline), pipeline, writes, outcomes);
    if (strategy === 'field-merge') {
      const applied = new Set(outcomes.filter((o) => o.status === 'applied').map((o) => o.key));
      await deps.state.bases.putMany(
        pipeline.name,
        writes
          .filter((w) => applied.has(w.key) && newBases.has(w.key))
          .map((w) => ({ key: w.key, data: newBases.get(w.key) as RecordData, version: w.version })),
      );
    }
  }

  let parked = 0;
  for (const c of conflicts) {
    const id = conflictId(pipeline.name, c.record.key, c.record.version);
    const isNew = await deps.state.conflicts.park({
      id,
      pipeline: pipeline.name,
      key: c.record.key,
      createdAt: deps.now().toISOString(),
      strategy,
      fields: c.fields,
      source: { version: c.record.version, data: c.data },
      target: { version: c.state?.version ?? '', data: c.state?.data ?? null },
      base: bases.get(c.record.key) ?? null,
    });
    parked++;
    if (isNew)
      await deps.clients.eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: deps.config.eventBus,
              Source: 'esync',
              DetailType: 'esync.conflict.parked',
              Detail: JSON.stringify({
                pipeline: pipeline.name,
                conflictId: id,
                key: c.record.key,
                fields: c.fields,
              }),
            },
          ],
        }),
      );
  }

  if (invalid.length > 0)
    await quarantine(
      deps,
      pipeline,
      unit,
      invalid.map((i) => ({ record: i.record, reasons: i.reasons })),
    );

  return {
    loaded,
    skipped,
    ...(staged.filtered > 0 ? { filtered: staged.filtered } : {}),
    conflicts: parked,
    quarantined: invalid.length,
    deadLettered: 0,
    excludedKeys,
    ...(unavailableFields > 0 ? { unavailableFields } : {}),
    ...(ties > 0 ? { ties } : {}),
    ...(sourceTies.reread > 0 ? { tiesReread: sourceTies.reread } : {}),
  };
}

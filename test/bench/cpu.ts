import { isChangeEvent } from '../../shared/cdc/index.ts';
import type { TargetState } from '../../shared/connectors/types.ts';
import { decideApply } from '../../shared/domain/decide.ts';
import { createTransform } from '../../shared/domain/transform.ts';
import { createValidator } from '../../shared/domain/validation.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../../shared/records/envelope.ts';
import { parseExactJson } from '../../shared/records/exact-json.ts';
import { contentHash } from '../../shared/records/hash.ts';
import { jsonDepth, MAX_JSON_DEPTH } from '../../shared/records/json-depth.ts';
import { parseLoadMessage, type RecordsMessage } from '../../shared/records/messages.ts';
import { timestampVersion } from '../../shared/records/version.ts';
import { benchUser } from './records.ts';

export interface CpuOptions {
  readonly pipeline: Pipeline;
  /** Distinct users in the measured messages (one round passes over all). @default 5000 */
  readonly records?: number;
  /** Each of the two passes runs at least this long, in alternating rounds. @default 2000 */
  readonly minMs?: number;
}

export interface CpuResult {
  /**
   * Load path of a first load: decode, validate, transform, hash and decide (the target holds no
   * state for the key), records per second on one core.
   */
  readonly recordsPerSec: number;
  /**
   * The same against a target holding an older version of every record: the decision re-hashes
   * the target's data to see whether someone else changed it (latest-timestamp).
   */
  readonly incrementalRecordsPerSec: number;
  /** JSON.parse of the same message bodies and JSON.stringify of each record. */
  readonly baselineRecordsPerSec: number;
  /** Mean bytes of one record's data as JSON. */
  readonly recordBytes: number;
  /** Microseconds per record by step of the load path (one pass, for the profile). */
  readonly stepMicros: Readonly<Record<'decode' | 'validate' | 'transform' | 'hash' | 'decide', number>>;
}

interface Prepared {
  readonly bodies: string[];
  /** What the target holds for each key: the previous version of the user, as a read returns it. */
  readonly stored: Map<string, TargetState>;
  readonly recordBytes: number;
}

/**
 * Load-queue messages of `batch.size` users each, as Extract sends them, and the target's state for each
 * key: the previous version of the same user, so the decision takes the incremental path (the
 * stored data is re-hashed to detect an external change, as latest-timestamp does).
 */
function prepare(pipeline: Pipeline, records: number): Prepared {
  const transform = createTransform(pipeline.transform, { hashKey: 'esync:bench:users-sync' });
  const bodies: string[] = [];
  const stored = new Map<string, TargetState>();
  let bytes = 0;
  const perMessage = pipeline.batch.size;
  for (let first = 1; first <= records; first += perMessage) {
    const envelopes = [];
    for (let id = first; id < Math.min(first + perMessage, records + 1); id++) {
      const data = benchUser(id);
      bytes += Buffer.byteLength(JSON.stringify(data));
      const key = String(id);
      const previous = transform({ ...data, name: `${String(data.name)} (before)` });
      stored.set(key, {
        version: timestampVersion('2026-10-01T00:00:00Z', key),
        hash: contentHash(previous),
        deleted: false,
        data: previous,
      });
      envelopes.push(
        makeEnvelope({
          key,
          op: 'upsert',
          version: timestampVersion(String(data.updated_at), key),
          ts: String(data.updated_at),
          data,
          provenance: { pipeline: pipeline.name, runId: 'bench-run' },
        }),
      );
    }
    bodies.push(
      JSON.stringify({
        kind: 'records',
        v: 1,
        pipeline: pipeline.name,
        messageKey: `m${first}`,
        scope: 'RUN#bench-run',
        records: envelopes,
      }),
    );
  }
  return { bodies, stored, recordBytes: Math.round(bytes / records) };
}

/**
 * Records per CPU second of one round: `pass` over every body. CPU time, not wall time, so that
 * other processes competing for the cores do not count against the pass (they still slow it
 * through caches; the best round of several limits that).
 */
function round(bodies: readonly string[], pass: (body: string) => number): number {
  let records = 0;
  const started = process.cpuUsage();
  for (const body of bodies) records += pass(body);
  const used = process.cpuUsage(started);
  return (records / Math.max(1, used.user + used.system)) * 1e6;
}

/**
 * Rounds of the passes alternate until each has run about `minMs`; the best round of each counts.
 * Other processes on the machine only ever slow a round down, so the best round is the closest to
 * an idle core, and alternating exposes every pass to the same conditions.
 */
function measure(
  bodies: readonly string[],
  minMs: number,
  passes: readonly ((body: string) => number)[],
): number[] {
  for (const pass of passes) for (const body of bodies.slice(0, 20)) pass(body);
  const best = passes.map(() => 0);
  const started = performance.now();
  do {
    for (const [i, pass] of passes.entries()) best[i] = Math.max(best[i] as number, round(bodies, pass));
  } while (performance.now() - started < minMs * passes.length);
  return best.map(Math.round);
}

/** Decodes a message body the way Load does (shared/usecases/phases/4-load.ts decodeMessage). */
function decode(body: string): RecordsMessage {
  const parsed: unknown = parseExactJson(body);
  if (jsonDepth(parsed, MAX_JSON_DEPTH + 8) > MAX_JSON_DEPTH + 8 || isChangeEvent(parsed))
    throw new Error('benchmark message is not a records message');
  const message = parseLoadMessage(parsed);
  if (!message.success || message.data.kind !== 'records')
    throw new Error('benchmark message does not decode');
  return message.data;
}

/**
 * The load path's CPU cost per record, on one core (this thread, nothing else running): the
 * pure functions Load applies to every record, without the I/O around them.
 */
export function runCpuBench(options: CpuOptions): CpuResult {
  const { pipeline } = options;
  const minMs = options.minMs ?? 2000;
  const prepared = prepare(pipeline, options.records ?? 5_000);
  const validate = createValidator(pipeline.validation);
  const transform = createTransform(pipeline.transform, { hashKey: 'esync:bench:users-sync' });
  const conflict = pipeline.conflict;
  let decisions = 0;

  const loadPath =
    (stored: ReadonlyMap<string, TargetState>) =>
    (body: string): number => {
      const message = decode(body);
      const latest = new Map<string, RecordEnvelope>();
      for (const record of message.records) latest.set(record.key, record);
      for (const record of latest.values()) {
        const source = record.data as RecordData;
        if (validate(source).length > 0) throw new Error(`benchmark record ${record.key} is invalid`);
        const data = transform(source);
        const decision = decideApply({
          change: { key: record.key, op: record.op, version: record.version, hash: contentHash(data), data },
          stored: stored.get(record.key),
          conflict,
        });
        if (decision.action === 'write') decisions++;
      }
      return message.records.length;
    };
  const baseline = (body: string): number => {
    const message = JSON.parse(body) as { records: { data: unknown }[] };
    let length = 0;
    for (const record of message.records) length += JSON.stringify(record.data).length;
    return length > 0 ? message.records.length : 0;
  };

  const [recordsPerSec, incrementalRecordsPerSec, baselineRecordsPerSec] = measure(prepared.bodies, minMs, [
    loadPath(new Map()),
    loadPath(prepared.stored),
    baseline,
  ]) as [number, number, number];
  if (decisions === 0) throw new Error('the load path decided no write: the benchmark measures nothing');
  return {
    recordsPerSec,
    incrementalRecordsPerSec,
    baselineRecordsPerSec,
    recordBytes: prepared.recordBytes,
    stepMicros: profileSteps(prepared, validate, transform, conflict),
  };
}

/** Each step over every record in turn, for the profile beside the figure (bulk timing, no per-call clock). */
function profileSteps(
  prepared: Prepared,
  validate: ReturnType<typeof createValidator>,
  transform: ReturnType<typeof createTransform>,
  conflict: Pipeline['conflict'],
): CpuResult['stepMicros'] {
  // Best of five rounds per step, for the same reason as measurePair.
  const time = <T>(run: () => T): [T, number] => {
    let best = Number.POSITIVE_INFINITY;
    let result: T | undefined;
    for (let i = 0; i < 5; i++) {
      const started = process.cpuUsage();
      result = run();
      const used = process.cpuUsage(started);
      best = Math.min(best, (used.user + used.system) / 1000);
    }
    return [result as T, best];
  };
  const [records, decoding] = time(() => prepared.bodies.flatMap((body) => decode(body).records));
  const [, validating] = time(() => {
    for (const record of records) validate(record.data as RecordData);
  });
  const [transformed, transforming] = time(() =>
    records.map((record) => transform(record.data as RecordData)),
  );
  const [hashes, hashing] = time(() => transformed.map((data) => contentHash(data)));
  const [, deciding] = time(() => {
    for (const [i, record] of records.entries())
      decideApply({
        change: {
          key: record.key,
          op: record.op,
          version: record.version,
          hash: hashes[i] as string,
          data: transformed[i] ?? null,
        },
        stored: prepared.stored.get(record.key),
        conflict,
      });
  });
  const micros = (ms: number) => Math.round((ms / Math.max(1, records.length)) * 100_000) / 100;
  return {
    decode: micros(decoding),
    validate: micros(validating),
    transform: micros(transforming),
    hash: micros(hashing),
    decide: micros(deciding),
  };
}

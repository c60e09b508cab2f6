import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { formatProblem, loadPipelineFiles } from '../../shared/pipeline/load.ts';
import type { FieldRule, Pipeline } from '../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData } from '../../shared/records/envelope.ts';
import type { RecordsMessage } from '../../shared/records/messages.ts';
import { timestampVersion } from '../../shared/records/version.ts';
import { createDeps, currentDeps } from '../../shared/usecases/deps.ts';
import { loadMessage } from '../../shared/usecases/phases/4-load.ts';
import { startFuzzEnv } from './fuzz-env.ts';

/**
 * The record half of the bad-input suite: records generated against a pipeline's validation
 * rules go through the real load use case (`loadMessage`) into its DynamoDB target on dynalite,
 * with the quarantine on the local S3 server. Each invalid record must be quarantined with every
 * reason an independent reading of the rules gives, each valid one loaded (masked fields hashed,
 * dropped fields gone), and the counts must add up.
 */

/** One reason as `field:rule`, e.g. `email:format`. */
export type ReasonKey = `${string}:${string}`;

function typeMatches(type: NonNullable<FieldRule['type']>, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'timestamp':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value));
  }
}

function fieldValue(data: RecordData, field: string): unknown {
  if (Object.hasOwn(data, field)) return data[field];
  let current: unknown = data;
  for (const segment of field.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * The reasons a record fails the rules, read straight from the documented semantics (schema.ts):
 * a missing or null value fails only `required`; a wrong `type` skips `format` and `range`;
 * `range` bounds numbers, or string lengths in code points; `enum` compares strictly.
 */
export function expectedReasons(rules: readonly FieldRule[], data: RecordData): Set<ReasonKey> {
  const reasons = new Set<ReasonKey>();
  for (const rule of rules) {
    const value = fieldValue(data, rule.field);
    const add = (name: string) => reasons.add(`${rule.field}:${name}`);
    if (value === undefined || value === null) {
      if (rule.required) add('required');
      continue;
    }
    const typeOk = rule.type === undefined || typeMatches(rule.type, value);
    if (!typeOk) add('type');
    else {
      if (rule.format !== undefined && (typeof value !== 'string' || !new RegExp(rule.format).test(value)))
        add('format');
      if (rule.range !== undefined && (rule.range.min !== undefined || rule.range.max !== undefined)) {
        const { min, max } = rule.range;
        const measure =
          typeof value === 'number' ? value : typeof value === 'string' ? [...value].length : undefined;
        if (
          measure === undefined ||
          Number.isNaN(measure) ||
          (min !== undefined && measure < min) ||
          (max !== undefined && measure > max)
        )
          add('range');
      }
    }
    if (rule.enum !== undefined && !rule.enum.some((allowed) => allowed === value)) add('enum');
  }
  return reasons;
}

const otherTypes = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.integer(), { maxKeys: 2 }),
  fc.string({ maxLength: 12 }),
);

/**
 * Values for one rule's field: valid ones (weighted, so a good share of records passes every
 * rule) and ones breaking each of its checks; `undefined` leaves the field out.
 */
function valuesFor(rule: FieldRule): fc.Arbitrary<unknown> {
  const valid: fc.Arbitrary<unknown>[] = [];
  const invalid: fc.Arbitrary<unknown>[] = [fc.constant(null), otherTypes];
  if (rule.required) invalid.push(fc.constant(undefined));
  else valid.push(fc.constant(undefined));
  if (rule.enum) {
    const allowed = rule.enum;
    valid.push(fc.constantFrom(...allowed));
    invalid.push(
      fc.constantFrom(...allowed).map((v) => (typeof v === 'string' ? v.toUpperCase() : String(v))),
      fc.string({ maxLength: 10 }).filter((s) => !allowed.includes(s)),
    );
  }
  if (rule.format) {
    const pattern = new RegExp(rule.format);
    valid.push(fc.stringMatching(pattern));
    invalid.push(
      fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !pattern.test(s)),
      fc.stringMatching(pattern).map((s) => ` ${s.replace('@', ' @')}`),
    );
  }
  if (rule.type === 'integer' || rule.type === 'number') {
    const min = rule.range?.min ?? -1_000_000;
    const max = rule.range?.max ?? 1_000_000;
    valid.push(fc.integer({ min, max }));
    invalid.push(
      fc.integer({ min: max + 1, max: max + 10_000 }),
      fc.integer({ min: min - 10_000, max: min - 1 }),
      fc.double({ min, max, noNaN: true }).filter((d) => !Number.isInteger(d)),
      fc.integer({ min, max }).map(String),
    );
  }
  return fc.oneof(
    ...valid.map((arbitrary) => ({ arbitrary, weight: Math.ceil((2 * invalid.length) / valid.length) })),
    ...invalid.map((arbitrary) => ({ arbitrary, weight: 1 })),
  );
}

/** A record of the pipeline's rules' fields plus the fields its transform masks and drops. */
export function recordArbitrary(pipeline: Pipeline): fc.Arbitrary<RecordData> {
  const fields = Object.fromEntries(pipeline.validation.map((rule) => [rule.field, valuesFor(rule)]));
  return fc
    .record({
      ...fields,
      name: fc.string({ unit: 'grapheme', maxLength: 20 }),
      phone: fc.stringMatching(/^\+[1-9][0-9]{9,12}$/),
      internal_notes: fc.string({ maxLength: 30 }),
    })
    .map((record) => Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)));
}

export interface RecordFuzzReport {
  readonly seed: number;
  readonly generated: number;
  readonly expectedInvalid: number;
  readonly loaded: number;
  readonly quarantined: number;
  readonly skipped: number;
  /** Quarantined records whose reasons differ from the rules' (a reason missing or extra). */
  readonly wrongReasons: number;
  /** Valid records not loaded, or loaded with a masked field readable or a dropped field present. */
  readonly badLoads: number;
  /** Invalid records loaded, or missing from both target and quarantine. */
  readonly unaccounted: number;
  readonly reasonCounts: Record<string, number>;
  readonly failures: readonly string[];
}

/**
 * Generates `count` records for `pipelines/<pipelineFile>` from `seed`, loads them in messages of
 * `batchSize`, and checks target, quarantine and counters.
 */
export async function runRecordFuzz(options: {
  readonly rootDir: string;
  readonly count: number;
  readonly seed: number;
  readonly pipelineFile?: string;
  readonly batchSize?: number;
}): Promise<RecordFuzzReport> {
  const file = options.pipelineFile ?? 'pipelines/users-sync.yaml';
  const { pipelines, problems } = await loadPipelineFiles([path.join(options.rootDir, file)]);
  const pipeline = pipelines[0];
  if (!pipeline) throw new Error(`${file} does not load: ${problems.map(formatProblem).join('; ')}`);
  if (pipeline.target.type !== 'dynamodb')
    throw new Error(`${file}: the record fuzz needs a DynamoDB target`);
  const keyAttribute = pipeline.target.keyAttribute;
  const env = await startFuzzEnv({ pipelines: [pipeline] });
  try {
    const deps = await currentDeps(createDeps({}, { targets: TARGET_CONNECTORS }));
    const data = fc.sample(recordArbitrary(pipeline), { numRuns: options.count, seed: options.seed });
    const baseTime = Date.UTC(2026, 10, 1);
    const records = data.map((d, i) => {
      const key = `fuzz-${options.seed}-${i}`;
      const updatedAt = new Date(baseTime + i * 1000).toISOString();
      return makeEnvelope({
        key,
        op: 'upsert',
        version: timestampVersion(updatedAt, key),
        ts: updatedAt,
        data: { id: key, updated_at: updatedAt, ...d },
        provenance: { pipeline: pipeline.name, runId: `fuzz-${options.seed}` },
      });
    });
    const scope = `RUN#fuzz-${options.seed}`;
    const batchSize = options.batchSize ?? 25;
    let loaded = 0;
    let quarantined = 0;
    let skipped = 0;
    for (let i = 0; i < records.length; i += batchSize) {
      const message: RecordsMessage = {
        kind: 'records',
        v: 1,
        pipeline: pipeline.name,
        messageKey: `m${i / batchSize}`,
        scope,
        records: records.slice(i, i + batchSize),
      };
      const result = await loadMessage(deps, pipeline.name, {
        messageId: `fuzz-${i}`,
        body: JSON.stringify(message),
        receiveCount: 1,
      });
      loaded += result.loaded;
      quarantined += result.quarantined;
      skipped += result.skipped;
    }

    // What the quarantine holds, by record key.
    const quarantinedReasons = new Map<string, Set<ReasonKey>>();
    for (const key of await env.listObjects(`quarantine/${pipeline.name}/`)) {
      const object = await env.s3.send(new GetObjectCommand({ Bucket: env.dataBucket, Key: key }));
      const body = JSON.parse((await object.Body?.transformToString('utf8')) ?? '{}') as {
        entries?: Array<{ record?: { key?: string }; reasons?: Array<{ field?: string; rule?: string }> }>;
      };
      for (const entry of body.entries ?? [])
        if (entry.record?.key)
          quarantinedReasons.set(
            entry.record.key,
            new Set((entry.reasons ?? []).map((r) => `${r.field}:${r.rule}` as ReasonKey)),
          );
    }

    // What the target holds, by record key.
    const table = ownedTargetTableName(env.stage, pipeline.name);
    const documents = DynamoDBDocumentClient.from(env.dynamodb);
    const stored = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < records.length; i += 100) {
      let keys: Record<string, unknown>[] = records.slice(i, i + 100).map((r) => ({ [keyAttribute]: r.key }));
      while (keys.length > 0) {
        const out = await documents.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: keys } } }));
        for (const row of out.Responses?.[table] ?? []) stored.set(String(row[keyAttribute]), row);
        keys = out.UnprocessedKeys?.[table]?.Keys ?? [];
      }
    }

    const masked = Object.keys(pipeline.transform.mask);
    const dropped = pipeline.transform.drop;
    const failures: string[] = [];
    const reasonCounts: Record<string, number> = {};
    let expectedInvalid = 0;
    let wrongReasons = 0;
    let badLoads = 0;
    let unaccounted = 0;
    const note = (text: string) => failures.length < 20 && failures.push(text);
    for (const record of records) {
      const input = record.data as RecordData;
      const expected = expectedReasons(pipeline.validation, input);
      const got = quarantinedReasons.get(record.key);
      const row = stored.get(record.key);
      const show = JSON.stringify(input).slice(0, 160);
      if (expected.size > 0) {
        expectedInvalid++;
        for (const reason of expected) reasonCounts[reason] = (reasonCounts[reason] ?? 0) + 1;
        if (row !== undefined) {
          unaccounted++;
          note(`loaded although invalid (${[...expected].join(', ')}): ${show}`);
        } else if (got === undefined) {
          unaccounted++;
          note(`neither loaded nor quarantined: ${show}`);
        } else if (got.size !== expected.size || [...expected].some((r) => !got.has(r))) {
          wrongReasons++;
          note(`reasons ${[...got].join(', ')}; expected ${[...expected].join(', ')}: ${show}`);
        }
        continue;
      }
      if (got !== undefined) {
        unaccounted++;
        note(`quarantined although valid (${[...got].join(', ')}): ${show}`);
      } else if (row === undefined) {
        badLoads++;
        note(`valid but not loaded: ${show}`);
      } else {
        for (const field of masked)
          if (input[field] !== undefined && JSON.stringify(row).includes(String(input[field]))) {
            badLoads++;
            note(`masked field ${field} readable in the target: ${record.key}`);
          }
        for (const field of dropped)
          if (Object.hasOwn(row, field)) {
            badLoads++;
            note(`dropped field ${field} present in the target: ${record.key}`);
          }
      }
    }
    return {
      seed: options.seed,
      generated: records.length,
      expectedInvalid,
      loaded,
      quarantined,
      skipped,
      wrongReasons,
      badLoads,
      unaccounted,
      reasonCounts,
      failures,
    };
  } finally {
    await env.stop();
  }
}

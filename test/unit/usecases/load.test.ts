import type { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteObjectCommand, type PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { AwsClients } from '../../../shared/aws/clients.ts';
import type { RuntimeConfig } from '../../../shared/config.ts';
import type {
  TargetConnector,
  TargetState,
  TargetWrite,
  WriteOutcome,
} from '../../../shared/connectors/types.ts';
import { TransientError, ValidationError } from '../../../shared/errors.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../../../shared/records/envelope.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import type { ConflictRecord } from '../../../shared/state/conflicts.ts';
import type { StateRepositories } from '../../../shared/state/index.ts';
import type { MessageOutcome } from '../../../shared/state/ledger.ts';
import { createDeps, type Deps } from '../../../shared/usecases/deps.ts';
import { loadMessage } from '../../../shared/usecases/phases/4-load.ts';

const PIPELINE = 'orders';

const CONFIG: RuntimeConfig = {
  stage: 'test',
  stateTable: 'state',
  idempotencyTable: 'idempotency',
  dataBucket: 'data',
  eventBus: 'bus',
  queueUrlPrefix: 'http://sqs/',
  stateMachineArnPrefix: 'arn:sm:',
  secretsMaxAgeSeconds: 300,
  databaseAuth: 'password',
  cliTarget: '--local',
  stageAlertWebhooks: [],
};

/** A target held in memory with the version gate of the real ones; `refuse` and `fail` pick keys to fail. */
class MemoryTarget {
  readonly held = new Map<string, TargetState>();
  readonly written: TargetWrite[][] = [];
  readonly stateReads: string[][] = [];
  refuse = new Set<string>();
  fail = new Set<string>();

  async readState(keys: readonly string[]): Promise<Map<string, TargetState>> {
    this.stateReads.push([...keys]);
    return new Map(keys.flatMap((k) => (this.held.has(k) ? [[k, this.held.get(k) as TargetState]] : [])));
  }

  async write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]> {
    this.written.push([...writes]);
    return writes.map((w): WriteOutcome => {
      if (this.refuse.has(w.key))
        return {
          key: w.key,
          status: 'failed',
          error: new ValidationError('bad field', [{ path: 'data._v', message: 'reserved name' }]),
        };
      if (this.fail.has(w.key))
        return { key: w.key, status: 'failed', error: new TransientError('throttled') };
      const stored = this.held.get(w.key);
      if (stored && stored.version >= w.version) return { key: w.key, status: 'stale' };
      this.held.set(w.key, {
        version: w.version,
        hash: w.hash,
        deleted: w.op === 'delete',
        ...(w.data ? { data: w.data } : {}),
      });
      return { key: w.key, status: 'applied' };
    });
  }
}

/** Every S3 object, event and state call Load makes, recorded. */
function loadDeps(input: Partial<PipelineInput> = {}) {
  const pipeline = pipelineSchema.parse({
    name: PIPELINE,
    source: { type: 'webhook', key: ['id'] },
    triggers: { webhook: { signature: 'github', secret: 'webhook-secret' } },
    target: { type: 'dynamodb' },
    validation: [{ field: 'email', required: true, format: '^[^@\\s]+@[^@\\s]+$' }],
    ...input,
  } as PipelineInput);
  const target = new MemoryTarget();
  const objects: PutObjectCommand['input'][] = [];
  const deleted: string[] = [];
  const events: PutEventsCommand['input'][] = [];
  const completions: { messageKey: string; records: number; outcome: MessageOutcome }[] = [];
  const marks: { messageKey: string; records: number; keys: readonly string[] }[] = [];
  const abandoned = new Set<string>();
  const settled = (messageKey: string) =>
    abandoned.has(messageKey) || completions.some((c) => c.messageKey === messageKey);
  const parked = new Map<string, Omit<ConflictRecord, 'status' | 'resolution'>>();
  const clients = {
    s3: {
      send: async (c: PutObjectCommand | DeleteObjectCommand) =>
        c instanceof DeleteObjectCommand ? deleted.push(c.input.Key ?? '') : objects.push(c.input),
    },
    eventBridge: { send: async (c: PutEventsCommand) => events.push(c.input) },
  } as unknown as AwsClients;
  const state = {
    ledger: {
      complete: async (_scope: string, messageKey: string, records: number, outcome: MessageOutcome) => {
        if (settled(messageKey)) return false;
        completions.push({ messageKey, records, outcome });
        return true;
      },
      markLastReceive: async (
        _scope: string,
        messageKey: string,
        unit: { records: number; keys: string[] },
      ) => {
        if (settled(messageKey)) return false;
        marks.push({ messageKey, ...unit });
        return true;
      },
    },
    conflicts: {
      park: async (c: Omit<ConflictRecord, 'status' | 'resolution'>) => {
        const isNew = !parked.has(c.id);
        parked.set(c.id, c);
        return isNew;
      },
    },
  } as unknown as StateRepositories;
  const deps: Deps = createDeps({
    config: CONFIG,
    clients,
    state,
    catalog: new PipelineCatalog([pipeline]),
    createTarget: () => target as unknown as TargetConnector,
  });
  return { deps, target, objects, deleted, events, completions, marks, abandoned, parked };
}

function order(id: number, data: RecordData, at = id, initial?: boolean): RecordEnvelope {
  return makeEnvelope({
    key: String(id),
    op: 'upsert',
    version: positionVersion(at),
    ts: '2026-12-07T10:00:00.000Z',
    data: { id, ...data },
    provenance: { pipeline: PIPELINE, runId: 'r1', ...(initial ? { initial: true } : {}) },
  });
}

let messages = 0;
function message(records: RecordEnvelope[], receiveCount = 1) {
  const messageKey = `m${++messages}`;
  const body = JSON.stringify({
    kind: 'records',
    v: 1,
    pipeline: PIPELINE,
    messageKey,
    scope: 'RUN#r1',
    records,
  });
  return { messageKey, input: { messageId: `id-${messageKey}`, body, receiveCount } };
}

describe('loadMessage', () => {
  it('writes the newest record of each key once and counts the superseded one skipped', async () => {
    // Prepare
    const { deps, target, completions } = loadDeps();
    const m = message([
      order(1, { email: 'a@x' }, 1),
      order(1, { email: 'b@x' }, 2),
      order(2, { email: 'c@x' }),
    ]);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ loaded: 2, skipped: 1, quarantined: 0, firstCompletion: true });
    expect(target.written.flat().map((w) => [w.key, w.data?.email])).toEqual([
      ['1', 'b@x'],
      ['2', 'c@x'],
    ]);
    expect(completions).toEqual([
      { messageKey: m.messageKey, records: 3, outcome: expect.objectContaining({ loaded: 2, skipped: 1 }) },
    ]);
  });

  it('quarantines an invalid record under the message key and loads the others', async () => {
    // Prepare
    const { deps, target, objects } = loadDeps();
    const m = message([order(1, { email: 'not-an-email' }), order(2, { email: 'c@x' })]);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ loaded: 1, quarantined: 1, excludedKeys: ['1'] });
    expect([...target.held.keys()]).toEqual(['2']);
    expect(objects).toHaveLength(1);
    expect(objects[0]?.Key).toBe(`quarantine/${PIPELINE}/RUN%23r1/${m.messageKey}.json`);
    expect(JSON.parse(String(objects[0]?.Body)).entries[0].reasons[0]).toMatchObject({ field: 'email' });
  });

  it("quarantines a record the target refuses as invalid with the target's reason", async () => {
    // Prepare
    const { deps, target, objects } = loadDeps();
    target.refuse.add('1');
    const m = message([order(1, { email: 'a@x' }), order(2, { email: 'c@x' })]);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ loaded: 1, quarantined: 1, excludedKeys: ['1'] });
    const entries = JSON.parse(String(objects[0]?.Body)).entries;
    expect(entries[0].reasons).toEqual([{ field: 'data._v', rule: 'target', message: 'reserved name' }]);
  });

  it('throws a transient error for a write that failed and completes nothing, so SQS redelivers', async () => {
    // Prepare
    const { deps, target, completions } = loadDeps();
    target.fail.add('2');
    const m = message([order(1, { email: 'a@x' }), order(2, { email: 'c@x' })]);

    // Act
    const loading = loadMessage(deps, PIPELINE, m.input);

    // Assess
    await expect(loading).rejects.toThrow(TransientError);
    await expect(loading).rejects.toThrow('1 of 2 writes failed');
    expect(completions).toEqual([]);
  });

  it('marks every record of a message that fails on its last receive dead-lettered, then throws', async () => {
    // Prepare
    const { deps, target, completions, marks } = loadDeps({
      dlq: { maxReceiveCount: 3 },
    } as Partial<PipelineInput>);
    target.fail.add('2');
    const m = message([order(1, { email: 'a@x' }), order(2, { email: 'c@x' })], 3);

    // Act
    const loading = loadMessage(deps, PIPELINE, m.input);

    // Assess
    await expect(loading).rejects.toThrow(TransientError);
    expect(marks).toEqual([{ messageKey: m.messageKey, records: 2, keys: ['1', '2'] }]);
    expect(completions).toEqual([]);
  });

  it('drops a delivery that fails on its last receive when an earlier delivery completed the message', async () => {
    // Prepare
    const { deps, target, completions, marks } = loadDeps({
      dlq: { maxReceiveCount: 3 },
    } as Partial<PipelineInput>);
    const m = message([order(1, { email: 'a@x' }), order(2, { email: 'c@x' })], 3);
    await loadMessage(deps, PIPELINE, { ...m.input, receiveCount: 1 });
    target.fail.add('2');
    target.held.clear();

    // Act
    const again = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(again).toMatchObject({ firstCompletion: false, loaded: 0, deadLettered: 0 });
    expect(marks).toEqual([]);
    expect(completions.map((c) => c.outcome)).toEqual([expect.objectContaining({ loaded: 2 })]);
  });

  it('keeps the quarantine object of a message a resuming run abandoned, and counts nothing', async () => {
    // Prepare
    const { deps, objects, deleted, completions, abandoned } = loadDeps();
    const m = message([order(1, { email: 'not-an-email' }), order(2, { email: 'c@x' })]);
    abandoned.add(m.messageKey);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ firstCompletion: false, quarantined: 1 });
    expect(objects).toHaveLength(1);
    expect(deleted).toEqual([]);
    expect(completions).toEqual([]);
  });

  it('drops an abandoned message that fails on its last receive instead of dead-lettering it', async () => {
    // Prepare: the resuming run that abandoned it reads its rows again.
    const { deps, target, marks, completions, abandoned } = loadDeps({
      dlq: { maxReceiveCount: 3 },
    } as Partial<PipelineInput>);
    target.fail.add('2');
    const m = message([order(1, { email: 'a@x' }), order(2, { email: 'c@x' })], 3);
    abandoned.add(m.messageKey);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ firstCompletion: false, records: 0, deadLettered: 0 });
    expect(marks).toEqual([]);
    expect(completions).toEqual([]);
  });

  it('skips a record whose stored version is newer and counts it skipped', async () => {
    // Prepare
    const { deps, target } = loadDeps();
    target.held.set('1', { version: positionVersion(9), hash: 'h', deleted: false });
    const m = message([order(1, { email: 'a@x' }, 5)]);

    // Act
    const result = await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(result).toMatchObject({ loaded: 0, skipped: 1 });
    expect(target.written).toEqual([]);
  });

  it('reads no state for a first full load and writes each key as expected absent', async () => {
    // Prepare
    const { deps, target } = loadDeps();
    const m = message([order(1, { email: 'a@x' }, 1, true), order(2, { email: 'c@x' }, 2, true)]);

    // Act
    await loadMessage(deps, PIPELINE, m.input);

    // Assess
    expect(target.stateReads).toEqual([]);
    expect(target.written.flat().map((w) => w.stored)).toEqual(['absent', 'absent']);
  });

  it('parks a conflict with a target changed elsewhere and announces it on the bus once', async () => {
    // Prepare
    const { deps, target, events, parked } = loadDeps({
      conflict: { strategy: 'manual' },
    } as Partial<PipelineInput>);
    target.held.set('1', {
      version: positionVersion(1),
      hash: 'hash-of-our-last-write',
      deleted: false,
      data: { id: 1, email: 'edited@x' },
    });
    const records = [order(1, { email: 'a@x' }, 2)];

    // Act
    const first = await loadMessage(deps, PIPELINE, message(records).input);
    const again = await loadMessage(deps, PIPELINE, message(records).input);

    // Assess
    expect(first).toMatchObject({ loaded: 0, conflicts: 1, excludedKeys: ['1'] });
    expect(again).toMatchObject({ conflicts: 1 });
    expect(target.written).toEqual([]);
    expect([...parked.values()][0]?.target).toEqual({
      version: positionVersion(1),
      data: { id: 1, email: 'edited@x' },
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.Entries?.[0]).toMatchObject({
      EventBusName: 'bus',
      DetailType: 'esync.conflict.parked',
    });
    expect(JSON.parse(String(events[0]?.Entries?.[0]?.Detail))).toEqual({
      pipeline: PIPELINE,
      conflictId: [...parked.keys()][0],
      key: '1',
      fields: ['email'],
    });
  });

  it('quarantines a message that is not JSON as poison and completes it once', async () => {
    // Prepare
    const { deps, objects, completions } = loadDeps();

    // Act
    const result = await loadMessage(deps, PIPELINE, { messageId: 'x', body: '{not json', receiveCount: 1 });

    // Assess
    expect(result).toMatchObject({ poison: true, quarantined: 1, records: 1 });
    expect(objects[0]?.Key).toMatch(new RegExp(`^quarantine/${PIPELINE}/.+/poison-[\\w-]+\\.json$`));
    expect(completions[0]?.outcome).toMatchObject({ quarantined: 1 });
  });
});

import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { loadStackTemplate } from '../../local/template.ts';
import { type AwsClients, createAwsClients, decorateClients } from '../../shared/aws/clients.ts';
import { SecretsManagerProvider, type SecretsProvider } from '../../shared/aws/secrets.ts';
import { SOURCE_CONNECTORS } from '../../shared/connectors/sources/registry.ts';
import { META } from '../../shared/connectors/targets/dynamodb/dynamodb-target.ts';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import type { Cursor } from '../../shared/connectors/types.ts';
import { compareCursors } from '../../shared/domain/cursor.ts';
import { createTransform } from '../../shared/domain/transform.ts';
import { createValidator } from '../../shared/domain/validation.ts';
import { ownedTargetTableName, stateTableName } from '../../shared/naming.ts';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';
import { buildKey, type RecordData } from '../../shared/records/envelope.ts';
import { contentHash } from '../../shared/records/hash.ts';
import { keys } from '../../shared/state/keys.ts';
import { createDeps, currentDeps, type Deps } from '../../shared/usecases/deps.ts';
import { maskKey } from '../../shared/usecases/load-runtime.ts';
import { deliveryOrder, expectedInventory, inventoryHistory, putChanges } from './chaos-cdc.ts';
import {
  type ChaosRates,
  DEFAULT_RATES,
  deriveRandom,
  FaultCounter,
  type FaultKind,
} from './chaos-faults.ts';
import {
  type AppliedCheck,
  type CheckpointCheck,
  type CounterCheck,
  checkAppliedWrites,
  checkCheckpoint,
  checkCounters,
  compareTarget,
  type ExpectedRecord,
  type QuarantineObject,
  type RejectCheck,
  reconcileRejects,
  type ScopeTotals,
  type SourceRowState,
  type TargetComparison,
  type TargetRecord,
} from './chaos-invariants.ts';
import { startDroppingProxy } from './chaos-proxy.ts';
import { ChaosRecorder } from './chaos-recorder.ts';
import { mutateUsers, seedUsers, startChaosDatabase } from './chaos-source.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const STAGE = 'dev';
const USERS = 'chaos-users';
const INVENTORY = 'chaos-inventory';
const USERS_SECRET = 'esync/chaos/users-db';
/** The SDK's attempts per call (createAwsClients) times the pipelines' retry.maxAttempts. */
const BURST_ATTEMPTS = 3 * 3;

export interface ChaosOptions {
  /** Source rows of the batch pipeline. */
  readonly records: number;
  readonly seed: number;
  readonly rates?: Partial<ChaosRates>;
  /** @default 'auto' - PostgreSQL when installed, else PGlite */
  readonly database?: 'auto' | 'postgresql' | 'pglite';
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Longest wait for one run. @default 20 minutes */
  readonly timeoutMs?: number;
  /**
   * Longest wait for the queues to drain once the runs are over; a message still pending then
   * is reported (counters, lost records), not waited for. @default 2 minutes
   */
  readonly drainTimeoutMs?: number;
  /** Both pipelines' `target.batchInserts`. @default - the schema's default (true) */
  readonly batchInserts?: boolean;
}

export interface ChaosRun {
  readonly what: string;
  readonly runId: string;
  readonly status: string;
  readonly extracted: number;
  readonly loaded: number;
  readonly skipped: number;
  readonly conflicts: number;
  readonly quarantined: number;
  readonly deadLettered: number;
  readonly durationMs: number;
}

export interface ChaosInvariant {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Figures and verdicts of one chaos run; `lost`… `unaccountedRejects` are the headline counts. */
export interface ChaosReport {
  readonly records: number;
  readonly seed: number;
  readonly database: string;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly lost: number;
  readonly appliedTwice: number;
  readonly versionRegressions: number;
  readonly unaccountedRejects: number;
  readonly contentMismatches: number;
  readonly checkpointViolations: number;
  readonly counterMismatches: number;
  readonly faults: Record<FaultKind, number>;
  readonly figures: Readonly<Record<string, number>>;
  readonly runs: readonly ChaosRun[];
  readonly invariants: readonly ChaosInvariant[];
}

/** The batch pipeline under test: users-sync's rules, transform and conflict strategy. */
export function chaosPipelines(options: { batchInserts?: boolean } = {}): Pipeline[] {
  const target = {
    type: 'dynamodb',
    ...(options.batchInserts !== undefined && { batchInserts: options.batchInserts }),
  };
  const tuning = {
    retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 1000 },
    load: { maxConcurrency: 5, batchSize: 2, batchingWindowSeconds: 1, timeoutSeconds: 60 },
  };
  return [
    pipelineSchema.parse({
      name: USERS,
      description: 'Chaos suite: users from PostgreSQL into DynamoDB, like users-sync.',
      source: {
        type: 'postgres',
        connection: { secret: USERS_SECRET, ssl: 'disable' },
        table: 'users',
        key: ['id'],
        cursor: ['updated_at'],
        lookbackSeconds: 60,
        deletes: { mode: 'soft', column: 'deleted', value: true },
        // Small pages let even a small table fill every partition (a partition takes a page at least).
        pageSize: 200,
      },
      target,
      conflict: { strategy: 'latest-timestamp', timestampField: 'updated_at' },
      validation: [
        { field: 'email', required: true, format: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$' },
        { field: 'age', type: 'integer', range: { min: 0, max: 150 } },
        { field: 'status', enum: ['active', 'disabled', 'pending'] },
      ],
      transform: { mask: { phone: 'hash' }, drop: ['internal_notes'] },
      // More partitions than the Map runs at once: a run killed early leaves some never started.
      extract: { partitions: 16 },
      ...tuning,
    }),
    pipelineSchema.parse({
      name: INVENTORY,
      description: 'Chaos suite: Debezium changes into DynamoDB, like inventory-cdc.',
      source: { type: 'cdc', format: 'debezium', key: ['sku'] },
      triggers: { cdc: { pattern: { source: ['esync.chaos'], 'detail-type': ['inventory.change'] } } },
      target,
      conflict: {
        strategy: 'field-merge',
        timestampField: 'updated_at',
        fields: { quantity: 'source', price: 'latest', location: 'manual' },
      },
      ...tuning,
    }),
  ];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The undecodable bodies put on a load queue, each different so each is its own poison message. */
function poisonBodies(pipeline: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    switch (i % 5) {
      case 0:
        return `not json at all #${i}`;
      case 1:
        return `{"kind":"records","v":1,"pipeline":"${pipeline}","records":[{"truncated":${i}`;
      case 2:
        return JSON.stringify({ unexpected: 'shape', n: i });
      case 3:
        return JSON.stringify({
          kind: 'records',
          v: 1,
          pipeline,
          messageKey: `poison-${i}`,
          scope: 'RUN#nobody',
          records: [{ key: i }],
        });
      default:
        return JSON.stringify({
          kind: 'records',
          v: 1,
          pipeline: 'some-other-pipeline',
          messageKey: `stray-${i}`,
          scope: 'RUN#elsewhere',
          records: [],
        });
    }
  });
}

/** Runs the whole chaos scenario and checks the invariants; never throws for a failed invariant. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const rates: ChaosRates = { ...DEFAULT_RATES, ...options.rates };
  const timeoutMs = options.timeoutMs ?? 20 * 60_000;
  const faults = new FaultCounter();
  const seed = options.seed;
  const pipelines = chaosPipelines(
    options.batchInserts === undefined ? {} : { batchInserts: options.batchInserts },
  );
  const [users, inventory] = pipelines as [Pipeline, Pipeline];
  const usersTable = ownedTargetTableName(STAGE, USERS);
  const inventoryTable = ownedTargetTableName(STAGE, INVENTORY);

  const db = await startChaosDatabase(options.database);
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => db.stop()];
  try {
    log(`source: ${db.engine}; seeding ${options.records} users`);
    const base = new Date(Date.now() - 40 * 86_400_000);
    const seeded = await seedUsers(db, options.records, {
      poisonRate: rates.poisonRecords,
      random: deriveRandom(seed, 'seed'),
      base,
    });
    faults.add('poisonRecord', seeded.poisoned);
    const model = seeded.model;

    const proxy = await startDroppingProxy({
      targetPort: db.port,
      dropRate: rates.sourceConnectionDrop,
      random: deriveRandom(seed, 'proxy'),
      faults,
    });
    cleanups.push(() => proxy.close());

    const validIds = [...model].filter(([, s]) => !s.invalid).map(([id]) => id);
    const burstUsers = new Set<string>();
    for (let i = 0; i < rates.throttleBurstKeys && validIds.length > 0; i++)
      burstUsers.add(String(validIds[Math.floor(((i + 0.5) * validIds.length) / rates.throttleBurstKeys)]));

    let onSendBatch: (queueUrl: string, entries: number) => void = () => {};
    const recorder = new ChaosRecorder({
      targets: new Map([
        [usersTable, 'pk'],
        [inventoryTable, 'pk'],
      ]),
      checkpointWatch: usersTable,
      stateTable: stateTableName(STAGE),
      faults,
      random: deriveRandom(seed, 'aws'),
      throttleRate: rates.targetThrottle,
      burstKeys: new Map([[usersTable, burstUsers]]),
      burstAttempts: BURST_ATTEMPTS,
      slowDownRate: rates.s3SlowDown,
      killRate: rates.loadKill,
      stateFaultRate: rates.stateFault,
      sqsFaultRate: rates.sqsFault,
      sqsVisibilityFaultRate: rates.sqsVisibilityFault,
      onSendBatch: (url, n) => onSendBatch(url, n),
    });

    log('template and local stack');
    const template = await loadStackTemplate({
      rootDir: ROOT,
      stage: STAGE,
      pipelines,
      pipelinesDir: path.join(ROOT, 'pipelines'),
      cdkOut: false,
    });
    const stack = await startLocalStack({
      template: template.template,
      pipelines,
      stage: STAGE,
      secrets: { [USERS_SECRET]: db.secretValue(proxy.port) },
      schedules: false,
      writeDevFile: false,
      waitOverrideMs: 500,
      retryIntervalOverrideMs: 500,
      log: (line) => {
        if (/^error/.test(line)) log(line);
      },
      eventSourceFaults: {
        duplicateDelivery: rates.duplicateDelivery,
        crashBeforeDelete: rates.crashBeforeDelete,
        redeliverAfterSeconds: 1,
        random: deriveRandom(seed, 'sqs'),
        onFault: (fault) => faults.add(fault.kind, fault.messageIds.length),
      },
    });
    cleanups.push(() => stack.stop());

    // Built before the decorator is installed: the harness's own requests are neither faulted nor recorded.
    const clients = createAwsClients();
    cleanups.push(decorateClients(recorder.decorate));
    // The event source mappings share one client, built with the stack: their deletes and
    // visibility changes meet the SQS faults too.
    const mappings = new Set([...stack.eventSources.values()].map((source) => source.client));
    for (const client of mappings) recorder.decorate(client, 'sqs');
    // The harness reads the source directly, past the connection-dropping proxy.
    const stackSecrets = new SecretsManagerProvider(clients.secretsManager);
    const directSecrets: SecretsProvider = {
      getString: (name) =>
        name === USERS_SECRET
          ? Promise.resolve(JSON.stringify(db.secretValue()))
          : stackSecrets.getString(name),
      getJson: (name) =>
        name === USERS_SECRET ? Promise.resolve(db.secretValue()) : stackSecrets.getJson(name),
    };
    const deps = await currentDeps(
      createDeps(
        { clients, secrets: directSecrets },
        { sources: SOURCE_CONNECTORS, targets: TARGET_CONNECTORS },
      ),
    );
    const resourcesOf = (name: string) => {
      const found = stack.resources.find((r) => r.name === name);
      if (!found?.stateMachineArn || !found.loadQueueUrl || !found.deadLetterQueueUrl)
        throw new Error(`the local stack has no state machine or queues for ${name}`);
      return {
        stateMachineArn: found.stateMachineArn,
        loadQueueUrl: found.loadQueueUrl,
        deadLetterQueueUrl: found.deadLetterQueueUrl,
      };
    };
    const usersResources = resourcesOf(USERS);
    const inventoryResources = resourcesOf(INVENTORY);

    const runs: { what: string; runId: string; status: string; startedMs: number; endedMs: number }[] = [];
    let runCounter = 0;
    const startRun = async (what: string) => {
      const runId = `${USERS}-chaos-${seed}-${++runCounter}-${Date.now().toString(36)}`;
      const out = await clients.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: usersResources.stateMachineArn,
          name: runId,
          input: JSON.stringify({ trigger: 'manual' }),
        }),
      );
      const run = { what, runId, status: 'RUNNING', startedMs: Date.now(), endedMs: 0 };
      runs.push(run);
      return { run, executionArn: out.executionArn ?? '' };
    };
    const waitRun = async (started: Awaited<ReturnType<typeof startRun>>) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const out = await clients.sfn.send(
          new DescribeExecutionCommand({ executionArn: started.executionArn }),
        );
        if (out.status !== 'RUNNING') {
          started.run.status = out.status ?? 'UNKNOWN';
          started.run.endedMs = Date.now();
          if (out.status === 'FAILED')
            log(`run ${started.run.runId} failed: ${out.error} ${out.cause ?? ''}`);
          const record = await deps.state.runs.find(started.run.runId);
          const phases = Object.entries(record?.phases ?? {}).map(
            ([name, p]) =>
              `${name} ${p?.endedAt ? ((Date.parse(p.endedAt) - Date.parse(p.startedAt)) / 1000).toFixed(1) : '-'} s`,
          );
          const failure = record?.failure
            ? ` (${record.failure.error}: ${record.failure.cause.slice(0, 300)})`
            : '';
          log(`${started.run.what}: ${out.status}${failure}; ${phases.join(', ')}`);
          return out.status;
        }
        if (Date.now() > deadline)
          throw new Error(`run ${started.run.runId} did not end within ${timeoutMs} ms`);
        await sleep(250);
      }
    };

    // Run A: killed while Extract is sending, once a quarter of its messages are out.
    const expectedMessages = Math.ceil(options.records / users.batch.size);
    const killAfter = Math.max(1, Math.floor(expectedMessages / 4));
    log(`run A: full load, killed after ${killAfter} of ~${expectedMessages} messages`);
    const runA = await startRun('full load, killed mid-Execute');
    let sent = 0;
    let stopping: Promise<unknown> | undefined;
    onSendBatch = (url, n) => {
      if (url !== usersResources.loadQueueUrl || stopping) return;
      sent += n;
      if (sent < killAfter) return;
      // Sent from inside Extract's call: as the operator, not as Extract (whose role may not stop runs).
      stopping = stack.iam
        .asOperator(() =>
          clients.sfn.send(
            new StopExecutionCommand({ executionArn: runA.executionArn, cause: 'chaos: killed mid-Execute' }),
          ),
        )
        .catch((error: unknown) => log(`StopExecution failed: ${(error as Error).message}`));
      recorder.stopRun(runA.run.runId, stopping);
    };
    const statusA = await waitRun(runA);
    onSendBatch = () => {};
    if (statusA === 'ABORTED') faults.add('runKilled');

    log('source changes: updates, soft deletes, inserts');
    const mutation = deriveRandom(seed, 'mutations');
    const changes = Math.max(5, Math.round(options.records / 100));
    const round1 = await mutateUsers(db, model, {
      updates: changes,
      deletes: Math.ceil(changes / 5),
      inserts: changes,
      fixes: 0,
      poisonRate: rates.poisonRecords * 5,
      random: mutation,
      at: new Date(),
    });
    faults.add('poisonRecord', round1.poisoned);

    // Run B: the rerun, with poison messages and the CDC stream arriving meanwhile.
    log('run B: rerun after the kill; poison messages and shuffled CDC events meanwhile');
    const runB = await startRun('rerun after the kill');
    const usersPoison = poisonBodies(USERS, Math.ceil(rates.poisonMessages / 2));
    const inventoryPoison = poisonBodies(INVENTORY, Math.floor(rates.poisonMessages / 2)).map((b) => `${b} `);
    for (const [queueUrl, bodies] of [
      [usersResources.loadQueueUrl, usersPoison],
      [inventoryResources.loadQueueUrl, inventoryPoison],
    ] as const)
      for (let i = 0; i < bodies.length; i += 10)
        await clients.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
          }),
        );
    faults.add('poisonMessage', usersPoison.length + inventoryPoison.length);
    const skus = Math.min(2000, Math.max(50, Math.round(options.records / 50)));
    const history = inventoryHistory(skus, deriveRandom(seed, 'cdc-history'));
    const delivery = deliveryOrder(history, rates.cdcDuplicate, deriveRandom(seed, 'cdc-order'));
    await putChanges(clients.eventBridge, stack.env.ESYNC_EVENT_BUS ?? '', delivery, faults);
    const statusB = await waitRun(runB);
    const afterB = await readSource(deps, users);
    const checkpointB = recorder.checkpoints.find((c) => c.setBy === runB.run.runId);

    log('source changes: updates, deletes, inserts, invalid rows corrected');
    const round2 = await mutateUsers(db, model, {
      updates: changes,
      deletes: Math.ceil(changes / 5),
      inserts: changes,
      fixes: Math.max(1, Math.ceil(seeded.poisoned / 4)),
      poisonRate: rates.poisonRecords * 5,
      random: mutation,
      at: new Date(),
    });
    faults.add('poisonRecord', round2.poisoned);
    log('run C: incremental');
    const runC = await startRun('incremental');
    const statusC = await waitRun(runC);
    const afterC = await readSource(deps, users);
    const checkpointC = recorder.checkpoints.find((c) => c.setBy === runC.run.runId);

    log('waiting for every queue to drain');
    const dayScopes = (pipeline: string) => {
      const days = new Set<string>();
      for (let t = started - 86_400_000; t <= Date.now() + 86_400_000; t += 3_600_000)
        days.add(new Date(t).toISOString().slice(0, 10));
      return [...days].map((day) => keys.ledgerScopeOfStream(pipeline, day));
    };
    const scopes = [
      ...runs.map((r) => keys.ledgerScopeOfRun(r.runId)),
      ...dayScopes(USERS),
      ...dayScopes(INVENTORY),
    ];
    const totals = await drain(stack, deps, scopes, options.drainTimeoutMs ?? 120_000, log);
    const totalsByScope = new Map(totals.map((t) => [t.scope, t]));

    log('checking the invariants');
    const transform = createTransform(users.transform, { hashKey: await maskKey(deps, users) });
    const expectedUsers = new Map<string, ExpectedRecord>();
    for (const row of afterC.rows)
      if (row.deleted) expectedUsers.set(row.key, { version: row.version, hash: null });
      else if (row.valid)
        expectedUsers.set(row.key, { version: row.version, hash: contentHash(transform(row.data)) });
    const counters = checkCounters(totals);
    /** The rows of `rows` inside the window of run `runId`. */
    const rowsInWindow = async (runId: string, rows: readonly SourceRowState[]) => {
      const run = await deps.state.runs.get(runId);
      const from = (run.window?.from ?? null) as Cursor | null;
      const to = (run.window?.to ?? null) as Cursor | null;
      return rows.filter(
        (r) =>
          (from === null || compareCursors(r.cursor as Cursor, from) > 0) &&
          (to === null || compareCursors(r.cursor as Cursor, to) <= 0),
      );
    };
    const dlq = await drainDeadLetters(clients, [usersResources, inventoryResources]);
    const dlqRecordsAlreadyLoaded = await recordsAlreadyLoaded(deps, dlq.bodies, dayScopes(INVENTORY));
    // A message dead-lettered on its last allowed receive is counted so in its run, which then
    // verifies without its keys and moves the checkpoint: a DLQ, not the target, holds those
    // records (seed 20261122: a throttled key's message, its other records written). Nothing is
    // lost if the operator's redrive lands them, so the target is compared after one.
    await sendBack(clients, dlq.moved);
    const redriven = await drain(stack, deps, scopes, options.drainTimeoutMs ?? 120_000, log);
    // The quarantine is compared with the ledger after the redrive too: a Load killed on a
    // message's last receive after it wrote the message's quarantine object, but before it
    // completed the message, leaves the records counted dead-lettered and the object in place;
    // the redriven message completes with its quarantined count and rewrites the same object.
    const quarantine = await markSuperseded(deps, await readQuarantine(clients, deps.config.dataBucket));
    const ledgerQuarantined = new Map<string, number>();
    for (const t of redriven) ledgerQuarantined.set(t.scope, t.quarantined);
    for (const object of quarantine)
      if (!ledgerQuarantined.has(object.scope)) {
        const more = await ledgerTotals(deps, object.scope);
        ledgerQuarantined.set(object.scope, more.quarantined);
      }
    const usersCompared = compareTarget(expectedUsers, await scanTarget(clients, usersTable));
    const inventoryCompared = compareTarget(
      expectedInventory(inventory, history, await maskKey(deps, inventory)),
      await scanTarget(clients, inventoryTable),
    );
    const applied = checkAppliedWrites(recorder.applied);
    const checkpoints: CheckpointCheck[] = [];
    const compare = (a: unknown, b: unknown) => compareCursors(a as Cursor, b as Cursor);
    for (const [rows, checkpoint] of [
      [afterB.states, checkpointB],
      [afterC.states, checkpointC],
    ] as const)
      if (checkpoint) checkpoints.push(checkCheckpoint(rows, checkpoint, compare, dlq.recordVersions));
    // Run B resumes the killed run's plan, so its window ends where run A's did: the invalid rows
    // B had to read are those of that window; C reads the rows changed since.
    const invalidOfB = (await rowsInWindow(runB.run.runId, afterB.states))
      .filter((r) => !r.valid)
      .map((r) => `${r.key}@${r.version}`);
    const invalidRecords = new Set([...invalidOfB, ...afterC.invalid]);
    const rejects = reconcileRejects({
      quarantine,
      ledgerQuarantined,
      invalidRecords,
      poisonBodies: [...usersPoison, ...inventoryPoison],
      dlqRecords: dlq.records,
      dlqRecordsAlreadyLoaded,
      ledgerDeadLettered: totals.reduce((sum, t) => sum + t.deadLettered, 0),
    });
    const inventoryMessages = dayScopes(INVENTORY).reduce(
      (sum, s) => sum + (totalsByScope.get(s)?.messages ?? 0),
      0,
    );
    const runRecords: ChaosRun[] = runs.map((r) => {
      const t = totalsByScope.get(keys.ledgerScopeOfRun(r.runId));
      return {
        what: r.what,
        runId: r.runId,
        status: r.status,
        extracted: t?.extracted ?? 0,
        loaded: t?.loaded ?? 0,
        skipped: t?.skipped ?? 0,
        conflicts: t?.conflicts ?? 0,
        quarantined: t?.quarantined ?? 0,
        deadLettered: t?.deadLettered ?? 0,
        durationMs: r.endedMs - r.startedMs,
      };
    });
    for (const [what, pipeline] of [
      ['CDC stream, shuffled and duplicated', INVENTORY],
      ['poison messages on the users queue', USERS],
    ] as const) {
      const streams = dayScopes(pipeline).flatMap((scope) => {
        const t = totalsByScope.get(scope);
        return t && t.messages > 0 ? [t] : [];
      });
      const sum = (pick: (t: ScopeTotals) => number) => streams.reduce((total, t) => total + pick(t), 0);
      runRecords.push({
        what,
        runId: streams.map((t) => t.scope).join(' '),
        status: 'stream',
        extracted: sum((t) => t.extracted),
        loaded: sum((t) => t.loaded),
        skipped: sum((t) => t.skipped),
        conflicts: sum((t) => t.conflicts),
        quarantined: sum((t) => t.quarantined),
        deadLettered: sum((t) => t.deadLettered),
        durationMs: 0,
      });
    }
    // Nobody else writes the targets in this scenario: any parked conflict is ESync mistaking its own write.
    const parked = [
      ...(await deps.state.conflicts.list({ pipeline: USERS, limit: 100 })).conflicts,
      ...(await deps.state.conflicts.list({ pipeline: INVENTORY, limit: 100 })).conflicts,
    ];
    const windowRows = async (runId: string, rows: readonly SourceRowState[]) =>
      (await rowsInWindow(runId, rows)).length;
    const extractedA = runRecords[0]?.extracted ?? 0;
    const extractedB = runRecords[1]?.extracted ?? 0;
    const extractedC = runRecords[2]?.extracted ?? 0;
    const windowB = await windowRows(runB.run.runId, afterB.states);
    const windowC = await windowRows(runC.run.runId, afterC.states);
    // Run B resumes run A's plan: the plan's partitions recorded every row of its window as sent
    // (and rows A sent that changed before B, which left the window), B itself read only what A
    // had not sent.
    const planB = (await deps.state.runs.get(runB.run.runId)).planId ?? runB.run.runId;
    const recordedB = (await deps.state.progress.listPartitions(USERS, planB)).reduce(
      (n, p) => n + p.extracted,
      0,
    );

    const invariants = buildInvariants({
      usersCompared,
      inventoryCompared,
      applied,
      checkpoints,
      counters,
      rejects,
      statuses: { A: statusA, B: statusB, C: statusC },
      checkpointFromA: recorder.checkpoints.some((c) => c.setBy === runA.run.runId),
      cdc: { put: delivery.order.length + inventoryPoison.length, reached: inventoryMessages },
      windows: { extractedA, extractedB, recordedB, windowB, extractedC, windowC },
      parked: parked.map(
        (c) =>
          `${c.pipeline} ${c.key}: source ${c.source.version} vs target ${c.target.version} on ${c.fields.join(',') || 'the record'}`,
      ),
    });
    const stats = [...stack.eventSources.values()].map((s) => s.stats);
    const lost = usersCompared.lost + inventoryCompared.lost;
    return {
      records: options.records,
      seed,
      database: db.engine,
      durationMs: Date.now() - started,
      ok: invariants.every((i) => i.ok),
      lost,
      appliedTwice: applied.appliedTwice,
      versionRegressions: applied.versionRegressions,
      unaccountedRejects: rejects.unaccounted,
      contentMismatches:
        usersCompared.contentMismatches +
        usersCompared.versionMismatches +
        usersCompared.notDeleted +
        usersCompared.unexpected +
        inventoryCompared.contentMismatches +
        inventoryCompared.versionMismatches +
        inventoryCompared.notDeleted +
        inventoryCompared.unexpected,
      checkpointViolations: checkpoints.reduce((sum, c) => sum + c.violations, 0),
      counterMismatches: counters.mismatches,
      faults: faults.toJSON(),
      figures: {
        sourceRows: afterC.rows.length,
        validLiveRows: [...expectedUsers.values()].filter((e) => e.hash !== null).length,
        cdcEvents: delivery.order.length,
        cdcKeys: skus,
        appliedWrites: applied.applied,
        quarantinedEntries: rejects.quarantinedEntries,
        invalidRecords: invalidRecords.size,
        dlqRecords: dlq.records,
        dlqRecordsAlreadyLoaded,
        messagesReceived: stats.reduce((sum, s) => sum + s.received, 0),
        invocations: stats.reduce((sum, s) => sum + s.invocations, 0),
        failedMessages: stats.reduce((sum, s) => sum + s.itemFailures, 0),
        failedInvocations: stats.reduce((sum, s) => sum + s.failedInvocations, 0),
        checkpointedRows: checkpoints.reduce((sum, c) => sum + c.checked, 0),
        // Messages a run registered done unsent on the last verified run's word (unchanged-messages.ts).
        messagesLeftUnsent: totals.reduce((sum, t) => sum + t.unsentMessages, 0),
        conflictsParked: parked.length,
        stepsRefusedAfterKill: recorder.refusedAfterStop,
      },
      runs: runRecords,
      invariants,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`cleanup failed: ${(error as Error).message}`);
      }
    }
  }
}

interface InvariantInputs {
  readonly usersCompared: TargetComparison;
  readonly inventoryCompared: TargetComparison;
  readonly applied: AppliedCheck;
  readonly checkpoints: readonly CheckpointCheck[];
  readonly counters: CounterCheck;
  readonly rejects: RejectCheck;
  readonly statuses: Readonly<Record<'A' | 'B' | 'C', string | undefined>>;
  readonly checkpointFromA: boolean;
  readonly cdc: { readonly put: number; readonly reached: number };
  readonly windows: {
    /** Records the killed run's ledger counts (its abandoned messages left out). */
    readonly extractedA: number;
    readonly extractedB: number;
    /** Rows the partitions of B's plan recorded as sent, over the runs that extracted them. */
    readonly recordedB: number;
    readonly windowB: number;
    readonly extractedC: number;
    readonly windowC: number;
  };
  /** Conflicts parked although nobody else wrote the targets. */
  readonly parked: readonly string[];
}

function describeComparison(c: TargetComparison): string {
  const figures = `${c.expected} keys: ${c.lost} lost, ${c.contentMismatches} content, ${c.versionMismatches} version, ${c.notDeleted} not deleted, ${c.unexpected} unexpected`;
  return c.samples.length > 0 ? `${figures} (${c.samples.join('; ')})` : figures;
}

const MAX_DETAIL_SAMPLES = 5;

const withSamples = (text: string, samples: readonly string[]) =>
  samples.length > 0 ? `${text} (${samples.join('; ')})` : text;

function buildInvariants(i: InvariantInputs): ChaosInvariant[] {
  const clean = (c: TargetComparison) =>
    c.lost + c.contentMismatches + c.versionMismatches + c.notDeleted + c.unexpected === 0;
  const checkpointViolations = i.checkpoints.reduce((sum, c) => sum + c.violations, 0);
  return [
    {
      name: 'users target == source',
      ok: clean(i.usersCompared),
      detail: describeComparison(i.usersCompared),
    },
    {
      name: 'CDC target == newest change per key',
      ok: clean(i.inventoryCompared),
      detail: describeComparison(i.inventoryCompared),
    },
    {
      name: '0 lost',
      ok: i.usersCompared.lost + i.inventoryCompared.lost === 0,
      detail: `${i.usersCompared.lost + i.inventoryCompared.lost} lost`,
    },
    {
      name: '0 applied twice',
      ok: i.applied.appliedTwice === 0,
      detail: withSamples(
        `${i.applied.appliedTwice} of ${i.applied.applied} applied writes`,
        i.applied.samples,
      ),
    },
    {
      name: 'every applied write seen with the version it replaced',
      ok: i.applied.unobserved === 0,
      detail: `${i.applied.applied - i.applied.unobserved} of ${i.applied.applied} writes`,
    },
    {
      name: 'per-key versions never go backwards',
      ok: i.applied.versionRegressions === 0,
      detail: `${i.applied.versionRegressions} regressions`,
    },
    {
      name: 'every reject in the quarantine or DLQ, with its reason',
      ok: i.rejects.unaccounted === 0,
      detail: withSamples(
        `${i.rejects.quarantinedEntries} quarantined; missing ${i.rejects.invalidRecordsMissing} invalid records, ${i.rejects.poisonMessagesMissing} poison messages; ${i.rejects.entriesWithoutReason} without reason; ledger off by ${i.rejects.ledgerDifference}; DLQ off by ${i.rejects.dlqDifference}`,
        i.rejects.samples,
      ),
    },
    {
      name: 'checkpoint never passed an unloaded record',
      ok: i.checkpoints.length === 2 && checkpointViolations === 0 && !i.checkpointFromA,
      detail: withSamples(
        `${i.checkpoints.length} checkpoints written by the finished runs, ${i.checkpointFromA ? 'one' : 'none'} by the killed run; ${checkpointViolations} of ${i.checkpoints.reduce((s, c) => s + c.checked, 0)} rows behind them unloaded, ${i.checkpoints.reduce((s, c) => s + c.deadLettered, 0)} held in a DLQ (loaded by the redrive)`,
        i.checkpoints.flatMap((c) => c.samples),
      ),
    },
    {
      name: 'counters add up (extracted == loaded+skipped+conflicts+quarantined+deadLettered)',
      ok: i.counters.mismatches === 0,
      detail: withSamples(
        `${i.counters.mismatches} of ${i.counters.scopes} ledger scopes off`,
        i.counters.samples,
      ),
    },
    {
      name: 'each run extracted exactly its window',
      ok:
        i.windows.recordedB >= i.windows.windowB &&
        i.windows.extractedB <= i.windows.windowB &&
        i.windows.extractedC === i.windows.windowC,
      detail: `rerun ${i.windows.extractedB} of ${i.windows.windowB} rows (its plan's partitions sent ${i.windows.recordedB} over the killed run and the rerun), incremental ${i.windows.extractedC} of ${i.windows.windowC}`,
    },
    {
      // An Extract of the killed run still running after the rerun planned must neither record
      // progress past messages the rerun abandoned nor leave rows both runs count.
      name: 'the killed run and the rerun counted each row their plan sent once',
      ok: i.windows.extractedA + i.windows.extractedB === i.windows.recordedB,
      detail: `killed run ${i.windows.extractedA} + rerun ${i.windows.extractedB} records counted, the plan's partitions sent ${i.windows.recordedB} rows`,
    },
    {
      name: 'no conflict parked (nobody else writes the targets)',
      ok: i.parked.length === 0,
      detail: withSamples(`${i.parked.length} parked`, i.parked.slice(0, MAX_DETAIL_SAMPLES)),
    },
    {
      name: 'every CDC event reached the ledger',
      ok: i.cdc.put === i.cdc.reached,
      detail: `${i.cdc.reached} of ${i.cdc.put} events (poison included)`,
    },
    {
      name: 'killed run aborted; reruns succeeded',
      ok: i.statuses.A === 'ABORTED' && i.statuses.B === 'SUCCEEDED' && i.statuses.C === 'SUCCEEDED',
      detail: `killed ${i.statuses.A}, rerun ${i.statuses.B}, incremental ${i.statuses.C}`,
    },
  ];
}

interface SourceSnapshot {
  readonly rows: {
    key: string;
    version: string;
    cursor: Cursor;
    deleted: boolean;
    valid: boolean;
    data: Record<string, unknown>;
  }[];
  readonly states: SourceRowState[];
  /** `key@version` of the rows failing validation. */
  readonly invalid: Set<string>;
}

/** The whole source table through the pipeline's own connector, so rows are shaped as the pipeline sees them. */
async function readSource(deps: Deps, pipeline: Pipeline): Promise<SourceSnapshot> {
  const source = deps.createSource(pipeline);
  const validate = createValidator(pipeline.validation);
  const rows: SourceSnapshot['rows'] = [];
  try {
    const window = { from: null, to: null };
    for (const partition of await source.planPartitions(window, 1))
      for await (const page of source.read(window, partition))
        for (const row of page)
          rows.push({
            key: buildKey(row.data, pipeline.source.key),
            version: row.version,
            cursor: row.cursor,
            deleted: row.deleted,
            valid: row.deleted || validate(row.data).length === 0,
            data: row.data,
          });
  } finally {
    await source.close();
  }
  return {
    rows,
    states: rows.map((r) => ({ key: r.key, version: r.version, cursor: r.cursor, valid: r.valid })),
    invalid: new Set(rows.filter((r) => !r.valid).map((r) => `${r.key}@${r.version}`)),
  };
}

/** Every item of a target table, with the hash of its data computed the way the target stores it. */
async function scanTarget(clients: AwsClients, table: string): Promise<Map<string, TargetRecord>> {
  const held = new Map<string, TargetRecord>();
  const metaNames = new Set<string>(Object.values(META));
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const data: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(item))
        if (!metaNames.has(name) && (name !== 'pk' || item[META.keyInData] === true)) data[name] = value;
      held.set(String(item.pk), {
        version: String(item[META.version] ?? ''),
        hash: contentHash(data as RecordData),
        storedHash: String(item[META.hash] ?? ''),
        deleted: item[META.deleted] === true,
      });
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return held;
}

async function ledgerTotals(
  deps: Deps,
  scope: string,
): Promise<ScopeTotals & { messages: number; unsentMessages: number }> {
  const t = await deps.state.ledger.totals(scope);
  return {
    scope,
    extracted: t.extracted,
    loaded: t.loaded,
    skipped: t.skipped,
    conflicts: t.conflicts,
    quarantined: t.quarantined,
    deadLettered: t.deadLettered,
    pendingMessages: t.pendingMessages,
    messages: t.messages,
    unsentMessages: t.vouchedMessages,
  };
}

/**
 * Waits until nothing moves: every queue idle, no ledger message pending, and the ledger the same
 * two polls apart (an Extract of the killed run may still be sending). After `timeoutMs` it
 * returns what the ledger holds: a message still pending then was lost between queue and ledger,
 * which the counters invariant reports.
 */
async function drain(
  stack: LocalStack,
  deps: Deps,
  scopes: readonly string[],
  timeoutMs: number,
  log: (line: string) => void,
): Promise<(ScopeTotals & { messages: number; unsentMessages: number })[]> {
  const deadline = Date.now() + timeoutMs;
  let previous = '';
  for (;;) {
    await stack.idle(Math.max(1000, deadline - Date.now())).catch(() => undefined);
    await Promise.race([stack.lambda.whenIdle(), sleep(Math.max(0, deadline - Date.now()))]);
    const totals = await Promise.all(scopes.map((s) => ledgerTotals(deps, s)));
    const fingerprint = JSON.stringify(totals);
    if (totals.every((t) => t.pendingMessages === 0) && fingerprint === previous) return totals;
    if (Date.now() > deadline) {
      log(
        `the queues did not drain within ${timeoutMs} ms: ${totals
          .filter((t) => t.pendingMessages > 0)
          .map((t) => `${t.scope} ${t.pendingMessages} pending`)
          .join(', ')}`,
      );
      return totals;
    }
    previous = fingerprint;
    await sleep(2000);
  }
}

/** The quarantine objects, each marked superseded when a resuming run abandoned its message. */
async function markSuperseded(deps: Deps, objects: readonly QuarantineObject[]): Promise<QuarantineObject[]> {
  const marked: QuarantineObject[] = [];
  for (const object of objects) {
    const { Item } = await deps.clients.ddb.send(
      new GetCommand({
        TableName: deps.config.stateTable,
        Key: keys.message(object.scope, object.messageKey),
        ConsistentRead: true,
      }),
    );
    marked.push(Item?.state === 'abandoned' ? { ...object, superseded: true } : object);
  }
  return marked;
}

/** Every quarantine object, listed page by page with StartAfter (s3rver's continuation tokens need legacy OpenSSL). */
async function readQuarantine(clients: AwsClients, bucket: string): Promise<QuarantineObject[]> {
  const objects: QuarantineObject[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await clients.s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: 'quarantine/',
        ...(startAfter && { StartAfter: startAfter }),
      }),
    );
    const listed = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
    for (const key of listed) {
      const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = JSON.parse((await object.Body?.transformToString('utf8')) ?? '{}') as {
        scope?: string;
        messageKey?: string;
        entries?: { record?: { key?: string; version?: string }; raw?: string; reasons?: unknown[] }[];
      };
      objects.push({
        scope: body.scope ?? '',
        messageKey: body.messageKey ?? key,
        entries: (body.entries ?? []).map((e) => ({
          ...(e.record?.key !== undefined && { key: e.record.key }),
          ...(e.record?.version !== undefined && { version: e.record.version }),
          ...(e.raw !== undefined && { raw: e.raw }),
          reasons: Array.isArray(e.reasons) ? e.reasons.length : 0,
        })),
      });
    }
    if (listed.length === 0 || !page.IsTruncated) return objects;
    startAfter = listed[listed.length - 1];
  }
}

/**
 * Records of the DLQ messages whose ledger entry is complete and not dead-lettered: loaded, then
 * dead-lettered because the process crashed between the completion and the delete on the last
 * allowed receive. A records batch names its ledger entry; a CDC event's entry is `cdc-<id>` in
 * one of the stream's day scopes.
 */
async function recordsAlreadyLoaded(deps: Deps, bodies: readonly string[], streamScopes: readonly string[]) {
  let records = 0;
  for (const body of bodies) {
    let parsed: { scope?: unknown; messageKey?: unknown; id?: unknown; records?: unknown[] };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      continue;
    }
    const entries =
      typeof parsed.scope === 'string' && typeof parsed.messageKey === 'string'
        ? [keys.message(parsed.scope, parsed.messageKey)]
        : typeof parsed.id === 'string'
          ? streamScopes.map((scope) => keys.message(scope, `cdc-${parsed.id}`))
          : [];
    for (const Key of entries) {
      const { Item } = await deps.clients.ddb.send(
        new GetCommand({ TableName: deps.config.stateTable, Key, ConsistentRead: true }),
      );
      if (Item?.state === 'done' && Number(Item.deadLettered ?? 0) === 0)
        records += Number(Item.records ?? 0);
    }
  }
  return records;
}

/** A DLQ's messages, to be moved back to the load queue they came from. */
interface DeadLetters {
  readonly loadQueueUrl: string;
  readonly bodies: readonly string[];
}

/**
 * Receives everything in the DLQs and counts the records the messages carry, with each record's
 * `key@version`; the messages leave the DLQs and come back, per queue, in `moved`.
 */
async function drainDeadLetters(
  clients: AwsClients,
  queues: readonly { readonly deadLetterQueueUrl: string; readonly loadQueueUrl: string }[],
): Promise<{
  messages: number;
  records: number;
  bodies: string[];
  recordVersions: Set<string>;
  moved: DeadLetters[];
}> {
  let messages = 0;
  let records = 0;
  const bodies: string[] = [];
  const recordVersions = new Set<string>();
  const moved: DeadLetters[] = [];
  for (const { deadLetterQueueUrl: queueUrl, loadQueueUrl } of queues) {
    const attributes = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    if (Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) === 0) continue;
    const queueBodies: string[] = [];
    for (;;) {
      const out = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }),
      );
      const batch = out.Messages ?? [];
      if (batch.length === 0) break;
      for (const m of batch) {
        messages++;
        queueBodies.push(m.Body ?? '');
        try {
          const body = JSON.parse(m.Body ?? '') as {
            records?: { key?: unknown; version?: unknown }[];
            count?: number;
          };
          records += Array.isArray(body.records) ? body.records.length : (body.count ?? 1);
          for (const r of body.records ?? []) recordVersions.add(`${String(r.key)}@${String(r.version)}`);
        } catch {
          records++;
        }
      }
      await clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    bodies.push(...queueBodies);
    moved.push({ loadQueueUrl, bodies: queueBodies });
  }
  return { messages, records, bodies, recordVersions, moved };
}

/** Sends dead letters back to their load queue, as `esync dlq redrive` has SQS move them. */
async function sendBack(clients: AwsClients, moved: readonly DeadLetters[]): Promise<void> {
  for (const { loadQueueUrl, bodies } of moved)
    for (let i = 0; i < bodies.length; i += 10) {
      const out = await clients.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: loadQueueUrl,
          Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
        }),
      );
      if ((out.Failed ?? []).length > 0)
        throw new Error(`${out.Failed?.length} dead letters could not be sent back to ${loadQueueUrl}`);
    }
}

import { createHmac, randomUUID } from 'node:crypto';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as verifyHandler } from '../../../functions/verify/handler.ts';
import { SOURCE_CONNECTORS } from '../../../shared/connectors/sources/registry.ts';
import { pgTypeParsers } from '../../../shared/connectors/sql/pg-values.ts';
import { TARGET_CONNECTORS } from '../../../shared/connectors/targets/registry.ts';
import { recordHistory } from '../../../shared/connectors/targets/s3/history.ts';
import { isExactNumber, parseExactJson } from '../../../shared/records/exact-json.ts';
import { canonicalJson } from '../../../shared/records/hash.ts';
import { type CanonicalKind, KIND_STORAGE, TYPE_MAPPING } from '../../../shared/records/type-mapping.ts';
import { createDeps, currentDeps, type Deps } from '../../../shared/usecases/deps.ts';
import { extractPartition } from '../../../shared/usecases/phases/3-extract.ts';
import { loadMessage } from '../../../shared/usecases/phases/4-load.ts';
import { receiveWebhook } from '../../../shared/usecases/webhook.ts';
import { freePort, type RunningServer, startMariaDb, startPostgres } from '../../support/system-servers.ts';
import { verifySteps } from '../../support/verify-steps.ts';
import { type FunctionsHarness, startFunctionsHarness } from '../functions/harness.ts';
import {
  DEBEZIUM_CASES,
  DEBEZIUM_MODE_CASES,
  DEBEZIUM_MODE_SETTINGS,
  type DebeziumCase,
  type FidelityCase,
  JSON_CASES,
  MYSQL_CASES,
  POSTGRES_CASES,
  type TargetName,
} from './cases.ts';

/**
 * The type-fidelity matrix: every value of cases.ts is read by the real source (PostgreSQL on the
 * Debian server and on PGlite, MariaDB, a signed JSON webhook), sent through the load queue and
 * loaded by the load use case into each real target (DynamoDB, a PostgreSQL table, the S3 lake).
 * Each must arrive equal to its canonical value (docs/type-mapping.md), or be quarantined with a
 * reason naming its field and type. One record per value, so a refused value refuses only itself.
 */
const SOURCES = {
  postgres: POSTGRES_CASES,
  pglite: POSTGRES_CASES,
  mariadb: MYSQL_CASES,
  webhook: JSON_CASES,
  'debezium-schema': DEBEZIUM_CASES,
  'debezium-plain': DEBEZIUM_CASES,
  'debezium-modes': DEBEZIUM_MODE_CASES,
} as const;
type SourceName = keyof typeof SOURCES;
type DebeziumSourceName = 'debezium-schema' | 'debezium-plain' | 'debezium-modes';
const isDebezium = (source: SourceName): source is DebeziumSourceName => source.startsWith('debezium-');
const TARGETS: readonly TargetName[] = ['dynamodb', 'postgres', 's3'];
const HMAC_SECRET = 'fidelity-webhook-secret';

const pipelineName = (source: SourceName, target: TargetName) => `fidelity-${source}-${target}`;
const targetTable = (source: SourceName) => `fidelity_${source.replace('-', '_')}`;
const keyOf = (index: number) => String(index + 1);

let h: FunctionsHarness;
/** The harness's dependencies with the real source and target connectors, as Extract and Load build theirs. */
let deps: Deps;
let postgres: RunningServer;
let maria: RunningServer;
let pglite: { db: PGlite; server: PGLiteSocketServer; port: number };
/** Reads the PostgreSQL target's tables (on the Debian server) by the same mapping. */
let targetDb: pg.Pool;

/**
 * A CDC pipeline; without the schema in its events, it names the column types of the encoded
 * fields, and for `debezium-modes` the connector's non-default settings.
 */
function debeziumSource(source: DebeziumSourceName): Record<string, unknown> {
  const fields = Object.fromEntries(
    SOURCES[source].flatMap((c) => (c.columnType === undefined ? [] : [[c.field, c.columnType]])),
  );
  const settings = source === 'debezium-modes' ? DEBEZIUM_MODE_SETTINGS : {};
  return {
    type: 'cdc',
    format: 'debezium',
    key: ['id'],
    ...(source === 'debezium-schema' ? {} : { debezium: { ...settings, fields } }),
  };
}

function pipelineFor(source: SourceName, target: TargetName): Record<string, unknown> {
  const name = pipelineName(source, target);
  if (isDebezium(source))
    return {
      name,
      source: debeziumSource(source),
      triggers: { cdc: { pattern: { source: ['esync.cdc'], 'detail-type': [`${name}.change`] } } },
      target: targetOf(source, target),
    };
  const sql = {
    table: 'fidelity',
    key: ['id'],
    connection: { secret: `fidelity/${source}`, ssl: 'disable' },
  };
  return {
    name,
    source:
      source === 'webhook'
        ? { type: 'webhook', key: ['id'] }
        : source === 'mariadb'
          ? { type: 'mysql', ...sql }
          : { type: 'postgres', ...sql },
    ...(source === 'webhook'
      ? { triggers: { webhook: { signature: 'hmac', secret: 'fidelity/hmac' } } }
      : {}),
    target: targetOf(source, target),
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
  };
}

function targetOf(source: SourceName, target: TargetName): Record<string, unknown> {
  if (target === 'dynamodb') return { type: 'dynamodb' };
  if (target === 's3') return { type: 's3' };
  return {
    type: 'postgres',
    connection: { secret: 'fidelity/target', ssl: 'disable' },
    table: targetTable(source),
  };
}

/** One table, one row per case holding only that case's column, so a refused value refuses only its record. */
function createStatements(cases: readonly FidelityCase[], columnType: (c: FidelityCase) => string): string {
  return `(id integer PRIMARY KEY, ${cases.map((c) => `${c.field} ${columnType(c)}`).join(', ')})`;
}

async function seedPostgres(client: { query(text: string): Promise<unknown> }) {
  await client.query("CREATE TYPE mood AS ENUM ('happy', 'sad')");
  await client.query(`CREATE TABLE fidelity ${createStatements(POSTGRES_CASES, (c) => c.type)}`);
  for (const [i, c] of POSTGRES_CASES.entries())
    await client.query(`INSERT INTO fidelity (id, ${c.field}) VALUES (${i + 1}, ${c.literal})`);
}

async function seedMaria(server: RunningServer) {
  const connection = await mysql.createConnection({
    host: '127.0.0.1',
    port: server.port,
    user: server.user,
    password: server.password,
    multipleStatements: true,
  });
  await connection.query(
    `CREATE DATABASE fidelity CHARACTER SET utf8mb4; USE fidelity;
     CREATE TABLE fidelity ${createStatements(MYSQL_CASES, (c) => c.type)} CHARACTER SET utf8mb4`,
  );
  for (const [i, c] of MYSQL_CASES.entries())
    await connection.query(`INSERT INTO fidelity (id, ${c.field}) VALUES (${i + 1}, ${c.literal})`);
  await connection.end();
}

async function createTargetTables() {
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: postgres.port,
    user: postgres.user,
    database: postgres.database,
  });
  await admin.connect();
  await seedPostgres(admin);
  for (const source of Object.keys(SOURCES) as SourceName[])
    await admin.query(
      `CREATE TABLE ${targetTable(source)} ${createStatements(SOURCES[source], (c) => c.targetType ?? c.type)}`,
    );
  await admin.end();
}

async function loadQueued(pipeline: string): Promise<void> {
  const messages = await h.receiveAll(h.queueUrl(pipeline));
  for (const m of messages)
    await loadMessage(deps, pipeline, {
      messageId: m.MessageId ?? randomUUID(),
      body: m.Body ?? '',
      receiveCount: 1,
    });
  await h.deleteMessages(h.queueUrl(pipeline), messages);
}

/** A batch run's Extract (its one partition) then Load of every message it queued. */
async function syncTable(pipeline: string): Promise<string> {
  const runId = `run-${randomUUID()}`;
  await deps.state.runs.create(
    {
      runId,
      pipeline,
      trigger: 'manual',
      startedAt: new Date().toISOString(),
      window: { from: null, to: null },
    },
    90,
  );
  await extractPartition(
    deps,
    { pipeline, runId, partition: { id: 'all', spec: {} } },
    { remainingMs: () => 600_000 },
  );
  await loadQueued(pipeline);
  return runId;
}

/** Verify of a run, its steps invoked as the state machine invokes them. */
const verifyOf = (pipeline: string, runId: string) =>
  verifySteps(
    async (payload) => JSON.parse(JSON.stringify(await verifyHandler(payload, h.context('verify', 900)))),
    (key) => h.readJson(key),
    { pipeline, runId },
  );

async function pushWebhook(
  pipeline: string,
  body = `[${JSON_CASES.map((c, i) => `{"id":${i + 1},"${c.field}":${c.literal}}`).join(',')}]`,
): Promise<void> {
  await receiveWebhook(deps, {
    pipeline,
    headers: {
      'content-type': 'application/json',
      'x-signature': createHmac('sha256', HMAC_SECRET).update(body).digest('hex'),
      'x-delivery-id': randomUUID(),
    },
    rawBody: body,
  });
  await loadQueued(pipeline);
}

/** One Debezium create event per value, as the JSON converter writes it, on the bus and into the load queue. */
async function pushDebezium(
  pipeline: string,
  cases: readonly DebeziumCase[],
  withSchema: boolean,
): Promise<void> {
  for (const [i, c] of cases.entries()) {
    const fields = [
      { type: 'int32', optional: false, field: 'id' },
      { ...c.schema, optional: true, field: c.field },
    ];
    const schema = {
      type: 'struct',
      name: 'pg.public.fidelity.Envelope',
      fields: ['before', 'after'].map((field) => ({ type: 'struct', optional: true, field, fields })),
    };
    const payload =
      `{"before":null,"after":{"id":${i + 1},"${c.field}":${c.literal}},"op":"c","ts_ms":1700000000100,` +
      `"source":{"connector":"postgresql","lsn":${500 + i},"ts_ms":1700000000000,"table":"fidelity"}}`;
    const detail = withSchema ? `{"schema":${JSON.stringify(schema)},"payload":${payload}}` : payload;
    const body = `{"version":"0","id":"${randomUUID()}","detail-type":"${pipeline}.change","source":"esync.cdc","account":"000000000000","time":"2024-01-02T00:00:00Z","region":"us-east-1","resources":[],"detail":${detail}}`;
    await h.clients.sqs.send(new SendMessageCommand({ QueueUrl: h.queueUrl(pipeline), MessageBody: body }));
  }
  await loadQueued(pipeline);
}

interface QuarantineReason {
  readonly field?: string;
  readonly rule?: string;
  readonly message?: string;
}

async function quarantined(pipeline: string): Promise<Map<string, QuarantineReason[]>> {
  const listed = await h.clients.s3.send(
    new ListObjectsV2Command({ Bucket: h.dataBucket, Prefix: `quarantine/${pipeline}/` }),
  );
  const byKey = new Map<string, QuarantineReason[]>();
  for (const object of listed.Contents ?? []) {
    const file = parseExactJson(await h.readText(object.Key ?? '')) as {
      entries: { record: { key: string }; reasons: QuarantineReason[] }[];
    };
    for (const entry of file.entries) byKey.set(entry.record.key, entry.reasons);
  }
  return byKey;
}

/** The newest lake line of each key, parsed losslessly from the objects as stored. */
async function lakeLines(pipeline: string): Promise<Map<string, Record<string, unknown>>> {
  const listed = await h.clients.s3.send(
    new ListObjectsV2Command({ Bucket: h.dataBucket, Prefix: `lake/${pipeline}/` }),
  );
  const byKey = new Map<string, Record<string, unknown>>();
  for (const object of listed.Contents ?? []) {
    const out = await h.clients.s3.send(new GetObjectCommand({ Bucket: h.dataBucket, Key: object.Key }));
    for (const line of ((await out.Body?.transformToString('utf8')) ?? '').split('\n').filter(Boolean)) {
      const parsed = parseExactJson(line) as { key: string; data: Record<string, unknown> };
      byKey.set(parsed.key, parsed.data);
    }
  }
  return byKey;
}

/** Rewrites the lake lines of `key` in place with `field` set to the number `literal`, as a lossy writer would. */
async function alterLakeNumber(pipeline: string, key: string, field: string, literal: string): Promise<void> {
  const listed = await h.clients.s3.send(
    new ListObjectsV2Command({ Bucket: h.dataBucket, Prefix: `lake/${pipeline}/` }),
  );
  for (const object of listed.Contents ?? []) {
    const text = await h.readText(object.Key ?? '');
    const lines = text
      .split('\n')
      .map((line) =>
        line !== '' && (parseExactJson(line) as { key: string }).key === key
          ? line.replace(new RegExp(`"${field}":-?\\d+`), `"${field}":${literal}`)
          : line,
      );
    if (lines.join('\n') !== text)
      await h.clients.s3.send(
        new PutObjectCommand({ Bucket: h.dataBucket, Key: object.Key, Body: lines.join('\n') }),
      );
  }
}

const kindOfRow = (mapping: string): CanonicalKind => {
  const row = TYPE_MAPPING.find((r) => r.id === mapping);
  if (!row) throw new Error(`case refers to mapping row "${mapping}", which docs/type-mapping.md lacks`);
  return row.kind;
};

/** The DynamoDB attribute type and the JSON type a canonical value must have. */
function storageOf(value: unknown, kind: CanonicalKind): { dynamodb: string; lake: string } {
  if (kind !== 'json') return KIND_STORAGE[kind];
  if (typeof value === 'number' || isExactNumber(value)) return KIND_STORAGE.number;
  if (typeof value === 'string') return KIND_STORAGE.string;
  if (typeof value === 'boolean') return KIND_STORAGE.boolean;
  return Array.isArray(value) ? KIND_STORAGE.array : KIND_STORAGE.object;
}

const jsonTypeOf = (value: unknown) =>
  isExactNumber(value) ? 'number' : Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;

// Three database servers and the local AWS servers start here; a loaded shared machine needs minutes.
beforeAll(async () => {
  [postgres, maria] = await Promise.all([startPostgres(), startMariaDb()]);
  const db = await PGlite.create();
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 4 });
  await server.start();
  pglite = { db, server, port };
  await Promise.all([createTargetTables(), seedMaria(maria), seedPostgres(db)]);
  const url = (s: { user: string; port: number; database: string }) =>
    JSON.stringify({ url: `postgres://${s.user}@127.0.0.1:${s.port}/${s.database}` });
  h = await startFunctionsHarness({
    pipelines: (Object.keys(SOURCES) as SourceName[]).flatMap((s) => TARGETS.map((t) => pipelineFor(s, t))),
    secrets: {
      'fidelity/postgres': url(postgres),
      'fidelity/target': url(postgres),
      'fidelity/pglite': url({ user: 'postgres', port, database: 'postgres' }),
      'fidelity/mariadb': JSON.stringify({
        host: '127.0.0.1',
        port: maria.port,
        user: maria.user,
        password: maria.password,
        database: 'fidelity',
      }),
      'fidelity/hmac': HMAC_SECRET,
    },
  });
  deps = await currentDeps(
    createDeps(
      {
        clients: h.clients,
        config: h.deps.config,
        catalog: h.deps.catalog,
        secrets: h.deps.secrets,
        state: h.deps.state,
      },
      { sources: SOURCE_CONNECTORS, targets: TARGET_CONNECTORS },
    ),
  );
  targetDb = new pg.Pool({
    host: '127.0.0.1',
    port: postgres.port,
    user: postgres.user,
    database: postgres.database,
    types: pgTypeParsers,
  });
}, 300_000);

afterAll(async () => {
  await targetDb?.end();
  await h?.stop();
  await pglite?.server.stop();
  await pglite?.db.close();
  await Promise.all([postgres?.stop(), maria?.stop()]);
});

describe('type fidelity', () => {
  it('covers every row of the documented type mapping with at least one value', () => {
    const covered = new Set(Object.values(SOURCES).flatMap((cases) => cases.map((c) => c.mapping)));

    expect(TYPE_MAPPING.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  for (const source of Object.keys(SOURCES) as SourceName[])
    for (const target of TARGETS)
      it(`brings every ${source} value into ${target} as the mapping says, or quarantines it by field and type`, async () => {
        // Prepare
        const pipeline = pipelineName(source, target);
        const cases = SOURCES[source];

        // Act
        if (source === 'webhook') await pushWebhook(pipeline);
        else if (isDebezium(source))
          await pushDebezium(pipeline, SOURCES[source], source === 'debezium-schema');
        else await syncTable(pipeline);

        // Assess
        const refused = await quarantined(pipeline);
        const reader = deps.createTarget(deps.catalog.get(pipeline));
        const state = await reader.readState(
          cases.map((_, i) => keyOf(i)),
          { withData: true },
        );
        await reader.close();
        const lake = target === 's3' ? await lakeLines(pipeline) : undefined;
        const outcomes = await Promise.all(
          cases.map(async (c, i) => {
            const key = keyOf(i);
            const expectedRefusal = c.quarantinedBy?.[target];
            if (expectedRefusal) {
              const reasons = refused.get(key) ?? [];
              return {
                field: c.field,
                quarantined: reasons.some(
                  (r) => r.field === c.field && expectedRefusal.test(r.message ?? ''),
                ),
              };
            }
            const stored = lake?.get(key) ?? state.get(key)?.data ?? {};
            const storage = storageOf(c.expected, kindOfRow(c.mapping));
            const dynamodbType =
              target === 'dynamodb'
                ? Object.keys(
                    (
                      await h.clients.dynamodb.send(
                        new GetItemCommand({ TableName: h.targetTable(pipeline), Key: { pk: { S: key } } }),
                      )
                    ).Item?.[c.field] ?? {},
                  )[0]
                : undefined;
            return {
              field: c.field,
              value: canonicalJson(stored[c.field]),
              reasons: refused.get(key),
              ...(target === 'dynamodb' ? { dynamodbType } : {}),
              ...(target === 's3' ? { jsonType: jsonTypeOf(stored[c.field]) } : {}),
              expected: {
                value: canonicalJson(c.expected),
                ...(target === 'dynamodb' ? { dynamodbType: storage.dynamodb } : {}),
                ...(target === 's3' ? { jsonType: storage.lake } : {}),
              },
            };
          }),
        );
        for (const o of outcomes)
          if ('quarantined' in o)
            expect(o, `${o.field} is quarantined with its field and type`).toEqual({
              field: o.field,
              quarantined: true,
            });
          else
            expect(
              {
                field: o.field,
                value: o.value,
                reasons: o.reasons,
                dynamodbType: o.dynamodbType,
                jsonType: o.jsonType,
              },
              `${o.field} arrives as mapped`,
            ).toEqual({ field: o.field, reasons: undefined, ...o.expected });
      });

  it('keeps the keys 2^53 and 2^53+1 apart: two records in DynamoDB and the lake, each with its own history', async () => {
    // Prepare
    const keys = ['9007199254740992', '9007199254740993'];
    const body = `[{"id":${keys[0]},"n":1},{"id":${keys[1]},"n":2}]`;
    // The PostgreSQL target's id column is an integer; the keys are the point here.
    const targets = ['dynamodb', 's3'] as const;

    // Act
    for (const target of targets) await pushWebhook(pipelineName('webhook', target), body);

    // Assess
    const stored = await Promise.all(
      targets.map(async (target) => {
        const pipeline = pipelineName('webhook', target);
        if (target === 's3') {
          const lake = await lakeLines(pipeline);
          return keys.map((k) => canonicalJson(lake.get(k)?.n));
        }
        const reader = deps.createTarget(deps.catalog.get(pipeline));
        const state = await reader.readState(keys, { withData: true });
        await reader.close();
        return keys.map((k) => canonicalJson(state.get(k)?.data?.n));
      }),
    );
    expect(stored).toEqual(targets.map(() => ['1', '2']));
    const histories = await Promise.all(
      keys.map((k) =>
        recordHistory({ clients: h.clients, dataBucket: h.dataBucket }, pipelineName('webhook', 's3'), k),
      ),
    );
    expect(histories.map((history) => history.versions.map((v) => canonicalJson(v.data)))).toEqual([
      [canonicalJson(parseExactJson(`{"id":${keys[0]},"n":1}`))],
      [canonicalJson(parseExactJson(`{"id":${keys[1]},"n":2}`))],
    ]);
  });

  it('verifies a PostgreSQL polling run as equal, and finds a value altered in each target', async () => {
    // Prepare
    const targets = ['dynamodb', 'postgres', 's3'] as const;
    const runs = await Promise.all(targets.map((t) => syncTable(pipelineName('postgres', t))));
    const passed = await Promise.all(
      targets.map((t, i) => verifyOf(pipelineName('postgres', t), runs[i] ?? '')),
    );
    const key = String(POSTGRES_CASES.findIndex((c) => c.field === 'int8_max') + 1);

    // Act: the last digit of a 64-bit integer changes, as a rounding double would change it.
    await h.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: h.targetTable(pipelineName('postgres', 'dynamodb')),
        Key: { pk: { S: key } },
        UpdateExpression: 'SET int8_max = :n',
        ExpressionAttributeValues: { ':n': { N: '9223372036854775806' } },
      }),
    );
    await targetDb.query(
      `UPDATE ${targetTable('postgres')} SET int8_max = 9223372036854775806 WHERE id = ${key}`,
    );
    await alterLakeNumber(pipelineName('postgres', 's3'), key, 'int8_max', '9223372036854775806');
    const failed = await Promise.all(
      targets.map((t, i) =>
        verifyOf(pipelineName('postgres', t), runs[i] ?? '').catch((e: Error) => e.message),
      ),
    );

    // Assess
    expect(passed.map((p) => [p.status, p.mismatches])).toEqual(targets.map(() => ['passed', 0]));
    expect(failed).toEqual(targets.map(() => expect.stringMatching(/found 1 of \d+ records different/)));
  });
});

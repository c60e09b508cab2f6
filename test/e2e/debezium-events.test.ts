import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IgnoredEventKind } from '../../shared/cdc/index.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import { putChangeDetails } from '../support/e2e-events.ts';
import {
  createProject,
  type E2eProject,
  type E2eStack,
  listKeys,
  readObject,
  scanTable,
  startE2eStack,
} from '../support/e2e-stack.ts';
import {
  connectionSecret,
  type RunningServer,
  requireSystemServer,
  startPostgres,
} from '../support/system-servers.ts';

const postgresql = requireSystemServer('postgresql');

const PIPELINES = ['items-ddb', 'items-lake', 'items-pg'] as const;
const DETAIL_TYPE = 'items.change';
const PLACEHOLDER = '__debezium_unavailable_value';
const ITEMS_TABLE = ownedTargetTableName('dev', 'items-ddb');

/** A CDC pipeline of the items table into `target`; all three receive every event. */
const pipelineYaml = (name: string, target: string) => `name: ${name}
source:
  type: cdc
  format: debezium
  key: [id]
triggers:
  cdc:
    pattern:
      source: [esync.cdc]
      detail-type: [${DETAIL_TYPE}]
target:
${target}
`;

const ts = (lsn: number) => 1_790_000_000_000 + lsn;

/** A Debezium PostgreSQL change event of the items table, without the JSON converter's schema. */
function change(op: 'c' | 'u' | 'd' | 't', lsn: number, row: Record<string, unknown> | null) {
  return {
    before: op === 'd' ? row : null,
    after: op === 'd' || op === 't' ? null : row,
    op,
    source: { connector: 'postgresql', db: 'shop', schema: 'public', table: 'items', lsn, ts_ms: ts(lsn) },
    ts_ms: ts(lsn) + 5,
  };
}

/** The days a stream ledger scope may be named after while the test runs. */
const days = (since: number) => [
  ...new Set([since, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
];

describe.runIf(postgresql.available)(
  'Debezium event kinds on the local stack: TOAST, tombstones, heartbeats, transactions, truncate, flattened records',
  () => {
    let project: E2eProject;
    let e2e: E2eStack;
    let server: RunningServer;
    let db: pg.Client;
    const since = Date.now();

    beforeAll(async () => {
      server = await startPostgres();
      db = new pg.Client({ connectionString: server.url });
      await db.connect();
      project = createProject({
        'items-ddb': pipelineYaml('items-ddb', '  type: dynamodb'),
        'items-lake': pipelineYaml('items-lake', '  type: s3'),
        'items-pg': pipelineYaml(
          'items-pg',
          '  type: postgres\n  connection: { secret: esync/items-db }\n  table: items\n  mode: jsonb',
        ),
      });
      e2e = await startE2eStack(project, { 'esync/items-db': connectionSecret(server) });
    }, 600_000);

    afterAll(async () => {
      await e2e?.stop();
      project?.remove();
      await db?.end();
      await server?.stop();
    });

    const put = async (details: readonly object[]) => {
      await putChangeDetails(e2e.clients, e2e.stack.env.ESYNC_EVENT_BUS ?? '', details, DETAIL_TYPE);
      await e2e.stack.idle();
    };

    /** Each target's view of the items: data of live records, `null` for deleted ones. */
    async function targets(): Promise<
      Record<(typeof PIPELINES)[number], Map<string, Record<string, unknown> | null>>
    > {
      const ddb = new Map<string, Record<string, unknown> | null>();
      for (const [key, item] of await scanTable(e2e.clients, ITEMS_TABLE)) {
        const { pk: _pk, _v, _h, _d, ...data } = item as Record<string, unknown>;
        ddb.set(key, _d === true ? null : data);
      }
      const lake = new Map<string, Record<string, unknown> | null>();
      const newest = new Map<string, string>();
      for (const object of await listKeys(e2e.clients, e2e.dataBucket, 'lake/items-lake/'))
        for (const text of (await readObject(e2e.clients, e2e.dataBucket, object)).trim().split('\n')) {
          const line = JSON.parse(text) as {
            key: string;
            version: string;
            data: Record<string, unknown> | null;
          };
          if ((newest.get(line.key) ?? '') >= line.version) continue;
          newest.set(line.key, line.version);
          lake.set(line.key, line.data);
        }
      const rows = await db.query<{ key: string; data: Record<string, unknown> | null; _d: boolean }>(
        'SELECT key, data, "_d" FROM items',
      );
      const postgres = new Map(rows.rows.map((r) => [r.key, r._d ? null : r.data]));
      return { 'items-ddb': ddb, 'items-lake': lake, 'items-pg': postgres };
    }

    /** The stream ledger's totals of a pipeline since the test started. */
    async function totals(pipeline: string) {
      const sum = {
        unavailableFields: 0,
        quarantined: 0,
        ignored: {} as Partial<Record<IgnoredEventKind, number>>,
      };
      for (const day of days(since)) {
        const t = await e2e.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, day));
        sum.unavailableFields += t.unavailableFields;
        sum.quarantined += t.quarantined;
        for (const [kind, n] of Object.entries(t.ignored) as [IgnoredEventKind, number][])
          sum.ignored[kind] = (sum.ignored[kind] ?? 0) + n;
      }
      return sum;
    }

    it('keeps the stored value of a field an update carries as unavailable (TOAST) in every target, and counts it', async () => {
      // Prepare
      const photo = Buffer.from('a photo').toString('base64');
      const created = {
        id: 'T1',
        title: 'first',
        body: 'a long text kept out of line',
        tags: ['a', 'b'],
        photo,
      };

      // Act
      await put([change('c', 100, created)]);
      await put([
        change('u', 101, {
          id: 'T1',
          title: 'second',
          body: PLACEHOLDER,
          tags: [PLACEHOLDER],
          photo: Buffer.from(PLACEHOLDER).toString('base64'),
        }),
        change('u', 102, { id: 'T2', title: 'never seen before', body: PLACEHOLDER }),
      ]);

      // Assess
      const seen = await targets();
      for (const pipeline of PIPELINES) {
        expect({ pipeline, data: seen[pipeline].get('T1') }).toEqual({
          pipeline,
          data: { ...created, title: 'second' },
        });
        expect({ pipeline, data: seen[pipeline].get('T2') }).toEqual({
          pipeline,
          data: { id: 'T2', title: 'never seen before' },
        });
        expect({ pipeline, unavailable: (await totals(pipeline)).unavailableFields }).toEqual({
          pipeline,
          unavailable: 4,
        });
      }
    });

    it('counts tombstones, heartbeats and transaction BEGIN/END as such, quarantining nothing', async () => {
      // Act
      await put([
        { schema: null, payload: null },
        {
          schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' },
          payload: { ts_ms: ts(110) },
        },
        { status: 'BEGIN', id: '571:110', ts_ms: ts(110), event_count: null, data_collections: null },
        {
          status: 'END',
          id: '571:110',
          ts_ms: ts(111),
          event_count: 1,
          data_collections: [{ data_collection: 'public.items', event_count: 1 }],
        },
      ]);

      // Assess
      for (const pipeline of PIPELINES) {
        const counted = await totals(pipeline);
        expect({ pipeline, ignored: counted.ignored, quarantined: counted.quarantined }).toEqual({
          pipeline,
          ignored: { tombstone: 1, heartbeat: 1, transaction: 2 },
          quarantined: 0,
        });
        expect(await listKeys(e2e.clients, e2e.dataBucket, `quarantine/${pipeline}/`)).toEqual([]);
      }
    });

    it('applies a truncate as deletes of every live record older than it, keeping a record written after it', async () => {
      // Prepare
      await put([change('c', 200, { id: 'R1', title: 'r1' }), change('c', 201, { id: 'R2', title: 'r2' })]);
      await put([change('c', 400, { id: 'R3', title: 'written after the truncate' })]);

      // Act: the truncate arrives after a later change was applied.
      await put([change('t', 300, null)]);

      // Assess
      const seen = await targets();
      for (const pipeline of PIPELINES) {
        const state = Object.fromEntries(
          ['T1', 'R1', 'R2', 'R3'].map((k) => [k, seen[pipeline].get(k) ?? null]),
        );
        expect({ pipeline, state }).toEqual({
          pipeline,
          state: { T1: null, R1: null, R2: null, R3: { id: 'R3', title: 'written after the truncate' } },
        });
      }
    });

    it('accepts flattened ExtractNewRecordState records and refuses one without __op naming what to add', async () => {
      // Act
      await put([
        { id: 'F1', title: 'flat', __op: 'c', __lsn: 500, __source_ts_ms: ts(500), __deleted: 'false' },
        { id: 'F2', title: 'gone soon', __op: 'c', __lsn: 501, __source_ts_ms: ts(501), __deleted: 'false' },
      ]);
      await put([
        { id: 'F2', title: 'gone soon', __op: 'd', __lsn: 502, __source_ts_ms: ts(502), __deleted: 'true' },
      ]);
      await put([{ id: 'F3', title: 'no added fields' }]);

      // Assess
      const seen = await targets();
      for (const pipeline of PIPELINES) {
        expect({ pipeline, f1: seen[pipeline].get('F1'), f2: seen[pipeline].get('F2') }).toEqual({
          pipeline,
          f1: { id: 'F1', title: 'flat' },
          f2: null,
        });
        expect({ pipeline, f3: seen[pipeline].has('F3') }).toEqual({ pipeline, f3: false });
      }
      const [quarantined] = await listKeys(e2e.clients, e2e.dataBucket, 'quarantine/items-ddb/');
      const entry = JSON.parse(await readObject(e2e.clients, e2e.dataBucket, quarantined ?? '')) as {
        entries: { reasons: { message: string }[] }[];
      };
      const reason = entry.entries[0]?.reasons[0]?.message ?? '';
      expect(reason).toMatch(
        /carries neither __op nor __deleted, no __source_ts_ms \(or __ts_ms\), no source position \(__lsn; [^)]*\); set add\.fields=op,lsn,source\.ts_ms/,
      );
      expect(reason).not.toMatch(/undefined/);
    });
  },
);

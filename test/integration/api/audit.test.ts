import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit as auditCommand } from '../../../cli/commands/audit.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import type { AuditEntry } from '../../../shared/state/audit.ts';
import { handleManagementRequest, type ManagementResponse } from '../../../shared/usecases/api/routes.ts';
import { captureIo } from '../../unit/cli/api-stub.ts';
import { type ApiHarness, type CliGateway, startApiHarness, startCliGateway } from './harness.ts';

const ALICE = 'arn:aws:iam::123456789012:user/ops-alice';
const BOB = 'arn:aws:iam::123456789012:role/ci-bob';

let h: ApiHarness;
let cli: CliGateway;

const entry = (pipeline: string, at: string, action: string, who: string): AuditEntry => ({
  pipeline,
  at,
  action,
  who,
  what: { at },
  why: `${action} by ${who.split('/').at(-1)}`,
});

/** Ten entries a minute apart on 2025-01-01 from 10:00, alternating pipelines, actions and principals. */
const SEEDED = Array.from({ length: 10 }, (_, i) =>
  entry(
    i % 2 === 0 ? 'users-sync' : 'lake-sync',
    `2025-01-01T10:0${i}:00.000Z`,
    i % 3 === 0 ? 'checkpoint.reset' : 'run.start',
    i % 4 === 0 ? BOB : ALICE,
  ),
);

beforeAll(async () => {
  h = await startApiHarness();
  for (const e of SEEDED) await h.deps.state.audit.append(e, 365);
  cli = await startCliGateway(h.deps, 'esync-audit-');
});

afterAll(async () => {
  await cli?.stop();
  await h?.stop();
});

function getAudit(query: Record<string, string>): Promise<ManagementResponse> {
  return handleManagementRequest(h.deps, { method: 'GET', path: '/audit', query, principal: ALICE });
}

const times = (response: ManagementResponse) =>
  (response.body.entries as AuditEntry[]).map((e) => e.at.slice(11, 16));

describe('GET /audit', () => {
  it("lists every pipeline's entries newest first when no pipeline is given", async () => {
    const response = await getAudit({ until: '2025-01-02T00:00:00Z' });

    expect(response.status).toBe(200);
    expect(times(response)).toEqual([
      '10:09',
      '10:08',
      '10:07',
      '10:06',
      '10:05',
      '10:04',
      '10:03',
      '10:02',
      '10:01',
      '10:00',
    ]);
    expect((response.body.entries as AuditEntry[])[0]).toEqual(SEEDED[9]);
    expect(response.body.next).toBeNull();
  });

  it('filters by pipeline, action, actor and time range together', async () => {
    const response = await getAudit({
      pipeline: 'users-sync',
      action: 'checkpoint.reset',
      actor: 'ci-bob',
      since: '2025-01-01T10:00:00Z',
      until: '2025-01-01T10:08:00Z',
    });

    // users-sync: 10:00 10:02 10:04 10:06 10:08; checkpoint.reset: 10:00 10:06; bob: 10:00 10:04 10:08.
    expect(times(response)).toEqual(['10:00']);
  });

  it('includes since and excludes until, also for a time written with an offset', async () => {
    const response = await getAudit({ since: '2025-01-01T12:03:00+02:00', until: '2025-01-01T10:06:00Z' });

    expect(times(response)).toEqual(['10:05', '10:04', '10:03']);
  });

  it('pages with the next cursor until the filtered entries run out, never repeating one', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const response = await getAudit({
        actor: 'ops-alice',
        until: '2025-01-02T00:00:00Z',
        limit: '2',
        ...(after && { after }),
      });
      expect(response.status).toBe(200);
      seen.push(...times(response));
      after = (response.body.next as string | null) ?? undefined;
      pages += 1;
    } while (after !== undefined && pages < 10);

    // Alice: every entry but 10:00, 10:04, 10:08 (bob's).
    expect(seen).toEqual(['10:09', '10:07', '10:06', '10:05', '10:03', '10:02', '10:01']);
    expect(pages).toBe(4);
  });

  it('answers 400 naming the parameter for a bad time, a reversed range, a bad limit or cursor', async () => {
    const badTime = await getAudit({ since: 'yesterday' });
    const reversed = await getAudit({ since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' });
    const badLimit = await getAudit({ limit: '0' });
    const badCursor = await getAudit({ after: 'not-a-cursor' });
    const unknown = await getAudit({ who: 'alice' });

    expect(badTime.status).toBe(400);
    expect(String(badTime.body.error)).toMatch(/since must be an ISO-8601 time .* got "yesterday"/);
    expect(reversed.status).toBe(400);
    expect(String(reversed.body.error)).toMatch(/since \(2025-01-02T00:00:00.000Z\) must be before until/);
    expect(badLimit.status).toBe(400);
    expect(String(badLimit.body.error)).toMatch(/limit/);
    expect(badCursor.status).toBe(400);
    expect(String(badCursor.body.error)).toMatch(/after is not a cursor/);
    expect(unknown.status).toBe(400);
    expect(String(unknown.body.error)).toMatch(/who/);
  });

  it("keeps an audit entry of a mutating call for the pipeline's retention.auditDays", async () => {
    // Prepare
    const users = h.deps.catalog.get('users-sync');
    const deps = {
      ...h.deps,
      catalog: new PipelineCatalog([{ ...users, retention: { ...users.retention, auditDays: 7 } }]),
    };
    const now = Date.now();

    // Act
    const reset = await handleManagementRequest(deps, {
      method: 'PUT',
      path: '/pipelines/users-sync/checkpoint',
      body: JSON.stringify({ cursor: null, reason: 'retention check' }),
      principal: ALICE,
    });

    // Assess
    expect(reset.status).toBe(200);
    const stored = await h.clients.ddb.send(
      new QueryCommand({
        TableName: h.config.stateTable,
        KeyConditionExpression: 'pk = :p AND sk > :s',
        ExpressionAttributeValues: { ':p': 'AUDIT#users-sync', ':s': '2026' },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const item = stored.Items?.[0];
    expect(item?.why).toBe('retention check');
    const days = (Number(item?.expiresAt) * 1000 - now) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);
  });
});

describe('esync audit over the HTTP API', () => {
  it('prints the filtered entries as a table and the command for the next page', async () => {
    const io = captureIo(cli.devDir);

    const code = await auditCommand(
      [
        '--pipeline',
        'lake-sync',
        '--action',
        'run.start',
        '--until',
        '2025-01-02T00:00:00Z',
        '--limit',
        '2',
        '--local',
      ],
      io,
    );

    expect(code).toBe(0);
    const lines = io.text().split('\n');
    expect(lines[0]).toMatch(/^AT +PIPELINE +ACTION +WHO +WHY +WHAT$/);
    expect(lines[1]).toMatch(
      /^2025-01-01 10:07:00 +lake-sync +run\.start +arn:aws:iam::123456789012:user\/ops-alice +run\.start by ops-alice/,
    );
    expect(lines[2]).toMatch(/^2025-01-01 10:05:00 +lake-sync +run\.start/);
    expect(lines[3]).toMatch(/^more entries: repeat with --after \S+$/);
  });

  it('prints one JSON object with --json and exits 1 with the API message for a bad filter', async () => {
    const json = captureIo(cli.devDir);
    const bad = captureIo(cli.devDir);

    const ok = await auditCommand(
      ['--actor', 'ci-bob', '--until', '2025-01-02T00:00:00Z', '--json', '--local'],
      json,
    );
    const failed = await auditCommand(
      ['--since', '2025-01-02T00:00:00Z', '--until', '2025-01-01T00:00:00Z', '--local'],
      bad,
    );

    expect(ok).toBe(0);
    const page = JSON.parse(json.text()) as { entries: AuditEntry[]; next: string | null };
    expect(page.entries.map((e) => e.at)).toEqual([
      '2025-01-01T10:08:00.000Z',
      '2025-01-01T10:04:00.000Z',
      '2025-01-01T10:00:00.000Z',
    ]);
    expect(page.next).toBeNull();
    expect(failed).toBe(1);
    expect(bad.errText()).toMatch(/400 Bad Request: since .* must be before until/);
  });
});

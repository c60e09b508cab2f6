import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import { githubFixture, postGithubDelivery } from '../support/e2e-events.ts';
import {
  type E2eStack,
  listKeys,
  REPO_ROOT,
  readObject,
  scanTable,
  startE2eProject,
} from '../support/e2e-stack.ts';
import { type GithubServer, githubIssuesPipelineYaml, startGithubServer } from '../support/github-server.ts';

const SECRET = 'e2e-ties-secret';
const META = new Set(['pk', '_v', '_h', '_d', '_k', '_ts', '_m']);

const pipelineYaml = (name: string, target: string) => `name: ${name}
source:
  type: webhook
  mapping: github
  key: [kind, id]
triggers:
  webhook:
    signature: github
    secret: esync/ties/github
target:
${target}
`;

/** GitHub's `issues.opened` example payload, as another issue in another state (same `updated_at`). */
function issuePayload(id: number, change: Record<string, unknown>): string {
  const payload = JSON.parse(githubFixture('issues.opened')) as { issue: Record<string, unknown> };
  payload.issue = { ...payload.issue, id, number: id % 1000, ...change };
  return JSON.stringify(payload);
}

/** The shipped github-issues pipeline (an S3 lake), and the same with a DynamoDB target. */
const SHIPPED = readFileSync(path.join(REPO_ROOT, 'pipelines', 'github-issues.yaml'), 'utf8');
const SHIPPED_DDB = SHIPPED.replace('name: github-issues', 'name: github-issues-ddb').replace(
  /\ntarget:\n[\s\S]*?\n(?=\S)/,
  '\ntarget:\n  type: dynamodb\n\n',
);

const days = (since: number) => [
  ...new Set([since, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
];

describe('two changes of one issue within one second (equal versions) on the local stack', () => {
  let e2e: E2eStack;
  let github: GithubServer;
  const since = Date.now();

  const PIPELINES = ['ties-ddb-1', 'ties-ddb-2', 'ties-lake-1', 'ties-lake-2'] as const;
  const REREAD = ['reread-ddb-1', 'reread-ddb-2', 'reread-lake-1', 'reread-lake-2'] as const;
  const targetOf = (name: string) => (name.includes('ddb') ? '  type: dynamodb' : '  type: s3');

  beforeAll(async () => {
    github = await startGithubServer();
    const pipelines = {
      ...Object.fromEntries(PIPELINES.map((name) => [name, pipelineYaml(name, targetOf(name))])),
      ...Object.fromEntries(
        REREAD.map((name) => [
          name,
          githubIssuesPipelineYaml(name, github.url, { secret: 'esync/ties/github', target: targetOf(name) }),
        ]),
      ),
      'github-issues': SHIPPED,
      'github-issues-ddb': SHIPPED_DDB,
    };
    e2e = await startE2eProject(pipelines, {
      'esync/ties/github': SECRET,
      'esync/demo/github-webhook': SECRET,
    });
  });

  afterAll(async () => {
    await e2e?.stop();
    await github?.close();
  });

  /** The day totals of a pipeline's stream: ties, and those read again at the source. */
  async function tieCounts(
    pipeline: string,
  ): Promise<{ pipeline: string; ties: number; tiesReread: number }> {
    const counted = { pipeline, ties: 0, tiesReread: 0 };
    for (const day of days(since)) {
      const totals = await e2e.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, day));
      counted.ties += totals.ties;
      counted.tiesReread += totals.tiesReread;
    }
    return counted;
  }

  /** Each record of a pipeline's target: DynamoDB items, or the lake's newest line per key. */
  async function records(pipeline: string): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    if (pipeline.includes('ddb')) {
      for (const [key, item] of await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline)))
        out.set(key, Object.fromEntries(Object.entries(item).filter(([n]) => !META.has(n))));
      return out;
    }
    const newest = new Map<string, { version: string; hash: string }>();
    for (const object of await listKeys(e2e.clients, e2e.dataBucket, `lake/${pipeline}/`))
      for (const text of (await readObject(e2e.clients, e2e.dataBucket, object)).trim().split('\n')) {
        const line = JSON.parse(text) as { key: string; version: string; hash: string; data: unknown };
        const held = newest.get(line.key);
        // Readers of the lake take the highest version, and at an equal version the higher hash.
        if (
          held &&
          (held.version > line.version || (held.version === line.version && held.hash >= line.hash))
        )
          continue;
        newest.set(line.key, line);
        out.set(line.key, line.data);
      }
    return out;
  }

  const deliver = async (pipeline: string, id: string, body: string) => {
    const answer = await postGithubDelivery(e2e.stack.apiUrl, pipeline, {
      event: 'issues',
      id,
      body,
      secret: SECRET,
    });
    expect(answer.status).toBe(202);
  };

  /** Delivers each pair of bodies to every pipeline: to *-1 in the pair's order, to *-2 reversed. */
  async function deliverPairs(pipelines: readonly string[], pairs: readonly string[][]): Promise<void> {
    for (const round of [0, 1]) {
      for (const pipeline of pipelines)
        for (const [p, pair] of pairs.entries()) {
          const i = pipeline.endsWith('-1') ? round : 1 - round;
          await deliver(pipeline, `${pipeline}-${p}-${i}`, pair[i] ?? '');
        }
      await e2e.stack.idle();
    }
  }

  it('ends DynamoDB and the S3 lake on the same change of each same-second pair, whichever arrived first, and counts the ties', async () => {
    // Prepare: milestoned then demilestoned, and opened then edited, each pair within one second.
    const pairs = [
      [issuePayload(7_001, { milestone: { title: 'v1.0' } }), issuePayload(7_001, { milestone: null })],
      [
        issuePayload(7_002, { title: 'Spelling error in the README file' }),
        issuePayload(7_002, { title: 'Spelling error in the README' }),
      ],
    ];

    // Act: pipelines *-1 get each pair in its order, *-2 reversed.
    await deliverPairs(PIPELINES, pairs);

    // Assess
    const [first, ...others] = await Promise.all(PIPELINES.map(records));
    expect(first?.size).toBe(2);
    for (const other of others) expect(other).toEqual(first);
    for (const pipeline of PIPELINES)
      expect(await tieCounts(pipeline)).toEqual({ pipeline, ties: 2, tiesReread: 0 });
  });

  /** GitHub's `issues.<action>` example payload carrying the issue as `issue` shows it. */
  const deliveryOf = (action: 'opened' | 'edited', issue: Record<string, unknown>) =>
    JSON.stringify({ ...(JSON.parse(githubFixture(`issues.${action}`)) as object), action, issue });

  /** Issue `number` as the API shows it, with `change` applied: what a delivery of that moment carries. */
  const issueAt = (number: number, change: Record<string, unknown>) => ({
    ...github.issue(number),
    ...change,
  });

  it('loads what the GitHub API says now for same-second pairs of a github source, into DynamoDB and the lake alike', async () => {
    // Prepare: the API's final state of each issue; each pair's deliveries carry one second.
    const second = '2026-04-01T09:30:00Z';
    github.upsertIssue({ number: 1, updatedAt: second, fields: { milestone: null } });
    github.upsertIssue({ number: 2, updatedAt: second, title: 'Spelling error in the README' });
    const milestone = { number: 1, title: 'v1.0', state: 'open' };
    const pairs = [
      // milestoned then demilestoned, and opened then edited.
      [
        deliveryOf('edited', issueAt(1, { milestone })),
        deliveryOf('edited', issueAt(1, { milestone: null })),
      ],
      [
        deliveryOf('opened', issueAt(2, { title: 'Spelling error in the README file' })),
        deliveryOf('edited', issueAt(2, {})),
      ],
    ];
    const before = github.requests.length;

    // Act: pipelines *-1 get each pair in its order, *-2 reversed.
    await deliverPairs(REREAD, pairs);

    // Assess
    const api = new Map([1, 2].map((n) => [String(github.issue(n)?.id), github.issue(n)]));
    for (const pipeline of REREAD)
      expect({ pipeline, records: await records(pipeline) }).toEqual({ pipeline, records: api });
    for (const pipeline of REREAD)
      expect(await tieCounts(pipeline)).toEqual({ pipeline, ties: 2, tiesReread: 2 });
    const reads = github.requests.slice(before).map((r) => r.path);
    expect(reads.filter((path) => path.endsWith('/issues/1'))).toHaveLength(4);
    expect(reads.filter((path) => path.endsWith('/issues/2'))).toHaveLength(4);
  });

  it('falls back to the content hash, alike in DynamoDB and the lake, when the API cannot answer a tie', async () => {
    // Prepare
    const pipelines = ['reread-ddb-1', 'reread-lake-1'];
    const counted = await Promise.all(pipelines.map(tieCounts));
    github.upsertIssue({ number: 3, updatedAt: '2026-04-01T10:00:00Z', title: 'Third' });
    const first = deliveryOf('opened', issueAt(3, { title: 'Third, as opened' }));
    const second = deliveryOf('edited', issueAt(3, { title: 'Third, as edited' }));
    for (const pipeline of pipelines) await deliver(pipeline, `${pipeline}-3-0`, first);
    await e2e.stack.idle();

    // Act: the issue is gone from the API (404) when the second delivery meets the first.
    github.deleteIssue(3);
    for (const pipeline of pipelines) await deliver(pipeline, `${pipeline}-3-1`, second);
    await e2e.stack.idle();

    // Assess
    const [ddb, lake] = await Promise.all(pipelines.map(records));
    const key = String(444_500_003);
    expect(ddb?.get(key)).toEqual(lake?.get(key));
    const delivered = [first, second].map((body) => (JSON.parse(body) as { issue: unknown }).issue);
    expect(delivered).toContainEqual(ddb?.get(key));
    for (const [i, pipeline] of pipelines.entries())
      expect(await tieCounts(pipeline)).toEqual({
        pipeline,
        ties: (counted[i]?.ties ?? 0) + 1,
        tiesReread: counted[i]?.tiesReread ?? 0,
      });
  });

  const PINNED = ['ties-ddb-1', 'ties-lake-1'];

  it('takes an issues.pinned delivery without state as a partial update: DynamoDB and the lake keep the fields it lacks', async () => {
    // Prepare
    const opened = issuePayload(7_004, { title: 'Before pinning', updated_at: '2026-02-01T10:00:00Z' });
    const pinned = JSON.stringify({
      ...(JSON.parse(opened) as object),
      action: 'pinned',
      issue: { id: 7_004, number: 4, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
    });

    const before = new Map<string, Record<string, unknown>>();
    for (const pipeline of PINNED) {
      await deliver(pipeline, `${pipeline}-opened-7004`, opened);
      await e2e.stack.idle();
      before.set(pipeline, (await records(pipeline)).get('issue#7004') as Record<string, unknown>);
    }

    // Act
    for (const pipeline of PINNED) await deliver(pipeline, `${pipeline}-pinned-7004`, pinned);
    await e2e.stack.idle();

    // Assess
    for (const pipeline of PINNED) {
      const held = before.get(pipeline);
      expect(held).toMatchObject({ state: 'open', title: 'Before pinning', labels: ['bug'] });
      expect({ pipeline, issue: (await records(pipeline)).get('issue#7004') }).toEqual({
        pipeline,
        issue: { ...held, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
      });
    }
  });

  it('takes an issues.pinned delivery without state into a github source pipeline as a partial update, in DynamoDB and the lake', async () => {
    // Prepare
    const pipelines = ['reread-ddb-1', 'reread-lake-1'];
    github.upsertIssue({ number: 5, updatedAt: '2026-02-01T10:00:00Z', title: 'Before pinning' });
    const issue = github.issue(5) as Record<string, unknown>;
    const pinned = JSON.stringify({
      ...(JSON.parse(githubFixture('issues.edited')) as object),
      action: 'pinned',
      issue: { id: issue.id, number: 5, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
    });
    for (const pipeline of pipelines)
      await deliver(pipeline, `${pipeline}-opened-5`, deliveryOf('opened', issue));
    await e2e.stack.idle();

    // Act
    for (const pipeline of pipelines) await deliver(pipeline, `${pipeline}-pinned-5`, pinned);
    await e2e.stack.idle();

    // Assess
    for (const pipeline of pipelines)
      expect({ pipeline, issue: (await records(pipeline)).get(String(issue.id)) }).toEqual({
        pipeline,
        issue: { ...issue, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
      });
  });

  it('keeps an issue and a comment with the same numeric id as two records through the shipped github-issues pipeline, in the lake and in DynamoDB', async () => {
    // Prepare
    const opened = JSON.parse(githubFixture('issues.opened')) as { issue: { id: number } };
    const commented = JSON.parse(githubFixture('issue_comment.created')) as { comment: { id: number } };
    commented.comment.id = opened.issue.id;

    // Act
    for (const pipeline of ['github-issues', 'github-issues-ddb']) {
      await deliver(pipeline, `${pipeline}-issue`, JSON.stringify(opened));
      const answer = await postGithubDelivery(e2e.stack.apiUrl, pipeline, {
        event: 'issue_comment',
        id: `${pipeline}-comment`,
        body: JSON.stringify(commented),
        secret: SECRET,
      });
      expect(answer.status).toBe(202);
    }
    await e2e.stack.idle();

    // Assess
    for (const pipeline of ['github-issues', 'github-issues-ddb']) {
      const held = await records(pipeline);
      expect({ pipeline, keys: [...held.keys()].sort() }).toEqual({
        pipeline,
        keys: [`issue#${opened.issue.id}`, `issue_comment#${opened.issue.id}`],
      });
      expect(held.get(`issue#${opened.issue.id}`)).toMatchObject({ kind: 'issue', id: opened.issue.id });
      expect(held.get(`issue_comment#${opened.issue.id}`)).toMatchObject({
        kind: 'issue_comment',
        id: opened.issue.id,
      });
    }
  });

  it('changes nothing when an old delivery body is replayed with a fresh delivery id', async () => {
    // Prepare
    const pipeline = 'ties-ddb-1';
    const older = issuePayload(7_003, { title: 'first title', updated_at: '2026-01-01T10:00:00Z' });
    const newer = issuePayload(7_003, { title: 'second title', updated_at: '2026-01-01T10:05:00Z' });
    await deliver(pipeline, 'replay-original-1', older);
    await deliver(pipeline, 'replay-original-2', newer);
    await e2e.stack.idle();
    const before = await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline));

    // Act: a captured body, signed as sent, re-sent under a delivery id never seen.
    await deliver(pipeline, 'replay-fresh-id', older);
    await e2e.stack.idle();

    // Assess
    const after = await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline));
    expect(after).toEqual(before);
    const [issue] = [...after.values()].filter((item) => item.id === 7_003);
    expect(issue?.title).toBe('second title');
  });
});

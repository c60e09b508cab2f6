import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { githubFixture, postGithubDelivery } from '../support/e2e-events.ts';
import {
  callApi,
  createProject,
  type E2eProject,
  type E2eStack,
  scanTable,
  startE2eStack,
  waitForRun,
} from '../support/e2e-stack.ts';
import { type GithubServer, githubIssuesPipelineYaml, startGithubServer } from '../support/github-server.ts';

const PIPELINE = 'repo-issues';
const SECRET = 'e2e-poll-and-webhooks';
const META = new Set(['pk', '_v', '_h', '_d', '_k', '_ts', '_m']);

describe('GitHub issues polled and pushed by webhooks into one DynamoDB target', () => {
  let github: GithubServer;
  let project: E2eProject;
  let e2e: E2eStack;

  beforeAll(async () => {
    github = await startGithubServer();
    project = createProject({
      [PIPELINE]: githubIssuesPipelineYaml(PIPELINE, github.url, { secret: 'esync/repo/github-webhook' }),
    });
    e2e = await startE2eStack(project, { 'esync/repo/github-webhook': SECRET });
  });

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
    await github?.close();
  });

  /** A delivery of `action` on issue `number` as GitHub sends it: the issue as the API shows it. */
  function issueEvent(action: string, number: number): string {
    const payload = JSON.parse(
      githubFixture(`issues.${action === 'deleted' ? 'deleted' : 'edited'}`),
    ) as Record<string, unknown>;
    return JSON.stringify({ ...payload, action, issue: github.issue(number) });
  }

  let deliveries = 0;
  async function deliver(event: string, body: string): Promise<{ status: number; text: string }> {
    deliveries++;
    return postGithubDelivery(e2e.stack.apiUrl, PIPELINE, {
      event,
      id: `poll-and-hooks-${deliveries}`,
      body,
      secret: SECRET,
    });
  }

  async function poll() {
    const started = await callApi<{ runId: string }>(e2e.stack, 'POST', `/pipelines/${PIPELINE}/runs`, {});
    const run = await waitForRun(e2e.stack, started.body.runId);
    expect(run, JSON.stringify(run.failure)).toMatchObject({ status: 'succeeded' });
    return run;
  }

  /** The live issues of the target by id, without ESync's meta attributes. */
  async function targetIssues(): Promise<Map<number, Record<string, unknown>>> {
    const live = new Map<number, Record<string, unknown>>();
    for (const item of (await scanTable(e2e.clients, ownedTargetTableName('dev', PIPELINE))).values())
      if (item._d !== true)
        live.set(Number(item.id), Object.fromEntries(Object.entries(item).filter(([n]) => !META.has(n))));
    return live;
  }

  const sourceIssues = () =>
    new Map(
      [1, 2, 3, 4, 5].flatMap((n) => {
        const issue = github.issue(n);
        return issue ? [[Number(issue.id), issue] as const] : [];
      }),
    );

  it('ends equal to the repository whichever channel brings a change first, with deletes and late deliveries', async () => {
    // Prepare: three issues, backfilled by a first poll.
    for (const number of [1, 2, 3]) github.upsertIssue({ number, updatedAt: '2026-03-01T10:00:00Z' });
    const backfill = await poll();
    const staleBody = issueEvent('edited', 2);

    // Act: webhooks first: issue 1 edited, issue 3 deleted, issue 4 opened.
    github.upsertIssue({ number: 1, updatedAt: '2026-03-01T11:00:00Z', title: 'Edited on GitHub' });
    const edited = await deliver('issues', issueEvent('edited', 1));
    const deletedBody = issueEvent('deleted', 3);
    github.deleteIssue(3);
    const deleted = await deliver('issues', deletedBody);
    github.upsertIssue({ number: 4, updatedAt: '2026-03-01T11:05:00Z', title: 'Opened on GitHub' });
    const opened = await deliver('issues', issueEvent('opened', 4));
    // The poll first: issue 2 edited and issue 5 opened, their deliveries late (after the poll).
    github.upsertIssue({ number: 2, updatedAt: '2026-03-01T12:00:00Z', title: 'Edited again' });
    github.upsertIssue({ number: 5, updatedAt: '2026-03-01T12:05:00Z', title: 'Opened later' });
    const lateBodies = [issueEvent('edited', 2), issueEvent('opened', 5)];
    await e2e.stack.idle();
    const catchUp = await poll();
    const late = [];
    for (const body of [...lateBodies, staleBody]) late.push(await deliver('issues', body));
    const ping = await deliver('ping', githubFixture('ping'));
    await e2e.stack.idle();

    // Assess
    expect([edited, deleted, opened, ...late].map((d) => d.status)).toEqual([202, 202, 202, 202, 202, 202]);
    expect(JSON.parse(ping.text)).toMatchObject({ accepted: 0, ignored: 'ping' });
    expect(backfill.counts).toMatchObject({ extracted: 3, loaded: 3 });
    expect(catchUp.counts.extracted).toBeGreaterThanOrEqual(3);
    const target = await targetIssues();
    expect([...target.keys()].sort()).toEqual([...sourceIssues().keys()].sort());
    expect(target).toEqual(sourceIssues());
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGithubSource } from '../../../shared/connectors/sources/github/source.ts';
import { SOURCE_REREADERS } from '../../../shared/connectors/sources/rereaders.ts';
import type { ChangeWindow } from '../../../shared/connectors/types.ts';
import { ConnectorError, TransientError } from '../../../shared/errors.ts';
import { type GithubServer, startGithubServer } from '../../support/github-server.ts';
import { recordingTimerDelays } from '../../support/timer-delays.ts';
import { startFaultProxy } from './fault-proxy.ts';
import { keysOf, readAll, readPages, sourceSetup } from './helpers.ts';

const TOKEN = 'ghp_test_token_never_shown';
const T0 = '2024-05-01T10:00:00Z';
const at = (seconds: number) => `${new Date(Date.parse(T0) + seconds * 1000).toISOString().slice(0, 19)}Z`;

describe('github source against a GitHub-shaped server', () => {
  let github: GithubServer;

  const setup = (overrides: Record<string, unknown> = {}, baseUrl = github.url) =>
    sourceSetup(
      {
        type: 'github',
        owner: github.owner,
        repo: github.repo,
        baseUrl,
        token: { secret: 'gh' },
        key: ['number'],
        cursor: ['updated_at'],
        pageSize: 3,
        ...overrides,
      },
      { secrets: { gh: TOKEN } },
    );

  const source = (overrides: Record<string, unknown> = {}, baseUrl = github.url) => {
    const { config, context } = setup(overrides, baseUrl);
    return createGithubSource(config, context);
  };

  /** The source as Load's registry gives it, to read one record again. */
  const rereader = async (overrides: Record<string, unknown> = {}) => {
    const { config, context } = setup(overrides);
    const made = await SOURCE_REREADERS.loadAndCreate(config, context);
    if (!made) throw new Error('the github source has no re-reader');
    return made;
  };

  beforeAll(async () => {
    github = await startGithubServer({ token: TOKEN });
  });

  afterAll(async () => {
    await github?.close();
  });

  beforeEach(() => {
    github.reset();
    // Issues 1-5 share one instant, spread over two pages of 3; 6 and 8 are pull requests.
    for (let n = 1; n <= 5; n++) github.upsertIssue({ number: n, updatedAt: T0 });
    github.upsertIssue({ number: 6, updatedAt: at(10), pull: true });
    github.upsertIssue({ number: 7, updatedAt: at(20) });
    github.upsertIssue({ number: 8, updatedAt: at(30), pull: true });
    github.upsertComment({ id: 101, issueNumber: 1, updatedAt: at(5) });
    github.upsertComment({ id: 102, issueNumber: 2, updatedAt: at(15) });
  });

  it('discovers the fields of issues after checking the repository is reachable with the token', async () => {
    const discovery = await source().discover();
    expect(discovery.primaryKey).toEqual(['id']);
    expect(discovery.fields.map((f) => f.name)).toEqual(
      expect.arrayContaining(['number', 'title', 'updated_at']),
    );
    expect(discovery.capabilities).toEqual({ incremental: true, deletes: 'none', cdc: false });
    expect(github.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('reads every issue but no pull request, ties in key order across server pages', async () => {
    const reader = source();
    const pages = await readPages(reader, { from: null, to: await reader.currentHighWatermark() });
    expect(keysOf(pages.flat())).toEqual(['1', '2', '3', '4', '5', '7']);
    expect(pages.every((p) => p.length > 0 && p.length <= 3)).toBe(true);
    expect(pages[0]?.[0]).toMatchObject({
      deleted: false,
      cursor: { values: [T0], key: '1' },
      version: 't:2024-05-01T10:00:00.000Z|2|1',
      ts: '2024-05-01T10:00:00.000Z',
      data: { number: 1, title: 'Issue 1', user: { login: 'Codertocat' } },
    });
    expect(
      github.requests.filter((r) => r.path.endsWith('/issues') && r.query.direction === 'asc'),
    ).toHaveLength(3);
  });

  it('resumes after a row in the middle of a group of ties without skipping or repeating one', async () => {
    const rows = await readAll(source(), { from: null, to: null }, undefined, { values: [T0], key: '2' });
    expect(keysOf(rows)).toEqual(['3', '4', '5', '7']);
  });

  it('moves only the issues updated after the first window on an incremental second pass, asking with since=', async () => {
    const reader = source();
    const first = await reader.currentHighWatermark();
    await readAll(reader, { from: null, to: first });
    github.upsertIssue({ number: 2, updatedAt: at(40), title: 'edited' });
    github.upsertIssue({ number: 9, updatedAt: at(41) });
    github.upsertIssue({ number: 10, updatedAt: at(42), pull: true });
    const second = await reader.currentHighWatermark();
    github.requests.length = 0;

    const rows = await readAll(reader, { from: first, to: second });

    expect(keysOf(rows)).toEqual(['2', '9']);
    expect(rows[0]?.data.title).toBe('edited');
    expect(github.requests[0]?.query.since).toBe(at(30));
  });

  it('asks again with the ETag and replays the page on 304 when nothing changed', async () => {
    const reader = source();
    const window: ChangeWindow = { from: { values: [at(10)], key: '6' }, to: null };
    const first = await readAll(reader, window);
    github.requests.length = 0;
    const again = await readAll(reader, window);
    expect(again).toEqual(first);
    expect(github.requests.map((r) => r.status)).toEqual([304]);
    expect(github.requests[0]?.ifNoneMatch).toMatch(/^W\/"/);
  });

  it('reads pull requests, newest first down to the window start on an incremental pass', async () => {
    const reader = source({ resource: 'pulls' });
    const all = await readAll(reader);
    github.upsertIssue({ number: 11, updatedAt: at(50), pull: true });
    const changed = await readAll(reader, { from: { values: [at(30)], key: '8' }, to: null });
    expect(keysOf(all)).toEqual(['6', '8']);
    expect(all[0]?.data.head).toEqual(expect.objectContaining({ ref: 'feature-6' }));
    expect(keysOf(changed)).toEqual(['11']);
  });

  it('reads issue comments by their updated_at', async () => {
    const rows = await readAll(source({ resource: 'comments', key: ['id'] }));
    expect(keysOf(rows)).toEqual(['101', '102']);
    expect(rows[0]?.data.issue_url).toMatch(/\/issues\/1$/);
  });

  it('retries a request that failed with 503', async () => {
    github.failNext({ status: 503 });
    const rows = await readAll(source());
    expect(keysOf(rows)).toEqual(['1', '2', '3', '4', '5', '7']);
    expect(github.requests[0]?.status).toBe(503);
  });

  it('waits for the rate-limit reset the server names, then goes on', async () => {
    // Prepare
    const reset = Math.ceil(Date.now() / 1000) + 1;
    github.failNext({
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      body: { message: 'API rate limit exceeded' },
    });
    github.failNext({ status: 429, headers: { 'retry-after': '0' }, body: { message: 'slow down' } });

    // Act
    const { result: rows, delays } = await recordingTimerDelays(() => readAll(source()));

    // Assess: retried once the reset passed, never after GitHub's secondary-limit minute (what a
    // 403 naming a rate limit means without the reset header)
    expect(keysOf(rows)).toHaveLength(6);
    expect(github.requests.slice(0, 3).map((r) => r.status)).toEqual([403, 429, 200]);
    expect(Date.now()).toBeGreaterThanOrEqual(reset * 1000 - 50);
    expect(Math.max(...delays)).toBeLessThan(60_000);
  });

  it('gives up at once, as transient with the wait, when the rate limit resets too far away', async () => {
    github.failNext({
      status: 403,
      headers: {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      },
    });
    const error = await readAll(source()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryAfterMs).toBeGreaterThan(3_500_000);
    expect(github.requests).toHaveLength(1);
  });

  it('reports a refused token as unauthorized, naming the secret but not the token', async () => {
    const { config, context } = sourceSetup(
      {
        type: 'github',
        owner: github.owner,
        repo: github.repo,
        baseUrl: github.url,
        token: { secret: 'gh' },
        key: ['id'],
      },
      { secrets: { gh: JSON.stringify({ token: 'wrong-token' }) } },
    );
    const error = await createGithubSource(config, context)
      .discover()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toMatch(
      /unauthorized \(HTTP 401: Bad credentials\); check the token in secret "gh"/,
    );
    expect((error as Error).message).not.toContain('wrong-token');
  });

  it('reports an unknown repository and an unreachable server', async () => {
    const closed = await startFaultProxy(1);
    await closed.close();
    await expect(source({ repo: 'nothing-here' }).discover()).rejects.toThrow(
      /Codertocat\/nothing-here found nothing \(HTTP 404/,
    );
    await expect(source({}, `http://127.0.0.1:${closed.port}`).discover()).rejects.toThrow(
      new RegExp(
        `cannot reach http://127.0.0.1:${closed.port}/repos/Codertocat/Hello-World \\(ECONNREFUSED\\)`,
      ),
    );
  });

  it('reads one issue, pull request or comment again by its URL, versioned as a poll reads it', async () => {
    // Prepare
    github.upsertIssue({ number: 3, updatedAt: at(40), title: 'Retitled', fields: { milestone: null } });
    const polled = (await readAll(source())).find((row) => row.data.number === 3);

    // Act
    const issue = await (await rereader()).reread({ number: 3, title: 'what a delivery said' });
    const pull = await (await rereader({ resource: 'pulls' })).reread({ number: 6 });
    const comment = await (await rereader({ resource: 'comments', key: ['id'] })).reread({ id: 102 });

    // Assess
    expect(issue).toEqual(polled);
    expect(issue.data).toMatchObject({ number: 3, title: 'Retitled', milestone: null });
    expect(issue.version).toBe(`t:${new Date(at(40)).toISOString()}|2|3`);
    expect(pull.data).toMatchObject({ number: 6, head: { ref: 'feature-6' } });
    expect(comment.data).toMatchObject({ id: 102, body: 'Comment 102' });
    expect(github.requests.slice(-3).map((r) => r.path)).toEqual([
      '/repos/Codertocat/Hello-World/issues/3',
      '/repos/Codertocat/Hello-World/pulls/6',
      '/repos/Codertocat/Hello-World/issues/comments/102',
    ]);
  });

  it('refuses to read again a record without a number, or one the API no longer has', async () => {
    await expect((await rereader()).reread({ title: 'no number' })).rejects.toThrow(
      /a github issues record without a number cannot be read again/,
    );
    await expect((await rereader()).reread({ number: 404 })).rejects.toThrow(
      /GET http:\/\/127\.0\.0\.1:\d+\/repos\/Codertocat\/Hello-World\/issues\/404 found nothing \(HTTP 404/,
    );
  });

  it('refuses a cursor other than updated_at', async () => {
    await expect(source({ cursor: ['created_at'] }).discover()).rejects.toThrow(
      /cursor of a github source is \[updated_at\] \(or none\), not \[created_at\]/,
    );
  });
});

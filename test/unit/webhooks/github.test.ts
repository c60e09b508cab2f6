import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.ts';
import { loadPipelineFiles } from '../../../shared/pipeline/load.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { compareVersions, timestampVersion } from '../../../shared/records/version.ts';
import { GITHUB_UNAVAILABLE_VALUE, mapGithubDelivery } from '../../../shared/webhooks/github.ts';
import { mapDelivery } from '../../../shared/webhooks/map-delivery.ts';

const payload = (name: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(path.join(import.meta.dirname, 'fixtures', 'github', `${name}.payload.json`), 'utf8'),
  );

const options = { pipeline: 'github-issues', keyFields: ['kind', 'id'] };
const map = (event: string, body: unknown, deliveryId = 'delivery-1') =>
  mapGithubDelivery({ event, deliveryId, payload: body }, options);

/** The error `act` throws. */
function thrown(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

/** A push of two commits, built on the fixture's repository and pusher. */
function pushWithCommits(): Record<string, unknown> {
  const person = {
    name: 'Codertocat',
    email: '21031067+Codertocat@users.noreply.github.com',
    username: 'Codertocat',
  };
  const commit = (id: string, message: string, timestamp: string) => ({
    id,
    tree_id: 'f9d2a07e9488b91af2641b26b9407fe22a451433',
    distinct: true,
    message,
    timestamp,
    url: `https://github.com/Codertocat/Hello-World/commit/${id}`,
    author: person,
    committer: person,
    added: [],
    removed: [],
    modified: ['README.md'],
  });
  return {
    ...payload('push'),
    ref: 'refs/heads/main',
    deleted: false,
    commits: [
      commit('6113728f27ae82c7b1a177c8d03f9e96e0adf246', 'Fix the spelling', '2019-05-15T15:20:30-05:00'),
      commit('0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c', 'Update README.md', '2019-05-15T15:21:00-05:00'),
    ],
  };
}

describe('GitHub deliveries', () => {
  it('maps an opened issue to an upsert keyed by kind and id, versioned by updated_at', () => {
    // Act
    const [record, ...rest] = map('issues', payload('issues.opened'));

    // Assess
    expect(rest).toEqual([]);
    expect(record).toMatchObject({
      key: 'issue#444500041',
      op: 'upsert',
      version: timestampVersion('2019-05-15T15:20:18Z', 'issue#444500041', 'webhook'),
      ts: '2019-05-15T15:20:18.000Z',
      provenance: { pipeline: 'github-issues', deliveryId: 'delivery-1' },
    });
    expect(record?.data).toMatchObject({
      kind: 'issue',
      id: 444500041,
      number: 1,
      repository: 'Codertocat/Hello-World',
      title: 'Spelling error in the README file',
      state: 'open',
      labels: ['bug'],
      user: 'Codertocat',
      body: "It looks like you accidently spelled 'commit' with two 't's.",
    });
    expect(record?.hash).toBe(contentHash(record?.data));
  });

  it('maps an issue opened with an empty body to an upsert whose body is null', () => {
    // Act
    const [record] = map('issues', payload('issues.opened.with-empty-body'));

    // Assess
    expect(record?.op).toBe('upsert');
    expect(record?.data?.body).toBeNull();
  });

  it('maps edited, labeled and reopened issues to upserts of the issue', () => {
    // Act
    const records = ['issues.edited', 'issues.labeled', 'issues.reopened'].flatMap((name) =>
      map('issues', payload(name)),
    );

    // Assess
    expect(records.map((r) => [r.key, r.op])).toEqual([
      ['issue#444500041', 'upsert'],
      ['issue#444500041', 'upsert'],
      ['issue#444500041', 'upsert'],
    ]);
  });

  it('maps a deleted issue to a delete that orders after an update with the same updated_at', () => {
    // Prepare
    const deletedPayload = payload('issues.deleted');
    const lastUpdate = map('issues', { ...deletedPayload, action: 'edited' })[0];

    // Act
    const [record] = map('issues', deletedPayload);

    // Assess
    expect(record).toMatchObject({ key: 'issue#444500041', op: 'delete', data: null, hash: 'deleted' });
    expect(compareVersions(record?.version ?? '', lastUpdate?.version ?? '')).toBeGreaterThan(0);
  });

  it('maps created and edited comments to upserts and a deleted comment to a delete', () => {
    // Act
    const created = map('issue_comment', payload('issue_comment.created'))[0];
    const edited = map('issue_comment', payload('issue_comment.edited'))[0];
    const deleted = map('issue_comment', payload('issue_comment.deleted'))[0];

    // Assess
    expect(created).toMatchObject({ key: 'issue_comment#492700400', op: 'upsert' });
    expect(created?.data).toMatchObject({
      issue_id: 444500041,
      issue_number: 1,
      user: 'Codertocat',
      body: "You are totally right! I'll get this fixed right away.",
    });
    expect(edited?.data?.body).toBe("You are totally right! I'll get this fixed today.");
    expect(compareVersions(edited?.version ?? '', created?.version ?? '')).toBeGreaterThan(0);
    expect(deleted).toMatchObject({ key: 'issue_comment#492700400', op: 'delete', data: null });
    expect(compareVersions(deleted?.version ?? '', edited?.version ?? '')).toBeGreaterThan(0);
  });

  it('maps a push to one upsert per commit keyed by the commit id', () => {
    // Act
    const records = map('push', pushWithCommits());

    // Assess
    expect(records.map((r) => r.key)).toEqual([
      'commit#6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      'commit#0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
    ]);
    expect(records[0]).toMatchObject({ op: 'upsert', ts: '2019-05-15T20:20:30.000Z' });
    expect(records[0]?.data).toMatchObject({
      ref: 'refs/heads/main',
      message: 'Fix the spelling',
      modified: ['README.md'],
    });
  });

  it('maps a push without commits (a deleted tag), a ping and an unhandled event to no records', () => {
    // Act
    const push = map('push', payload('push'));
    const ping = map('ping', payload('ping'));
    const star = map('star', { action: 'created' });

    // Assess
    expect([push, ping, star]).toEqual([[], [], []]);
  });

  it('takes an issues.pinned payload without state as a partial update whose missing fields are unavailable', () => {
    // Prepare: a pinned issue that carries its id, number, title and updated_at only.
    const { issue } = payload('issues.opened') as { issue: Record<string, unknown> };
    const pinned = {
      ...payload('issues.opened'),
      action: 'pinned',
      issue: {
        id: issue.id,
        number: issue.number,
        title: 'Pinned title',
        updated_at: '2026-03-01T10:00:00Z',
      },
    };

    // Act
    const [record] = map('issues', pinned);

    // Assess
    expect(record?.op).toBe('upsert');
    expect(record?.version).toBe(timestampVersion('2026-03-01T10:00:00Z', 'issue#444500041', 'webhook'));
    expect(record?.data).toEqual({
      kind: 'issue',
      id: 444500041,
      repository: 'Codertocat/Hello-World',
      number: 1,
      title: 'Pinned title',
      updated_at: '2026-03-01T10:00:00Z',
      ...Object.fromEntries(
        [
          'body',
          'state',
          'state_reason',
          'locked',
          'labels',
          'user',
          'assignees',
          'milestone',
          'comments',
          'is_pull_request',
          'html_url',
          'created_at',
          'closed_at',
        ].map((field) => [field, GITHUB_UNAVAILABLE_VALUE]),
      ),
    });
  });

  it('maps a full payload without optional fields to their defaults, none unavailable', () => {
    // Prepare
    const body = payload('issues.opened');
    const { labels: _l, assignees: _a, locked: _k, ...issue } = body.issue as Record<string, unknown>;

    // Act
    const [record] = map('issues', { ...body, issue });

    // Assess
    expect(record?.data).toMatchObject({ labels: [], assignees: [], locked: false, state: 'open' });
    expect(Object.values(record?.data ?? {})).not.toContain(GITHUB_UNAVAILABLE_VALUE);
  });

  it('refuses a malformed issue payload naming the missing field', () => {
    // Prepare
    const body = payload('issues.opened');
    const { updated_at: _, ...issue } = body.issue as Record<string, unknown>;

    // Act
    const error = thrown(() => map('issues', { ...body, issue }));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/^github issues delivery is malformed: body\.issue\.updated_at/);
    expect((error as ValidationError).issues[0]?.path).toBe('body.issue.updated_at');
  });

  it('refuses a commit whose id is not a commit id', () => {
    // Prepare
    const body = pushWithCommits();
    (body.commits as Record<string, unknown>[])[0] = {
      ...(body.commits as Record<string, unknown>[])[0],
      id: 'nope',
    };

    // Act
    const mapping = () => map('push', body);

    // Assess
    expect(mapping).toThrow(/body\.commits\[0\]\.id/);
  });

  it('refuses a record that lacks a key field of the pipeline', () => {
    // Act
    const mapping = () =>
      mapGithubDelivery(
        { event: 'push', deliveryId: 'd', payload: pushWithCommits() },
        { pipeline: 'p', keyFields: ['number'] },
      );

    // Assess
    expect(mapping).toThrow(ValidationError);
    expect(mapping).toThrow('key field "number" is missing or empty');
  });
});

describe('mapDelivery', () => {
  const pipeline = (source: Record<string, unknown>) =>
    pipelineSchema.parse({
      name: 'github-issues',
      source: { type: 'webhook', ...source },
      target: { type: 'dynamodb' },
      triggers: { webhook: { signature: 'github', secret: 'gh' } },
    } as PipelineInput);

  it('maps by the X-GitHub-Event header for the github mapping', () => {
    // Act
    const records = mapDelivery(pipeline({ mapping: 'github', key: ['kind', 'id'] }), {
      headers: { 'X-GitHub-Event': 'issues' },
      body: payload('issues.opened'),
      deliveryId: 'abc',
      receivedAt: new Date(),
    });

    // Assess
    expect(records.map((r) => r.key)).toEqual(['issue#444500041']);
  });

  it('refuses a github delivery without the event header', () => {
    // Act
    const mapping = () =>
      mapDelivery(pipeline({ mapping: 'github', key: ['kind', 'id'] }), {
        headers: {},
        body: {},
        deliveryId: 'abc',
        receivedAt: new Date(),
      });

    // Assess
    expect(mapping).toThrow('the x-github-event header is missing');
  });

  it('keeps an issue and a comment with the same numeric id as two records in the shipped github-issues pipeline', async () => {
    // Prepare
    const repoRoot = path.resolve(import.meta.dirname, '../../..');
    const { pipelines } = await loadPipelineFiles(['pipelines/github-issues.yaml'], { cwd: repoRoot });
    const shipped = pipelines[0];
    if (!shipped) throw new Error('pipelines/github-issues.yaml did not load');
    const issue = payload('issues.opened');
    const comment = payload('issue_comment.created');
    const id = (issue.issue as { id: number }).id;
    (comment.comment as { id: number }).id = id;
    const deliver = (event: string, body: unknown) =>
      mapDelivery(shipped, {
        headers: { 'X-GitHub-Event': event },
        body,
        deliveryId: event,
        receivedAt: new Date(),
      });

    // Act
    const keys = [...deliver('issues', issue), ...deliver('issue_comment', comment)].map((r) => r.key);

    // Assess
    expect(keys).toEqual([`issue#${id}`, `issue_comment#${id}`]);
  });

  it('refuses a github mapping keyed without kind, naming the field', () => {
    // Act
    const parsed = pipelineSchema.safeParse({
      name: 'github-issues',
      source: { type: 'webhook', mapping: 'github', key: ['id'] },
      target: { type: 'dynamodb' },
      triggers: { webhook: { signature: 'github', secret: 'gh' } },
    });

    // Assess
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues).toEqual([
      expect.objectContaining({
        path: ['source', 'key'],
        message: expect.stringContaining('include kind in the key'),
      }),
    ]);
  });
});

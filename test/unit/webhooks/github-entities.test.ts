import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineSchema, type SourceConfig } from '../../../shared/pipeline/schema.ts';
import { timestampVersion } from '../../../shared/records/version.ts';
import { GITHUB_UNAVAILABLE_VALUE } from '../../../shared/webhooks/github.ts';
import {
  ignoredGithubSourceEvent,
  mapGithubSourceDelivery,
} from '../../../shared/webhooks/github-entities.ts';

const fixture = (name: string) =>
  JSON.parse(
    readFileSync(path.join(import.meta.dirname, 'fixtures', 'github', `${name}.payload.json`), 'utf8'),
  );

const pipeline = (source: Record<string, unknown>, signature = 'github') =>
  pipelineSchema.safeParse({
    name: 'repo',
    source: { key: ['id'], cursor: ['updated_at'], ...source },
    triggers: { webhook: { signature, secret: 's' } },
    target: { type: 'dynamodb' },
  });

const issues = (pipeline({ type: 'github', owner: 'o', repo: 'r' }).data?.source ?? {}) as Extract<
  SourceConfig,
  { type: 'github' }
>;
const receivedAt = new Date('2026-03-01T12:00:00.123Z');

describe('webhook deliveries of a github source', () => {
  it('writes the issue as the API lists it, versioned by its updated_at on the webhook channel', () => {
    // Act
    const [record] = mapGithubSourceDelivery(
      { deliveryId: 'd1', payload: fixture('issues.edited'), receivedAt },
      { pipeline: 'repo', source: issues },
    );

    // Assess
    const issue = fixture('issues.edited').issue;
    expect(record).toMatchObject({ key: String(issue.id), op: 'upsert', data: issue });
    expect(record?.version).toBe(timestampVersion('2019-05-15T15:20:18Z', String(issue.id), 'webhook'));
  });

  it('takes a pinned issue without state as a partial update: the REST fields it lacks are unavailable', () => {
    // Prepare: GitHub's issues.pinned carries part of the issue only.
    const { issue } = fixture('issues.edited');
    const pinned = {
      ...fixture('issues.edited'),
      action: 'pinned',
      issue: { id: issue.id, number: issue.number, title: 'Pinned', updated_at: '2026-03-01T10:05:00Z' },
    };

    // Act
    const [partial] = mapGithubSourceDelivery(
      { deliveryId: 'd3', payload: pinned, receivedAt },
      { pipeline: 'repo', source: issues },
    );
    const [full] = mapGithubSourceDelivery(
      { deliveryId: 'd4', payload: fixture('issues.edited'), receivedAt },
      { pipeline: 'repo', source: issues },
    );

    // Assess
    expect(partial?.data).toMatchObject({
      id: issue.id,
      number: issue.number,
      title: 'Pinned',
      updated_at: '2026-03-01T10:05:00Z',
      state: GITHUB_UNAVAILABLE_VALUE,
      labels: GITHUB_UNAVAILABLE_VALUE,
      body: GITHUB_UNAVAILABLE_VALUE,
      created_at: GITHUB_UNAVAILABLE_VALUE,
    });
    expect(Object.values(full?.data ?? {})).not.toContain(GITHUB_UNAVAILABLE_VALUE);
  });

  it('refuses a delivery whose entity lacks its key or updated_at, naming the field', () => {
    const { issue } = fixture('issues.edited');
    const { updated_at: _u, ...stampless } = issue;

    expect(() =>
      mapGithubSourceDelivery(
        { deliveryId: 'd5', payload: { ...fixture('issues.edited'), issue: stampless }, receivedAt },
        { pipeline: 'repo', source: issues },
      ),
    ).toThrow(/issue\.updated_at/);
  });

  it('stamps a delete with its arrival, after any poll of the issue before it was deleted', () => {
    // Act
    const [record] = mapGithubSourceDelivery(
      { deliveryId: 'd2', payload: fixture('issues.deleted'), receivedAt },
      { pipeline: 'repo', source: issues },
    );

    // Assess
    expect(record).toMatchObject({ op: 'delete', data: null, ts: receivedAt.toISOString() });
    expect(record?.version.startsWith(`t:${receivedAt.toISOString()}|1|`)).toBe(true);
  });

  it('ignores the events of other resources and pings, saying why', () => {
    expect(ignoredGithubSourceEvent(issues, 'issues')).toBeUndefined();
    expect(ignoredGithubSourceEvent(issues, 'issue_comment')).toMatch(
      /reads github issues, changed by issues events/,
    );
    expect(ignoredGithubSourceEvent(issues, 'ping')).toMatch(/test delivery/);
  });

  it('refuses a webhook trigger on a polled source other than github, and a github source signed otherwise', () => {
    // Act
    const postgres = pipeline({ type: 'postgres', connection: { secret: 'db' }, table: 't' });
    const hmac = pipeline({ type: 'github', owner: 'o', repo: 'r' }, 'hmac');

    // Assess
    expect(postgres.error?.issues.map((i) => i.message)).toEqual([
      'a postgres source takes no webhooks (a webhook or github source does)',
    ]);
    expect(hmac.error?.issues.map((i) => i.message)).toEqual([
      'a github source takes GitHub deliveries: use signature github',
    ]);
  });
});

import * as z from 'zod';
import { compileRecordKey } from '../connectors/sources/support/rows.ts';
import { ValidationError } from '../errors.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { timestampVersion, toIsoMillis } from '../records/version.ts';
import { parseAtEdge } from './parse.ts';

/**
 * GitHub webhook deliveries as change records.
 *
 * | `X-GitHub-Event` | action            | records                                      |
 * |------------------|-------------------|----------------------------------------------|
 * | issues           | deleted           | delete of the issue                          |
 * | issues           | any other         | upsert of the issue as the payload shows it (*) |
 * | issue_comment    | deleted           | delete of the comment                        |
 * | issue_comment    | any other         | upsert of the comment                        |
 * | push             | -                 | one upsert per commit (key: the commit id)   |
 * | ping, others     | -                 | none: answered 202 `ignored` (`ignoredGithubEvent`) |
 *
 * (*) A payload that carries part of the issue (`pinned`, `unpinned` carry no `state`) is taken
 * as a partial update: the fields it lacks keep their stored values (`GITHUB_UNAVAILABLE_VALUE`).
 *
 * Each record's data has `kind` (`issue`, `issue_comment`, `commit`) and `id`; the record key is
 * built from the pipeline's `source.key` fields as for any source. GitHub ids are unique per
 * kind only, so a pipeline taking issues and comments into one target should use
 * `key: [kind, id]`.
 *
 * Versions are `updated_at` (a commit's `timestamp`) on the webhook channel (`records/version.ts`),
 * with the record key as tie-break, so they compare with a poll of the same entities. A delete
 * carries the entity's last `updated_at` and a tie-break that sorts after the upsert's, so it
 * wins over the last update it follows, and an update delivered late cannot undo it.
 */

const userSchema = z.object({ login: z.string() }).nullable();
const repositorySchema = z.object({ full_name: z.string() });
const timestamp = z.string().min(1);

/**
 * An issue as a payload carries it. Only the key (`id`) and the version (`updated_at`) are
 * required: some actions (`pinned`, `unpinned`) carry part of the issue only.
 */
const issueSchema = z.object({
  id: z.number().int(),
  number: z.number().int().optional(),
  title: z.string().optional(),
  body: z.string().nullable().optional(),
  state: z.string().optional(),
  state_reason: z.string().nullable().optional(),
  locked: z.boolean().optional(),
  labels: z.array(z.object({ name: z.string() })).optional(),
  user: userSchema.optional(),
  assignees: z.array(z.object({ login: z.string() })).optional(),
  milestone: z.object({ title: z.string() }).nullable().optional(),
  comments: z.number().int().optional(),
  html_url: z.string().optional(),
  created_at: timestamp.optional(),
  updated_at: timestamp,
  closed_at: z.string().nullable().optional(),
  pull_request: z.object({}).loose().optional(),
});

type Issue = z.infer<typeof issueSchema>;

/**
 * The value of a record field a payload did not carry. Such a field is not written: the target
 * keeps the value it stores (`usecases/unavailable-fields.ts`), as for Debezium's unavailable
 * (TOASTed) columns.
 */
export const GITHUB_UNAVAILABLE_VALUE = '__esync_unavailable_value';

/** The issue fields every full issue payload carries; a payload without one of them is partial. */
export const FULL_ISSUE_FIELDS = ['number', 'title', 'state', 'html_url', 'created_at'] as const;

/** The payload field each record field of an issue comes from. */
const ISSUE_SOURCE_FIELDS: Readonly<Record<string, keyof Issue>> = {
  number: 'number',
  title: 'title',
  body: 'body',
  state: 'state',
  state_reason: 'state_reason',
  locked: 'locked',
  labels: 'labels',
  user: 'user',
  assignees: 'assignees',
  milestone: 'milestone',
  comments: 'comments',
  is_pull_request: 'pull_request',
  html_url: 'html_url',
  created_at: 'created_at',
  closed_at: 'closed_at',
};

const issuesEventSchema = z.object({ action: z.string(), issue: issueSchema, repository: repositorySchema });

const commentSchema = z.object({
  id: z.number().int(),
  body: z.string(),
  user: userSchema.optional(),
  author_association: z.string().optional(),
  html_url: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

const issueCommentEventSchema = z.object({
  action: z.string(),
  issue: z.object({ id: z.number().int(), number: z.number().int() }),
  comment: commentSchema,
  repository: repositorySchema,
});

const personSchema = z.object({
  name: z.string(),
  email: z.string().nullable().optional(),
  username: z.string().optional(),
});

const pushEventSchema = z.object({
  ref: z.string(),
  repository: repositorySchema,
  commits: z
    .array(
      z.object({
        id: z.string().regex(/^[0-9a-f]{40,64}$/, 'a commit id is 40 or 64 hex digits'),
        message: z.string(),
        timestamp,
        url: z.string(),
        distinct: z.boolean().optional(),
        author: personSchema,
        committer: personSchema,
        added: z.array(z.string()).default([]),
        removed: z.array(z.string()).default([]),
        modified: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});

/** The GitHub events this mapping turns into records. */
export const GITHUB_EVENTS = ['issues', 'issue_comment', 'push'] as const;

/**
 * Why a delivery of `event` changes no record, or `undefined` for an event the mapping takes.
 * Such deliveries (`ping`, `pull_request`, the other event types a webhook may be subscribed to)
 * are answered 202 with the reason, so GitHub does not show them as failed.
 */
export function ignoredGithubEvent(event: string): string | undefined {
  if ((GITHUB_EVENTS as readonly string[]).includes(event)) return undefined;
  if (event === 'ping')
    return 'ping is the test delivery GitHub sends when a webhook is created; it carries no change';
  return `the github mapping takes ${GITHUB_EVENTS.join(', ')} events; ${event} events change no record`;
}

/** What the mapping needs besides the payload. */
export interface GithubDelivery {
  /** `X-GitHub-Event`. */
  readonly event: string;
  /** `X-GitHub-Delivery`; becomes the records' provenance. */
  readonly deliveryId: string;
  /** The parsed JSON body. */
  readonly payload: unknown;
}

export interface GithubMappingOptions {
  readonly pipeline: string;
  /** The pipeline's `source.key` fields, read from each record's data. */
  readonly keyFields: readonly string[];
}

/**
 * Maps one GitHub delivery to change records (see the module comment for the table).
 * @throws ValidationError naming the first missing or wrong fields of a malformed payload.
 */
export function mapGithubDelivery(delivery: GithubDelivery, options: GithubMappingOptions): RecordEnvelope[] {
  const keyOf = compileRecordKey(options.keyFields);
  const provenance = { pipeline: options.pipeline, deliveryId: delivery.deliveryId };
  const record = (data: RecordData, changedAt: string, deleted: boolean): RecordEnvelope => {
    const key = keyOf(data);
    let ts: string;
    try {
      ts = toIsoMillis(changedAt);
    } catch {
      throw new ValidationError(
        `github ${delivery.event} delivery has a timestamp that is not one: ${JSON.stringify(changedAt)}`,
        [{ path: 'body', message: 'not a timestamp' }],
      );
    }
    return makeEnvelope({
      key,
      op: deleted ? 'delete' : 'upsert',
      version: timestampVersion(ts, deleted ? `${key}|deleted` : key, 'webhook'),
      ts,
      data: deleted ? null : data,
      provenance,
    });
  };
  const what = `github ${delivery.event} delivery`;
  switch (delivery.event) {
    case 'issues': {
      const { action, issue, repository } = parseAtEdge(issuesEventSchema, delivery.payload, what, 'body');
      return [record(issueData(issue, repository.full_name), issue.updated_at, action === 'deleted')];
    }
    case 'issue_comment': {
      const { action, issue, comment, repository } = parseAtEdge(
        issueCommentEventSchema,
        delivery.payload,
        what,
        'body',
      );
      const data: RecordData = {
        kind: 'issue_comment',
        id: comment.id,
        repository: repository.full_name,
        issue_id: issue.id,
        issue_number: issue.number,
        body: comment.body,
        user: comment.user?.login ?? null,
        author_association: comment.author_association ?? null,
        html_url: comment.html_url,
        created_at: comment.created_at,
        updated_at: comment.updated_at,
      };
      return [record(data, comment.updated_at, action === 'deleted')];
    }
    case 'push': {
      const { ref, repository, commits } = parseAtEdge(pushEventSchema, delivery.payload, what, 'body');
      return commits.map((commit) =>
        record(
          {
            kind: 'commit',
            id: commit.id,
            repository: repository.full_name,
            ref,
            message: commit.message,
            timestamp: commit.timestamp,
            url: commit.url,
            distinct: commit.distinct ?? true,
            author: commit.author,
            committer: commit.committer,
            added: commit.added,
            removed: commit.removed,
            modified: commit.modified,
          },
          commit.timestamp,
          false,
        ),
      );
    }
    default:
      return [];
  }
}

/**
 * The record of an issue. A full payload's absent optional fields take their defaults (no
 * labels, not locked...); in a partial one (`issues.pinned`), every field the payload does not
 * carry is unavailable, so the target keeps what it stores.
 */
function issueData(issue: Issue, repository: string): RecordData {
  const data = fullIssueData(issue, repository);
  if (FULL_ISSUE_FIELDS.every((field) => issue[field] !== undefined)) return data;
  for (const [field, from] of Object.entries(ISSUE_SOURCE_FIELDS))
    if (issue[from] === undefined) data[field] = GITHUB_UNAVAILABLE_VALUE;
  return data;
}

function fullIssueData(issue: Issue, repository: string): RecordData {
  return {
    kind: 'issue',
    id: issue.id,
    repository,
    number: issue.number ?? null,
    title: issue.title ?? null,
    body: issue.body ?? null,
    state: issue.state ?? null,
    state_reason: issue.state_reason ?? null,
    locked: issue.locked ?? false,
    labels: (issue.labels ?? []).map((l) => l.name),
    user: issue.user?.login ?? null,
    assignees: (issue.assignees ?? []).map((a) => a.login),
    milestone: issue.milestone?.title ?? null,
    comments: issue.comments ?? 0,
    is_pull_request: issue.pull_request !== undefined,
    html_url: issue.html_url ?? null,
    created_at: issue.created_at ?? null,
    updated_at: issue.updated_at,
    closed_at: issue.closed_at ?? null,
  };
}

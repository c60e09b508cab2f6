import * as z from 'zod';
import { compileRecordKey } from '../connectors/sources/support/rows.ts';
import type { SourceConfig } from '../pipeline/schema.ts';
import { makeEnvelope, type RecordData, type RecordEnvelope } from '../records/envelope.ts';
import { timestampVersion, toIsoMillis } from '../records/version.ts';
import { FULL_ISSUE_FIELDS, GITHUB_UNAVAILABLE_VALUE } from './github.ts';
import { parseAtEdge } from './parse.ts';

type GithubSource = Extract<SourceConfig, { type: 'github' }>;

/**
 * Webhook deliveries for a pipeline whose source polls the GitHub API (`source.type: github`
 * with `triggers.webhook`): the poll backfills and catches up, the webhook brings changes in
 * real time, into one target. A delivery's entity is taken as the API lists it (a webhook
 * payload's `issue`, `comment` or `pull_request` is the REST representation), so both channels
 * write the same record; its version is the entity's `updated_at` on the webhook channel. Two
 * changes of one second with other content (two deliveries, a poll and a delivery) are a tie
 * that Load settles by reading the entity again at the API (`usecases/source-ties.ts`).
 *
 * A payload that carries part of the entity (`issues.pinned`, `unpinned`: no `state`) is taken as
 * a partial update: every field of the REST representation it lacks is unavailable
 * (`GITHUB_UNAVAILABLE_VALUE`), so the target keeps the value it stores
 * (`usecases/unavailable-fields.ts`), as for the `github` webhook mapping. It needs only the key
 * fields and `updated_at`.
 *
 * A delete (`action: deleted`) is stamped with its arrival time: the payload's `updated_at` is
 * the last edit, which a poll read before the deletion carries too, and the deleted entity never
 * comes back (GitHub does not reuse ids), so a later stamp cannot hide a newer change.
 */

/** The event type and payload member of each resource the github source reads. */
export const GITHUB_RESOURCE_EVENTS = {
  issues: { event: 'issues', member: 'issue' },
  comments: { event: 'issue_comment', member: 'comment' },
  pulls: { event: 'pull_request', member: 'pull_request' },
} as const satisfies Record<GithubSource['resource'], { event: string; member: string }>;

const entitySchema = z.looseObject({ id: z.number().int(), updated_at: z.string().min(1) });

/** REST fields an issue and a pull request share (`id` and `updated_at` aside). */
const ISSUE_OR_PULL_FIELDS = [
  'url',
  'html_url',
  'node_id',
  'number',
  'title',
  'user',
  'labels',
  'state',
  'locked',
  'assignee',
  'assignees',
  'milestone',
  'created_at',
  'closed_at',
  'author_association',
  'active_lock_reason',
  'body',
  'draft',
] as const;

/**
 * Per resource, the fields every full representation carries (lacking one, a payload is partial)
 * and the fields of the REST representation (`id` and `updated_at` aside), which a partial
 * payload leaves unavailable when it lacks them.
 */
const ENTITY_FIELDS: Readonly<
  Record<GithubSource['resource'], { readonly full: readonly string[]; readonly rest: readonly string[] }>
> = {
  issues: {
    full: FULL_ISSUE_FIELDS,
    rest: [
      ...ISSUE_OR_PULL_FIELDS,
      'repository_url',
      'labels_url',
      'comments_url',
      'events_url',
      'state_reason',
      'comments',
      'reactions',
      'timeline_url',
      'performed_via_github_app',
      'pull_request',
    ],
  },
  pulls: {
    full: [...FULL_ISSUE_FIELDS, 'head', 'base'],
    rest: [
      ...ISSUE_OR_PULL_FIELDS,
      'diff_url',
      'patch_url',
      'issue_url',
      'commits_url',
      'review_comments_url',
      'review_comment_url',
      'statuses_url',
      'merged_at',
      'merge_commit_sha',
      'requested_reviewers',
      'requested_teams',
      'head',
      'base',
      '_links',
      'auto_merge',
    ],
  },
  comments: {
    full: ['body', 'html_url', 'created_at'],
    rest: [
      'url',
      'html_url',
      'issue_url',
      'node_id',
      'user',
      'created_at',
      'author_association',
      'body',
      'reactions',
      'performed_via_github_app',
    ],
  },
};

/** The entity as a record: a partial one with the REST fields it lacks marked unavailable. */
function entityData(entity: RecordData, resource: GithubSource['resource']): RecordData {
  const { full, rest } = ENTITY_FIELDS[resource];
  if (full.every((field) => entity[field] !== undefined)) return entity;
  const data: RecordData = { ...entity };
  for (const field of rest) if (data[field] === undefined) data[field] = GITHUB_UNAVAILABLE_VALUE;
  return data;
}

/** Why a delivery of `event` changes no record of this source, or `undefined` when it does. */
export function ignoredGithubSourceEvent(source: GithubSource, event: string): string | undefined {
  const taken = GITHUB_RESOURCE_EVENTS[source.resource].event;
  if (event === taken) return undefined;
  if (event === 'ping')
    return 'ping is the test delivery GitHub sends when a webhook is created; it carries no change';
  return `this pipeline reads github ${source.resource}, changed by ${taken} events; ${event} events change none of them`;
}

/** The change record of one delivery of the source's event type. */
export function mapGithubSourceDelivery(
  delivery: { readonly deliveryId: string; readonly payload: unknown; readonly receivedAt: Date },
  options: { readonly pipeline: string; readonly source: GithubSource },
): RecordEnvelope[] {
  const { event, member } = GITHUB_RESOURCE_EVENTS[options.source.resource];
  const schema = z.object({ action: z.string(), [member]: entitySchema });
  const payload = parseAtEdge(schema, delivery.payload, `github ${event} delivery`, 'body');
  const entity = payload[member] as RecordData & { updated_at: string };
  const key = compileRecordKey(options.source.key)(entity);
  const deleted = payload.action === 'deleted';
  const ts = toIsoMillis(deleted ? delivery.receivedAt : entity.updated_at);
  return [
    makeEnvelope({
      key,
      op: deleted ? 'delete' : 'upsert',
      version: timestampVersion(ts, deleted ? `${key}|deleted` : key, 'webhook'),
      ts,
      data: deleted ? null : entityData(entity, options.source.resource),
      provenance: { pipeline: options.pipeline, deliveryId: delivery.deliveryId },
    }),
  ];
}

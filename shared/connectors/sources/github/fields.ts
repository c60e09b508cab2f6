import type { SourceConfig } from '../../../pipeline/schema.ts';
import type { FieldInfo } from '../../types.ts';

type GithubResource = Extract<SourceConfig, { type: 'github' }>['resource'];

const COMMON_FIELDS: readonly FieldInfo[] = [
  { name: 'id', type: 'integer', nullable: false },
  { name: 'node_id', type: 'string', nullable: false },
  { name: 'html_url', type: 'string', nullable: false },
  { name: 'user', type: 'object', nullable: true },
  { name: 'body', type: 'string', nullable: true },
  { name: 'created_at', type: 'timestamp', nullable: false },
  { name: 'updated_at', type: 'timestamp', nullable: false },
];

const ISSUE_FIELDS: readonly FieldInfo[] = [
  ...COMMON_FIELDS,
  { name: 'number', type: 'integer', nullable: false },
  { name: 'title', type: 'string', nullable: false },
  { name: 'state', type: 'string', nullable: false },
  { name: 'labels', type: 'array', nullable: false },
  { name: 'assignees', type: 'array', nullable: false },
  { name: 'closed_at', type: 'timestamp', nullable: true },
];

/** The fields of each resource as the REST API lists them: what discover reports. */
export const GITHUB_FIELDS: Record<GithubResource, readonly FieldInfo[]> = {
  issues: [...ISSUE_FIELDS, { name: 'comments', type: 'integer', nullable: false }],
  pulls: [
    ...ISSUE_FIELDS,
    { name: 'draft', type: 'boolean', nullable: true },
    { name: 'merged_at', type: 'timestamp', nullable: true },
    { name: 'head', type: 'object', nullable: false },
    { name: 'base', type: 'object', nullable: false },
  ],
  comments: [...COMMON_FIELDS, { name: 'issue_url', type: 'string', nullable: false }],
};

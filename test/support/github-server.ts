import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';

/**
 * A local HTTP server that answers like the GitHub REST API for one repository: issues
 * (pull requests among them, as GitHub lists them), pull requests and issue comments,
 * built from the real payloads in events/github. It implements what the github source
 * relies on: one record by its URL (`/issues/{number}`, `/pulls/{number}`,
 * `/issues/comments/{id}`), `since`, `sort=updated`, `direction`, `per_page`/`page` with Link headers,
 * ETags with 304 answers, bearer tokens, rate-limit headers, and injected failures.
 * Ties in `updated_at` come newest id first, so a reader that trusts GitHub's tie order
 * gets caught.
 */

type Json = Record<string, unknown>;

const EVENTS = path.join(import.meta.dirname, '..', '..', 'events', 'github');
const payload = (name: string) => JSON.parse(readFileSync(path.join(EVENTS, `${name}.json`), 'utf8')) as Json;
const opened = payload('issues.opened');
const commented = payload('issue_comment.created');

export interface IssueSeed {
  readonly number: number;
  readonly updatedAt: string;
  readonly title?: string;
  /** A pull request: listed by /issues with a pull_request member, and by /pulls. */
  readonly pull?: boolean;
  /** Other fields of the issue as the API shows it (`milestone`, `labels`...). */
  readonly fields?: Json;
}

export interface CommentSeed {
  readonly id: number;
  readonly issueNumber: number;
  readonly updatedAt: string;
  readonly body?: string;
}

/** A canned failure answer. */
export interface InjectedResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export interface RecordedRequest {
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
  readonly ifNoneMatch: string | undefined;
  readonly authorization: string | undefined;
}

export interface GithubServer {
  /** Base URL to put in the source's `baseUrl`. */
  readonly url: string;
  readonly owner: string;
  readonly repo: string;
  /** Adds or replaces an issue (or pull request). */
  upsertIssue(seed: IssueSeed): void;
  upsertComment(seed: CommentSeed): void;
  /** Deletes an issue, as a repository admin can. */
  deleteIssue(number: number): void;
  /** The issue (or pull request) as /issues lists it. */
  issue(number: number): Json | undefined;
  /** Forgets every issue, comment, pending failure and recorded request. */
  reset(): void;
  /** The next `count` API requests get this answer instead. */
  failNext(response: InjectedResponse, count?: number): void;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface GithubServerOptions {
  readonly owner?: string;
  readonly repo?: string;
  /** When set, requests must carry `Authorization: Bearer <token>` (or `token <token>`). */
  readonly token?: string;
}

/**
 * A pipeline with two channels for one repository's issues: a poll of the issues API at `baseUrl`
 * (backfill, catch-up) and the repository webhook signed with the secret named `secret`.
 */
export function githubIssuesPipelineYaml(
  name: string,
  baseUrl: string,
  options: { readonly secret: string; readonly target?: string },
): string {
  return `name: ${name}
source:
  type: github
  owner: Codertocat
  repo: Hello-World
  baseUrl: ${baseUrl}
  resource: issues
  key: [id]
  cursor: [updated_at]
triggers:
  webhook:
    signature: github
    secret: ${options.secret}
target:
${options.target ?? '  type: dynamodb'}
`;
}

const toSeconds = (iso: string) => `${new Date(iso).toISOString().slice(0, 19)}Z`;

export async function startGithubServer(options: GithubServerOptions = {}): Promise<GithubServer> {
  const owner = options.owner ?? 'Codertocat';
  const repo = options.repo ?? 'Hello-World';
  const issues = new Map<number, Json>();
  const pulls = new Map<number, Json>();
  const comments = new Map<number, Json>();
  const failures: InjectedResponse[] = [];
  const requests: RecordedRequest[] = [];
  let remaining = 5000;
  let url = '';

  const apiRepo = () => `${url}/repos/${owner}/${repo}`;

  const repository = { ...(opened.repository as Json), name: repo, full_name: `${owner}/${repo}` };

  function issueOf(seed: IssueSeed): Json {
    const template = opened.issue as Json;
    const issue: Json = {
      ...template,
      id: 444_500_000 + seed.number,
      node_id: `I_${seed.number}`,
      number: seed.number,
      title: seed.title ?? `Issue ${seed.number}`,
      url: `${apiRepo()}/issues/${seed.number}`,
      html_url: `https://github.com/${owner}/${repo}/issues/${seed.number}`,
      ...seed.fields,
      updated_at: toSeconds(seed.updatedAt),
    };
    if (seed.pull)
      issue.pull_request = {
        url: `${apiRepo()}/pulls/${seed.number}`,
        html_url: `https://github.com/${owner}/${repo}/pull/${seed.number}`,
        merged_at: null,
      };
    return issue;
  }

  function pullOf(issue: Json): Json {
    const { pull_request: _links, comments: _count, ...rest } = issue;
    return {
      ...rest,
      url: `${apiRepo()}/pulls/${String(issue.number)}`,
      merged_at: null,
      head: {
        ref: `feature-${String(issue.number)}`,
        sha: createHash('sha1').update(String(issue.number)).digest('hex'),
      },
      base: { ref: 'main' },
    };
  }

  function list(items: Iterable<Json>, query: Record<string, string>): Json[] {
    let rows = [...items];
    if (query.since) {
      const since = Date.parse(query.since);
      rows = rows.filter((r) => Date.parse(String(r.updated_at)) >= since);
    }
    const state = query.state ?? 'open';
    if (state !== 'all') rows = rows.filter((r) => (r.state ?? 'open') === state);
    const field = query.sort === 'created' ? 'created_at' : 'updated_at';
    const sign = query.direction === 'asc' ? 1 : -1;
    return rows.sort((a, b) => {
      const order = sign * (Date.parse(String(a[field])) - Date.parse(String(b[field])));
      return order !== 0 ? order : Number(b.id) - Number(a.id);
    });
  }

  function paginate(req: URL, rows: Json[], res: ServerResponse): Json[] {
    const perPage = Math.min(100, Number(req.searchParams.get('per_page') ?? 30));
    const page = Math.max(1, Number(req.searchParams.get('page') ?? 1));
    const last = Math.max(1, Math.ceil(rows.length / perPage));
    const link = (n: number, rel: string) => {
      const target = new URL(req.toString());
      target.searchParams.set('page', String(n));
      return `<${target}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    if (links.length > 0) res.setHeader('link', links.join(', '));
    return rows.slice((page - 1) * perPage, page * perPage);
  }

  function answer(res: ServerResponse, target: URL): { status: number; body?: unknown } {
    const base = `/repos/${owner}/${repo}`;
    const p = target.pathname;
    const query = Object.fromEntries(target.searchParams);
    if (p === base) return { status: 200, body: repository };
    if (p === `${base}/issues`)
      return { status: 200, body: paginate(target, list(issues.values(), query), res) };
    if (p === `${base}/pulls`)
      return { status: 200, body: paginate(target, list(pulls.values(), query), res) };
    const one = /^\/(issues|pulls|issues\/comments)\/(\d+)$/.exec(p.slice(base.length));
    if (one) {
      const items = { issues, pulls, 'issues/comments': comments }[one[1] as 'issues'];
      const item = items.get(Number(one[2]));
      if (item) return { status: 200, body: item };
    }
    if (p === `${base}/issues/comments`)
      return {
        status: 200,
        body: paginate(target, list(comments.values(), { ...query, state: 'all' }), res),
      };
    return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } };
  }

  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', url);
    const ifNoneMatch = req.headers['if-none-match'];
    const authorization = req.headers.authorization;
    const record = (status: number) =>
      requests.push({
        path: target.pathname,
        query: Object.fromEntries(target.searchParams),
        status,
        ifNoneMatch,
        authorization,
      });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record(status);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const rateHeaders = () => ({
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
    });
    const failure = failures.shift();
    if (failure)
      return send(failure.status, failure.body ?? { message: 'injected failure' }, failure.headers);
    if (options.token) {
      const given = /^(?:Bearer|token) (.+)$/.exec(authorization ?? '')?.[1];
      if (given !== options.token)
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }
    const { status, body } = answer(res, target);
    if (status !== 200) return send(status, body, rateHeaders());
    const text = JSON.stringify(body);
    const etag = `W/"${createHash('sha1').update(text).digest('hex')}"`;
    if (ifNoneMatch === etag) {
      record(304);
      res.writeHead(304, { etag, ...rateHeaders() });
      return res.end();
    }
    remaining--;
    return send(200, body, { etag, ...rateHeaders() });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return {
    url,
    owner,
    repo,
    upsertIssue(seed) {
      const issue = issueOf(seed);
      issues.set(seed.number, issue);
      if (seed.pull) pulls.set(seed.number, pullOf(issue));
      else pulls.delete(seed.number);
    },
    deleteIssue(number) {
      issues.delete(number);
      pulls.delete(number);
    },
    issue: (number) => issues.get(number),
    upsertComment(seed) {
      const template = commented.comment as Json;
      comments.set(seed.id, {
        ...template,
        id: seed.id,
        node_id: `IC_${seed.id}`,
        issue_url: `${apiRepo()}/issues/${seed.issueNumber}`,
        html_url: `https://github.com/${owner}/${repo}/issues/${seed.issueNumber}#issuecomment-${seed.id}`,
        body: seed.body ?? `Comment ${seed.id}`,
        updated_at: toSeconds(seed.updatedAt),
      });
    },
    reset() {
      issues.clear();
      pulls.clear();
      comments.clear();
      failures.length = 0;
      requests.length = 0;
    },
    failNext(response, count = 1) {
      for (let i = 0; i < count; i++) failures.push(response);
    },
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

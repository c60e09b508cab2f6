import { advanceCursor, compareCursors } from '../../../domain/cursor.ts';
import { ConnectorError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import type {
  ChangeWindow,
  Cursor,
  Partition,
  SourceDiscovery,
  SourceRereader,
  SourceRow,
} from '../../types.ts';
import { describeUrl, EtagCache, HttpJsonClient, nextLink } from '../support/http-client.ts';
import type { RowMapper } from '../support/rows.ts';
import { bearerHeader } from '../support/secret-token.ts';
import { SourceBase, sourceFactory } from '../support/source-base.ts';
import { TieGroupPager } from '../support/tie-group-pager.ts';
import { GITHUB_FIELDS } from './fields.ts';

const CONNECTOR = 'github source';
/** GitHub orders and filters every resource read here by `updated_at`, so that is the cursor. */
const CURSOR_FIELD = 'updated_at';

/** GitHub's `since` takes whole seconds; rounding down only re-reads rows the window then filters out. */
function sinceParam(value: string | number | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const millis = Date.parse(value);
  return Number.isNaN(millis) ? undefined : `${new Date(millis).toISOString().slice(0, 19)}Z`;
}

/**
 * The GitHub source: issues (pull requests excluded), pull requests, or issue comments of
 * one repository through the REST API, in (updated_at, key) order. Issues and comments are
 * read with `since=` and `sort=updated&direction=asc`, following Link headers; pull
 * requests have no `since`, so an incremental read walks them newest first down to the
 * window start. Requests carry the ETag of the same URL's last answer: a 304 replays it
 * without spending rate limit. Rate limits wait for the reset the server names (up to a
 * minute inside a call), other failures are retried or reported with the URL.
 */
export class GithubSource extends SourceBase<'github'> implements SourceRereader {
  readonly #base =
    `${this.config.baseUrl.replace(/\/+$/, '')}/repos/${encodeURIComponent(this.config.owner)}/${encodeURIComponent(this.config.repo)}`;
  readonly #client = this.#newClient();

  async discover(): Promise<SourceDiscovery> {
    this.#checkCursor();
    const { body } = await this.#client.get(this.#base);
    const repo = body as { full_name?: unknown; open_issues_count?: unknown };
    if (typeof repo.full_name !== 'string')
      throw new ConnectorError(CONNECTOR, `${describeUrl(this.#base)} did not answer with a repository`);
    return {
      fields: GITHUB_FIELDS[this.config.resource],
      primaryKey: ['id'],
      capabilities: { incremental: true, deletes: this.config.deletes.mode, cdc: false },
    };
  }

  async *read(window: ChangeWindow, _partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    this.#checkCursor();
    const lower = resumeAfter ? advanceCursor(window.from, resumeAfter) : window.from;
    const mapper = this.rowMapper([CURSOR_FIELD]);
    if (this.config.resource === 'pulls' && lower) {
      yield* this.#readNewestFirst(mapper, lower, window.to);
      return;
    }
    const pager = new TieGroupPager(this.config.pageSize);
    let url: string | undefined = this.#listUrl('asc', this.config.pageSize, sinceParam(lower?.values[0]));
    while (url) {
      const page = await this.#client.get(url);
      let beyond = false;
      for (const row of this.#rows(page.body, mapper, url)) {
        if (lower && compareCursors(row.cursor, lower) <= 0) continue;
        if (window.to && compareCursors(row.cursor, window.to) > 0) {
          beyond = true;
          continue;
        }
        yield* pager.push(row);
      }
      url = beyond ? undefined : this.#sameOrigin(nextLink(page.link));
    }
    yield* pager.flush();
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    this.#checkCursor();
    const mapper = this.rowMapper([CURSOR_FIELD]);
    // A pull request is also an issue and may be the newest: a fine upper bound all the same.
    const url = this.#listUrl('desc', 1);
    const { body } = await this.#client.get(url);
    const [first] = this.#items(body, url, { pullRequests: true });
    return first ? mapper.row(first, describeUrl(url)).cursor : null;
  }

  /**
   * The issue, pull request or comment as the API shows it now, by its own URL (`/issues/{number}`,
   * `/pulls/{number}`, `/issues/comments/{id}`), found from a record of this source (a polled
   * row or a webhook entity, both the REST representation). Its version is the one a poll gives.
   * @throws ConnectorError when the record has no number (id), or the API does not answer with it
   */
  async reread(data: Readonly<RecordData>): Promise<SourceRow> {
    const url = this.#entityUrl(data);
    const { body } = await this.#client.get(url);
    const mapper = this.rowMapper([CURSOR_FIELD]);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ConnectorError(CONNECTOR, `${describeUrl(url)} did not answer with one record`);
    const row = mapper.row(
      body as RecordData,
      `${this.config.owner}/${this.config.repo} ${this.config.resource}`,
    );
    if (mapper.key(data, 'the record read again') !== mapper.key(row.data, describeUrl(url)))
      throw new ConnectorError(CONNECTOR, `${describeUrl(url)} answered with another record`);
    return row;
  }

  #newClient(): HttpJsonClient {
    const { owner, repo, token } = this.config;
    return new HttpJsonClient({
      connector: CONNECTOR,
      retry: this.context.retry,
      etags: new EtagCache(),
      credentialsHint: token
        ? `check the token in secret "${token.secret}" and its access to ${owner}/${repo}`
        : 'the source has no token: set source.token to a secret holding one',
      headers: async () => ({
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'esync',
        ...(await bearerHeader(this.context.secrets, token?.secret, CONNECTOR)),
      }),
    });
  }

  #entityUrl(data: Readonly<RecordData>): string {
    const { resource } = this.config;
    const field = resource === 'comments' ? 'id' : 'number';
    const id = data[field];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0)
      throw new ConnectorError(
        CONNECTOR,
        `a github ${resource} record without a ${field} cannot be read again`,
      );
    return `${this.#base}${resource === 'comments' ? '/issues/comments' : `/${resource}`}/${id}`;
  }

  async *#readNewestFirst(
    mapper: RowMapper,
    lower: Cursor,
    upper: Cursor | null,
  ): AsyncIterable<SourceRow[]> {
    const rows: SourceRow[] = [];
    const size = this.config.pageSize;
    let url: string | undefined = this.#listUrl('desc', size);
    while (url) {
      const page = await this.#client.get(url);
      let older = false;
      for (const row of this.#rows(page.body, mapper, url)) {
        if (compareCursors({ values: row.cursor.values, key: '' }, { values: lower.values, key: '' }) < 0)
          older = true;
        else if (compareCursors(row.cursor, lower) > 0 && (!upper || compareCursors(row.cursor, upper) <= 0))
          rows.push(row);
      }
      url = older ? undefined : this.#sameOrigin(nextLink(page.link));
    }
    rows.sort((a, b) => compareCursors(a.cursor, b.cursor));
    for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
  }

  #listUrl(direction: 'asc' | 'desc', perPage: number, since?: string): string {
    const path = this.config.resource === 'comments' ? '/issues/comments' : `/${this.config.resource}`;
    const params = new URLSearchParams({ sort: 'updated', direction, per_page: String(perPage) });
    if (this.config.resource !== 'comments') params.set('state', 'all');
    if (since && this.config.resource !== 'pulls') params.set('since', since);
    return `${this.#base}${path}?${params}`;
  }

  #items(body: unknown, url: string, options: { pullRequests?: boolean } = {}): RecordData[] {
    if (!Array.isArray(body))
      throw new ConnectorError(CONNECTOR, `${describeUrl(url)} did not answer with a list`);
    const items = body.filter((item): item is RecordData => typeof item === 'object' && item !== null);
    // The issues API lists pull requests too; they carry a pull_request member.
    if (this.config.resource !== 'issues' || options.pullRequests) return items;
    return items.filter((item) => item.pull_request === undefined);
  }

  #rows(body: unknown, mapper: RowMapper, url: string): SourceRow[] {
    const where = `${this.config.owner}/${this.config.repo} ${this.config.resource}`;
    return this.#items(body, url).map((item) => mapper.row(item, where));
  }

  /** Follows a next link only on the API's own origin, so the token is never sent elsewhere. */
  #sameOrigin(next: string | undefined): string | undefined {
    if (next === undefined) return undefined;
    if (new URL(next).origin !== new URL(this.#base).origin)
      throw new ConnectorError(
        CONNECTOR,
        `the next-page link leads to another origin (${new URL(next).origin}); not followed`,
      );
    return next;
  }

  #checkCursor(): void {
    const cursor = this.config.cursor;
    if (cursor.length > 1 || (cursor[0] !== undefined && cursor[0] !== CURSOR_FIELD))
      throw new ConnectorError(
        CONNECTOR,
        `the cursor of a github source is [updated_at] (or none), not [${cursor.join(', ')}]`,
      );
  }
}

/** Creates the GitHub source. */
export const createGithubSource = sourceFactory<'github'>(GithubSource);

import { advanceCursor, compareCursors } from '../../../domain/cursor.ts';
import { toInstant } from '../../../domain/instant.ts';
import { ConnectorError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import type { ChangeWindow, Cursor, Partition, SourceDiscovery, SourceRow } from '../../types.ts';
import { describeUrl, HttpJsonClient, type JsonPage, nextLink } from '../support/http-client.ts';
import { bearerHeader } from '../support/secret-token.ts';
import { SourceBase, sourceFactory } from '../support/source-base.ts';
import { TieGroupPager } from '../support/tie-group-pager.ts';
import { readRecordsPath } from './records-path.ts';

const CONNECTOR = 'http source';
/** Rows per page handed to the caller (server pages are re-paged to keep cursor order). */
const PAGE_ROWS = 500;

const valuesOnly = (cursor: Cursor): Cursor => ({ values: cursor.values, key: '' });

/**
 * A generic paginated JSON API. Pages are followed by a next cursor in the body, a page
 * number, or the Link header; the records sit at `recordsPath`.
 *
 * With cursor fields the API must list records in ascending cursor order (as `sort=updated`
 * APIs do); ties may come in any order and straddle pages: they are held back and sorted by
 * key. A record out of order is an error rather than a silent skip. `sinceParam` passes the
 * window start so only changes are listed; without it every page is read and filtered. The
 * high watermark of a timestamp cursor is the current time (with an empty key, so rows
 * stamped exactly then fall into the next window).
 *
 * Without cursor fields each run is a full read in the API's own order; a resume re-reads
 * from the first page and skips up to the record it stopped after.
 */
export class HttpSource extends SourceBase<'http'> {
  readonly #client = this.#newClient();

  async discover(): Promise<SourceDiscovery> {
    const page = await this.#client.get(this.config.url);
    const [first] = this.#records(page);
    const mapper = this.rowMapper();
    if (first) mapper.row(first, `first record of ${describeUrl(this.config.url)}`);
    return {
      fields: Object.entries(first ?? {}).map(([name, value]) => ({
        name,
        type: value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value,
        nullable: value === null,
      })),
      primaryKey: [],
      capabilities: {
        incremental: this.config.cursor.length > 0,
        deletes: this.config.deletes.mode,
        cdc: false,
      },
    };
  }

  read(window: ChangeWindow, _partition: Partition, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    return this.config.cursor.length > 0
      ? this.#readOrdered(window, resumeAfter)
      : this.#readListing(resumeAfter);
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    const field = this.config.cursor[0];
    if (field === undefined) return null;
    const [first] = this.#records(await this.#client.get(this.config.url));
    if (!first) return null;
    const row = this.rowMapper().row(first, `first record of ${describeUrl(this.config.url)}`);
    const value = row.cursor.values[0];
    // Only a time can be bounded without reading everything; a numeric cursor reads to the end.
    if (typeof value !== 'string' || toInstant(value) === undefined) return null;
    return { values: [this.now().toISOString(), ...row.cursor.values.slice(1)], key: '' };
  }

  #newClient(): HttpJsonClient {
    const auth = this.config.auth;
    return new HttpJsonClient({
      connector: CONNECTOR,
      retry: this.context.retry,
      credentialsHint: auth
        ? `check the token in secret "${auth.secret}"`
        : 'the source has no auth: set source.auth to a secret holding a token',
      headers: async () => ({
        ...this.config.headers,
        ...(await bearerHeader(this.context.secrets, auth?.secret, CONNECTOR)),
      }),
    });
  }

  async *#readOrdered(window: ChangeWindow, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const lower = resumeAfter ? advanceCursor(window.from, resumeAfter) : window.from;
    const mapper = this.rowMapper();
    const pager = new TieGroupPager(PAGE_ROWS);
    let newest: SourceRow | undefined;
    let beyond = false;
    for await (const page of this.#pages(lower)) {
      for (const data of this.#records(page)) {
        const row = mapper.row(data, `record of ${describeUrl(page.url)}`);
        if (newest && compareCursors(valuesOnly(row.cursor), valuesOnly(newest.cursor)) < 0)
          throw new ConnectorError(
            CONNECTOR,
            `${describeUrl(page.url)} listed ${row.cursor.key} (${this.config.cursor.join(', ')} = ${row.cursor.values.join(', ')}) after ${newest.cursor.key} (${newest.cursor.values.join(', ')}); the API must list records in ascending ${this.config.cursor.join(', ')} order`,
          );
        newest = row;
        if (lower && compareCursors(row.cursor, lower) <= 0) continue;
        if (window.to && compareCursors(row.cursor, window.to) > 0) {
          beyond = true;
          continue;
        }
        yield* pager.push(row);
      }
      if (beyond) break;
    }
    yield* pager.flush();
  }

  async *#readListing(resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const mapper = this.rowMapper();
    let skipping = resumeAfter !== undefined;
    for await (const page of this.#pages(null)) {
      const rows: SourceRow[] = [];
      for (const data of this.#records(page)) {
        const where = `record of ${describeUrl(page.url)}`;
        const key = mapper.key(data, where);
        if (skipping) {
          skipping = key !== resumeAfter?.key;
          continue;
        }
        rows.push(mapper.rowWith(data, key, { values: [], key }));
      }
      if (rows.length > 0) yield rows;
    }
    if (skipping)
      throw new ConnectorError(
        CONNECTOR,
        `cannot resume after record ${resumeAfter?.key}: ${describeUrl(this.config.url)} no longer lists it; run the window again`,
      );
  }

  /** Every page of the listing, from the first URL (with the window start when `sinceParam` is set). */
  async *#pages(lower: Cursor | null): AsyncIterable<JsonPage> {
    const pagination = this.config.pagination;
    const first = new URL(this.config.url);
    const since = lower?.values[0];
    if (this.config.sinceParam && since !== undefined)
      first.searchParams.set(this.config.sinceParam, String(since));
    if (pagination.type === 'page') {
      first.searchParams.set(pagination.sizeParam, String(pagination.size));
      for (let number = 1; ; number++) {
        first.searchParams.set(pagination.param, String(number));
        const page = await this.#client.get(first.toString());
        yield page;
        if (this.#records(page).length < pagination.size) return;
      }
    }
    let url: string | undefined = first.toString();
    const seen = new Set<string>();
    while (url) {
      const page = await this.#client.get(url);
      yield page;
      if (this.#records(page).length === 0) return;
      url =
        pagination.type === 'link'
          ? this.#follow(nextLink(page.link), url)
          : this.#cursorUrl(page, first, pagination);
      if (url !== undefined && seen.has(url))
        throw new ConnectorError(
          CONNECTOR,
          `${describeUrl(url)} pointed back to a page already read; the listing loops`,
        );
      if (url !== undefined) seen.add(url);
    }
  }

  #cursorUrl(
    page: JsonPage,
    first: URL,
    pagination: { param: string; cursorPath: string },
  ): string | undefined {
    const next = readRecordsPath(page.body, pagination.cursorPath);
    if (next === undefined || next === null || next === '' || next === false) return undefined;
    if (typeof next !== 'string' && typeof next !== 'number')
      throw new ConnectorError(
        CONNECTOR,
        `${describeUrl(page.url)}: the next cursor at "${pagination.cursorPath}" is not a string or number`,
      );
    const url = new URL(first.toString());
    url.searchParams.set(pagination.param, String(next));
    return url.toString();
  }

  /** Follows a Link header only on the API's own origin, so credentials are never sent elsewhere. */
  #follow(next: string | undefined, current: string): string | undefined {
    if (next === undefined) return undefined;
    const url = new URL(next, current);
    if (url.origin !== new URL(this.config.url).origin)
      throw new ConnectorError(
        CONNECTOR,
        `the next-page link leads to another origin (${url.origin}); not followed`,
      );
    return url.toString();
  }

  #records(page: JsonPage): RecordData[] {
    const records = readRecordsPath(page.body, this.config.recordsPath);
    const path = this.config.recordsPath || '(the page itself)';
    if (!Array.isArray(records))
      throw new ConnectorError(CONNECTOR, `${describeUrl(page.url)}: no array of records at ${path}`);
    for (const [index, record] of records.entries())
      if (typeof record !== 'object' || record === null || Array.isArray(record))
        throw new ConnectorError(
          CONNECTOR,
          `${describeUrl(page.url)}: record ${index} at ${path} is not an object`,
        );
    return records as RecordData[];
  }
}

/** Creates the generic HTTP source. */
export const createHttpSource = sourceFactory<'http'>(HttpSource);

import { createServer, type Server } from 'node:http';

/**
 * A local JSON API of the kind the http source reads: records listed in ascending
 * `updated_at` order (ties newest id first, to catch readers that trust tie order), with a
 * `since` filter, and pages reached by a next cursor in the body, by page number, or by Link
 * headers. Bearer-token auth, injected failures and a request log make retries and errors
 * observable.
 *
 * Responses look like `{"data": {"items": [...]}, "next": "<cursor>" | null}`.
 */

export interface ApiRecord {
  readonly id: number;
  readonly name: string;
  readonly updated_at: string;
}

export interface InjectedApiResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export interface ApiRequest {
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
}

export interface HttpApiServer {
  /** URL of the listing: `<origin>/items`. */
  readonly url: string;
  upsert(record: ApiRecord): void;
  /** Lists newest first from now on (an API the source must refuse to trust). */
  listDescending(descending: boolean): void;
  failNext(response: InjectedApiResponse, count?: number): void;
  reset(): void;
  readonly requests: ApiRequest[];
  close(): Promise<void>;
}

export interface HttpApiServerOptions {
  /** Records per page for cursor and link pagination (page pagination takes per_page). @default 3 */
  readonly pageSize?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export async function startHttpApiServer(options: HttpApiServerOptions = {}): Promise<HttpApiServer> {
  const pageSize = options.pageSize ?? 3;
  const records = new Map<number, ApiRecord>();
  const failures: InjectedApiResponse[] = [];
  const requests: ApiRequest[] = [];
  let descending = false;
  let origin = '';

  const listing = (since: string | null) =>
    [...records.values()]
      .filter((r) => since === null || Date.parse(r.updated_at) >= Date.parse(since))
      .sort((a, b) => {
        const order = Date.parse(a.updated_at) - Date.parse(b.updated_at);
        return (descending ? -order : order) || b.id - a.id;
      });

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const query = Object.fromEntries(url.searchParams);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      requests.push({ path: url.pathname, query, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const failure = failures.shift();
    if (failure) return send(failure.status, failure.body ?? { error: 'injected' }, failure.headers);
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`)
      return send(401, { error: 'invalid token' });
    if (url.pathname !== '/items') return send(404, { error: `no route ${url.pathname}` });
    const rows = listing(url.searchParams.get('since'));
    if (url.searchParams.has('page')) {
      const size = Number(url.searchParams.get('per_page') ?? pageSize);
      const page = Number(url.searchParams.get('page'));
      return send(200, { data: { items: rows.slice((page - 1) * size, page * size) } });
    }
    const offset = Number(url.searchParams.get('cursor') ?? url.searchParams.get('offset') ?? 0);
    const items = rows.slice(offset, offset + pageSize);
    const more = offset + pageSize < rows.length;
    const headers: Record<string, string> = {};
    if (more) {
      const next = new URL(url.toString());
      next.searchParams.delete('cursor');
      next.searchParams.set('offset', String(offset + pageSize));
      headers.link = `<${next.pathname}${next.search}>; rel="next"`;
    }
    return send(200, { data: { items }, next: more ? String(offset + pageSize) : null }, headers);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return {
    url: `${origin}/items`,
    upsert(record) {
      records.set(record.id, record);
    },
    listDescending(value) {
      descending = value;
    },
    failNext(response, count = 1) {
      for (let i = 0; i < count; i++) failures.push(response);
    },
    reset() {
      records.clear();
      failures.length = 0;
      requests.length = 0;
      descending = false;
    },
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

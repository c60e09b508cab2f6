import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** One request as the server received it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path with the key still URL-encoded, e.g. `/users/a%2Fb`. */
  readonly path: string;
  /** The decoded key the path names (undefined when it names none). */
  readonly key: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Status the server answered. */
  readonly status: number;
}

/** A failure to answer instead of doing the work. */
export interface InjectedFailure {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface HttpTargetServerOptions {
  /** When set, requests must carry `Authorization: Bearer <token>` or get 401. */
  readonly token?: string;
  /**
   * When true, a PUT or DELETE whose `ESync-Version` is not newer than the stored one gets 409,
   * as an API that orders changes itself would answer.
   */
  readonly versionGate?: boolean;
  /** Milliseconds the server takes to answer each request, so requests overlap. @default 0 */
  readonly latencyMs?: number;
}

/**
 * A small HTTP API standing in for a customer's service in tests of the HTTP target: it stores
 * records under `/<collection>/<key>` (PUT, GET, DELETE), answers a repeated Idempotency-Key
 * with its first answer, records every request, and can be told to fail the next requests
 * (429 with Retry-After, 503...).
 */
export class HttpTargetServer {
  readonly requests: RecordedRequest[] = [];
  /** Stored records by decoded key: the body and the version sent with it. */
  readonly records = new Map<string, { body: unknown; version: string | undefined }>();
  readonly #options: HttpTargetServerOptions;
  readonly #failures: InjectedFailure[] = [];
  readonly #idempotent = new Map<string, number>();
  #server: Server | undefined;
  #port = 0;
  #connections = 0;
  #inFlight = 0;
  #maxInFlight = 0;

  constructor(options: HttpTargetServerOptions = {}) {
    this.#options = options;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** TCP connections clients opened so far (keep-alive reuses one for many requests). */
  get connections(): number {
    return this.#connections;
  }

  /** The most requests the server was answering at once. */
  get maxInFlight(): number {
    return this.#maxInFlight;
  }

  /** Starts counting {@link maxInFlight} afresh. */
  resetMaxInFlight(): void {
    this.#maxInFlight = this.#inFlight;
  }

  /** Makes the next requests fail, one failure each, in order. */
  failNext(...failures: InjectedFailure[]): void {
    this.#failures.push(...failures);
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      this.#inFlight++;
      this.#maxInFlight = Math.max(this.#maxInFlight, this.#inFlight);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        if (this.#options.latencyMs) await new Promise((r) => setTimeout(r, this.#options.latencyMs));
        this.#inFlight--;
        const body = Buffer.concat(chunks).toString('utf8');
        const answer = this.#answer(req.method ?? 'GET', req.url ?? '/', req.headers, body);
        const path = req.url ?? '/';
        this.requests.push({
          method: req.method ?? 'GET',
          path,
          key: keyOf(path),
          headers: req.headers,
          body,
          status: answer.status,
        });
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body ?? '');
      });
    });
    server.on('connection', () => {
      this.#connections++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.#port = typeof address === 'object' && address ? address.port : 0;
    this.#server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #answer(method: string, path: string, headers: IncomingHttpHeaders, body: string): InjectedFailure {
    const failure = this.#failures.shift();
    if (failure) return failure;
    if (this.#options.token !== undefined && headers.authorization !== `Bearer ${this.#options.token}`)
      return { status: 401, body: JSON.stringify({ message: 'bad credentials' }) };
    const key = keyOf(path);
    if (key === undefined) return { status: 404 };
    const idempotencyKey = headers['idempotency-key'];
    if (typeof idempotencyKey === 'string') {
      const first = this.#idempotent.get(idempotencyKey);
      if (first !== undefined) return { status: first };
    }
    const answer = this.#apply(method, key, headers, body);
    if (typeof idempotencyKey === 'string' && answer.status < 500)
      this.#idempotent.set(idempotencyKey, answer.status);
    return answer;
  }

  #apply(method: string, key: string, headers: IncomingHttpHeaders, body: string): InjectedFailure {
    const version = typeof headers['esync-version'] === 'string' ? headers['esync-version'] : undefined;
    const stored = this.records.get(key);
    if (method === 'GET') {
      if (!stored || stored.body === null) return { status: 404 };
      return {
        status: 200,
        body: JSON.stringify(stored.body),
        headers: stored.version ? { 'esync-version': stored.version } : {},
      };
    }
    if (
      this.#options.versionGate &&
      stored?.version !== undefined &&
      version !== undefined &&
      version <= stored.version
    )
      return { status: 409, body: JSON.stringify({ message: 'a newer version is stored' }) };
    if (method === 'PUT') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return { status: 400, body: JSON.stringify({ message: 'body is not JSON' }) };
      }
      if (typeof parsed === 'object' && parsed !== null && 'invalid' in parsed)
        return { status: 422, body: JSON.stringify({ message: 'field "invalid" is not accepted' }) };
      this.records.set(key, { body: parsed, version });
      return { status: stored ? 200 : 201 };
    }
    if (method === 'DELETE') {
      if (!stored) return { status: 404 };
      if (this.#options.versionGate) this.records.set(key, { body: null, version });
      else this.records.delete(key);
      return { status: 204 };
    }
    return { status: 405 };
  }
}

function keyOf(path: string): string | undefined {
  const match = /^\/[^/]+\/([^/?]+)/.exec(path);
  return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
}

import type { RetryOptions } from '../../../domain/retry.ts';
import { ConnectorError, TransientError } from '../../../errors.ts';
import { parseExactJson } from '../../../records/exact-json.ts';
import { RateLimitExhaustedError, retrying, UNREACHABLE_CODES, UnreachableError } from './retrying.ts';

/** A page as the server sent it (or as it was cached, when the server answered 304). */
export interface JsonPage {
  readonly url: string;
  readonly body: unknown;
  /** The Link header, kept with a cached page so a 304 still leads to the next page. */
  readonly link: string | null;
  readonly notModified: boolean;
}

interface CachedPage {
  readonly etag: string;
  readonly body: unknown;
  readonly link: string | null;
}

/**
 * Pages by URL with their ETag, so a repeated request asks `If-None-Match` and a 304 (which
 * GitHub does not count against the rate limit) replays the page. Bounded: the oldest entry
 * goes first.
 */
export class EtagCache {
  readonly #entries = new Map<string, CachedPage>();
  constructor(readonly maxEntries = 256) {}

  get(url: string): CachedPage | undefined {
    return this.#entries.get(url);
  }

  set(url: string, page: CachedPage): void {
    this.#entries.delete(url);
    this.#entries.set(url, page);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

export interface HttpJsonClientOptions {
  readonly connector: string;
  readonly retry: RetryOptions;
  /** Headers of every request (authorization included), resolved once on first use. */
  readonly headers: () => Promise<Record<string, string>>;
  /** What to tell a person about the credentials when the server refuses them. */
  readonly credentialsHint: string;
  /**
   * Longest rate-limit wait taken inside one call; a later reset leaves as a TransientError
   * carrying `retryAfterMs`, for the caller's redelivery to come back then.
   * @default 60000
   */
  readonly maxRateLimitWaitMs?: number;
  /** @default 30000 */
  readonly timeoutMs?: number;
  readonly etags?: EtagCache;
  readonly now?: () => number;
}

/** `origin/path` of a URL: what a message may show (the query can carry keys). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Parses `Retry-After`: delay seconds or an HTTP date. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * How long a response asks us to wait, when it is a rate limit: `Retry-After`, or an
 * exhausted quota (`x-ratelimit-remaining: 0`) until `x-ratelimit-reset` (epoch seconds),
 * or GitHub's secondary limit (403 whose message names a rate limit: at least a minute).
 * `undefined` when the response is not a rate limit.
 */
export function rateLimitDelay(
  status: number,
  headers: Headers,
  bodyText: string,
  now: number,
): number | undefined {
  if (status !== 429 && status !== 403) return undefined;
  const after = retryAfterMs(headers.get('retry-after'), now);
  if (after !== undefined) return after;
  const reset = headers.get('x-ratelimit-reset');
  if (headers.get('x-ratelimit-remaining') === '0' && reset !== null && /^\d+$/.test(reset))
    return Math.max(0, Number(reset) * 1000 - now);
  if (status === 403 && /rate limit/i.test(bodyText)) return 60_000;
  return status === 429 ? 0 : undefined;
}

/** The `rel="next"` target of a Link header. */
export function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (match && /\brel="?([^"]*\s)?next(\s[^"]*)?"?/.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    const error = body.error as { message?: unknown } | string | undefined;
    const said = body.message ?? (typeof error === 'object' ? error?.message : error);
    if (typeof said === 'string') return said.slice(0, 200);
  } catch {
    // not JSON: show the start of the text
  }
  return text.slice(0, 200);
}

/**
 * GETs JSON pages with the pipeline's retry policy: 5xx, timeouts and dropped connections
 * are retried with backoff; rate limits wait what the server asks (bounded); 401/403/404
 * and other client errors are permanent and say which URL and what the server said.
 */
export class HttpJsonClient {
  readonly #options: HttpJsonClientOptions;
  #headers: Promise<Record<string, string>> | undefined;

  constructor(options: HttpJsonClientOptions) {
    this.#options = options;
  }

  get(url: string): Promise<JsonPage> {
    return retrying(this.#options.connector, this.#options.retry, () => this.#attempt(url));
  }

  async #attempt(url: string): Promise<JsonPage> {
    const o = this.#options;
    const now = o.now ?? Date.now;
    if (!this.#headers) {
      this.#headers = o.headers();
      this.#headers.catch(() => {
        this.#headers = undefined;
      });
    }
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.#headers) };
    const cached = o.etags?.get(url);
    if (cached) headers['if-none-match'] = cached.etag;
    const where = describeUrl(url);
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
    } catch (error) {
      const e = error as { name?: string; cause?: { code?: string } };
      const code = e.cause?.code ?? '';
      if (UNREACHABLE_CODES.has(code))
        throw new UnreachableError(`cannot reach ${where} (${code})`, { cause: error });
      if (e.name === 'TimeoutError') throw new TransientError(`GET ${where} timed out`, { cause: error });
      throw new TransientError(`GET ${where} failed: ${code || (error as Error).message}`, { cause: error });
    }
    if (response.status === 304 && cached) {
      await response.body?.cancel();
      return { url, body: cached.body, link: cached.link, notModified: true };
    }
    const text = await response.text();
    if (response.ok) {
      let body: unknown;
      try {
        body = parseExactJson(text);
      } catch (error) {
        throw new ConnectorError(o.connector, `GET ${where} did not return JSON (HTTP ${response.status})`, {
          cause: error,
        });
      }
      const link = response.headers.get('link');
      const etag = response.headers.get('etag');
      if (etag && o.etags) o.etags.set(url, { etag, body, link });
      return { url, body, link, notModified: false };
    }
    const status = response.status;
    const wait = rateLimitDelay(status, response.headers, text, now());
    if (wait !== undefined) {
      const max = o.maxRateLimitWaitMs ?? 60_000;
      const message = `GET ${where} was rate limited (HTTP ${status}); retry in ${Math.ceil(wait / 1000)} s`;
      if (wait > max) throw new RateLimitExhaustedError(message, wait);
      throw new TransientError(message, { retryAfterMs: wait });
    }
    if (status >= 500 || status === 408)
      throw new TransientError(`GET ${where} failed with HTTP ${status}`, {
        retryAfterMs: retryAfterMs(response.headers.get('retry-after'), now()),
      });
    const said = serverMessage(text);
    if (status === 401)
      throw new ConnectorError(
        o.connector,
        `GET ${where} was refused as unauthorized (HTTP 401: ${said}); ${o.credentialsHint}`,
      );
    if (status === 403)
      throw new ConnectorError(
        o.connector,
        `GET ${where} is forbidden (HTTP 403: ${said}); ${o.credentialsHint}`,
      );
    if (status === 404)
      throw new ConnectorError(o.connector, `GET ${where} found nothing (HTTP 404: ${said})`);
    throw new ConnectorError(o.connector, `GET ${where} failed with HTTP ${status}: ${said}`);
  }
}

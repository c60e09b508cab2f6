import { withRetry } from '../../../domain/retry.ts';
import {
  ConfigError,
  ConnectorError,
  EsyncError,
  isRetryable,
  TransientError,
  ValidationError,
} from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { parseExactJson, stringifyExactJson } from '../../../records/exact-json.ts';
import { contentHash } from '../../../records/hash.ts';
import type { TargetSnapshotRecord, TargetState, TargetWrite, WriteOutcome } from '../../types.ts';
import { mapWithConcurrency, newestPerKey, outcomesInOrder } from '../support/batch.ts';
import { toJsonRecord } from '../support/json-value.ts';
import { TargetBase, targetFactory } from '../support/target-base.ts';
import { WriteLimit } from '../support/write-limit.ts';

/** Response header (and request header) carrying the record's ESync version. */
export const VERSION_HEADER = 'esync-version';

/** A key no API holds, fetched by `discover()` to check reachability and credentials. */
const DISCOVER_PROBE_KEY = 'esync-discover-probe';

/** How much of an error response body goes into an error message. */
const ERROR_BODY_CHARS = 300;

/** The answer to one request, classified. */
type Answer = {
  readonly status: 'applied' | 'stale' | 'absent';
  readonly body?: string;
  readonly headers?: Headers;
};

/**
 * HTTP API target: `PUT <url>` with the record as JSON body, `DELETE <url>` for deletes, where
 * `{key}` in the URL template is the URL-encoded record key. Each request carries
 * `Idempotency-Key: <messageKey>:<key>:<version>` (the same for every retry and redelivery of one
 * change, so the API can drop repeats) and `ESync-Version: <version>` (so the API can refuse an
 * older version itself).
 *
 * Answers: 2xx applied (404 to a DELETE too: already gone); 409 and 412 stale (the API holds a
 * newer version); 429 and 5xx retried with backoff, honouring `Retry-After`; 401 and 403 stop the
 * batch (credentials are wrong for every record); other 4xx fail that record with the status and
 * the start of the body.
 *
 * At most `concurrency` (and `load.writeConcurrency`) requests are in flight, one per key at a
 * time, halved while the API answers 429 (see {@link WriteLimit}); fetch keeps its connections
 * alive, so a batch reuses them instead of opening one per request.
 *
 * Verify: an HTTP API cannot be listed, so {@link snapshot} refuses (set `verify.mode: off`).
 */
export class HttpTarget extends TargetBase<'http'> {
  #token: Promise<string | undefined> | undefined;

  readonly #writes = new WriteLimit(
    Math.min(this.config.concurrency, this.context.pipeline.load.writeConcurrency),
  );

  /**
   * Probes the API with a GET of a key that does not exist: any answer but 401/403 shows it is
   * reachable and accepts the token (404 and 405 are expected answers).
   */
  async discover(): Promise<{ exists: boolean; detail: string }> {
    const url = this.#urlOf(DISCOVER_PROBE_KEY);
    const token = await this.#bearerToken();
    let status: number;
    try {
      const response = await withRetry(async () => {
        try {
          return await fetch(url, {
            method: 'GET',
            headers: {
              ...this.config.headers,
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
            },
            signal: AbortSignal.timeout(this.config.timeoutMs),
          });
        } catch (error) {
          throw new TransientError(`http: GET ${url} got no answer (${describeFetchError(error)})`, {
            cause: error,
          });
        }
      }, this.context.retry);
      status = response.status;
      await response.body?.cancel();
    } catch (error) {
      if (error instanceof EsyncError) throw error;
      throw new ConnectorError('http', `GET ${url} failed: ${(error as Error).message}`, { cause: error });
    }
    if (status === 401 || status === 403)
      throw new ConnectorError(
        'http',
        `GET ${url} answered ${status}: the API refuses ${this.config.auth ? `the token in secret "${this.config.auth.secret}"` : 'requests without a token (set target.auth)'}`,
      );
    return {
      exists: true,
      detail: `${this.config.url} (${this.config.auth ? 'bearer token' : 'no authentication'}) answers GET with ${status}`,
    };
  }

  /**
   * With `readState: get`, GETs every key (200: the body is the record, `ESync-Version` its version;
   * 404: absent). Otherwise returns an empty map: the API keeps no ESync state to compare with.
   */
  async readState(
    keys: readonly string[],
    options: { withData: boolean },
  ): Promise<Map<string, TargetState>> {
    const state = new Map<string, TargetState>();
    if (this.config.readState === 'none') return state;
    const unique = [...new Set(keys)];
    const answers = await mapWithConcurrency(unique, this.config.concurrency, (key) =>
      this.#request('GET', key, undefined, undefined),
    );
    for (const [i, answer] of answers.entries()) {
      if (answer.status === 'absent') continue;
      const key = unique[i] as string;
      let data: RecordData;
      try {
        const parsed: unknown = parseExactJson(answer.body ?? '');
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new TypeError('not an object');
        data = parsed as RecordData;
      } catch {
        throw new ConnectorError('http', `GET ${this.#urlOf(key)} did not answer a JSON object`);
      }
      state.set(key, {
        version: answer.headers?.get(VERSION_HEADER) ?? '',
        hash: contentHash(data),
        deleted: false,
        ...(options.withData ? { data } : {}),
      });
    }
    return state;
  }

  async write(writes: readonly TargetWrite[]): Promise<WriteOutcome[]> {
    // Two changes of one key sent side by side could arrive in either order: only the newest is sent.
    const { winners, superseded } = newestPerKey(writes);
    const outcomes = new Map<TargetWrite, WriteOutcome>();
    for (const write of superseded) outcomes.set(write, { key: write.key, status: 'stale' });
    const results = await Promise.all(
      winners.map((write) => this.#writes.run(write.key, () => this.#send(write))),
    );
    for (const [i, write] of winners.entries()) outcomes.set(write, results[i] as WriteOutcome);
    for (const outcome of results)
      if (outcome.status === 'failed' && outcome.error instanceof ConnectorError) throw outcome.error;
    return outcomesInOrder(writes, outcomes);
  }

  async #send(write: TargetWrite): Promise<WriteOutcome> {
    try {
      if (write.op === 'upsert' && write.data === null)
        throw new ValidationError(`http: upsert of key "${write.key}" has no data`);
      const body = write.op === 'upsert' ? stringifyExactJson(toJsonRecord(write.data ?? {})) : undefined;
      const answer = await this.#request(write.op === 'upsert' ? 'PUT' : 'DELETE', write.key, body, {
        'idempotency-key': `${write.messageKey}:${write.key}:${write.version}`,
        [VERSION_HEADER]: write.version,
      });
      return { key: write.key, status: answer.status === 'stale' ? 'stale' : 'applied' };
    } catch (error) {
      return { key: write.key, status: 'failed', error };
    }
  }

  #urlOf(key: string): string {
    return this.config.url.replaceAll('{key}', encodeURIComponent(key));
  }

  async #request(
    method: 'GET' | 'PUT' | 'DELETE',
    key: string,
    body: string | undefined,
    extra: Record<string, string> | undefined,
  ): Promise<Answer> {
    const url = this.#urlOf(key);
    const token = await this.#bearerToken();
    const headers: Record<string, string> = {
      ...this.config.headers,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...extra,
    };
    try {
      const answer = await withRetry(
        async () => {
          let response: Response;
          try {
            response = await fetch(url, {
              method,
              headers,
              body,
              signal: AbortSignal.timeout(this.config.timeoutMs),
            });
          } catch (error) {
            if (isRetryable(error) || (error as { name?: unknown }).name === 'TimeoutError')
              throw new TransientError(
                `http: ${method} ${url} got no answer (${describeFetchError(error)})`,
                {
                  cause: error,
                },
              );
            throw new ConnectorError(
              'http',
              `${method} ${url} could not be sent: ${describeFetchError(error)}`,
              { cause: error },
            );
          }
          return this.#classify(method, url, response);
        },
        this.context.retry,
        { onRetry: (error) => this.#writes.observe(error) },
      );
      this.#writes.observe();
      return answer;
    } catch (error) {
      if (error instanceof EsyncError) throw error;
      throw new ConnectorError('http', `${method} ${url} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async #classify(method: string, url: string, response: Response): Promise<Answer> {
    const text = await response.text();
    const { status } = response;
    if (status >= 200 && status < 300) return { status: 'applied', body: text, headers: response.headers };
    if (status === 404 && method !== 'PUT') return { status: 'absent' };
    if (status === 409 || status === 412) return { status: 'stale' };
    const excerpt = text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
    const summary = `${method} ${url} answered ${status}${excerpt ? `: ${excerpt}` : ''}`;
    if (status === 429 || status >= 500)
      throw new TransientError(`http: ${summary}`, {
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
        throttled: status === 429,
      });
    if (status === 401 || status === 403)
      throw new ConnectorError(
        'http',
        `${summary} (check the token in secret "${this.config.auth?.secret ?? 'none configured'}")`,
      );
    throw new ValidationError(`http: ${summary}`);
  }

  #bearerToken(): Promise<string | undefined> {
    const auth = this.config.auth;
    if (!auth) return Promise.resolve(undefined);
    if (!this.#token) {
      const token = this.context.secrets
        .getString(auth.secret)
        .then((value) => tokenFromSecret(value, auth.secret));
      token.catch(() => {
        if (this.#token === token) this.#token = undefined;
      });
      this.#token = token;
    }
    return this.#token;
  }

  snapshot(): AsyncIterable<TargetSnapshotRecord[]> {
    const error = new ConfigError(
      `the http target cannot list the records of ${this.config.url} for Verify; set verify.mode: off in pipeline "${this.context.pipeline.name}"`,
    );
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
  }
}

/** A secret holding the bare token, or JSON `{"token": "..."}`. */
function tokenFromSecret(value: string, name: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    try {
      const token = (JSON.parse(trimmed) as { token?: unknown }).token;
      if (typeof token === 'string' && token !== '') return token;
    } catch {
      // reported below without the value
    }
    throw new ConfigError(`secret "${name}" holds JSON without a "token" string`);
  }
  if (trimmed === '') throw new ConfigError(`secret "${name}" is empty`);
  return trimmed;
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return (error as Error).name === 'TimeoutError' ? 'timed out' : String((error as Error).message);
}

/** Creates the HTTP target. */
export const createHttpTarget = targetFactory<'http'>(HttpTarget);

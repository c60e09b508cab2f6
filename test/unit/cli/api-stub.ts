import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { CliIo } from '../../../cli/io.ts';
import { stringifyExactJson } from '../../../shared/records/exact-json.ts';

/** A request the stub API received. */
export interface StubRequest {
  readonly method: string;
  /** Path without the query, percent-decoded. */
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or undefined. */
  readonly body: unknown;
}

export interface StubAnswer {
  readonly status: number;
  readonly body: unknown;
}

export type StubHandler = (request: StubRequest) => StubAnswer | undefined;

export interface StubApi {
  readonly url: string;
  readonly requests: StubRequest[];
  /** A directory whose `.esync/dev.json` points `--local` at this stub. */
  readonly devDir: string;
  stop(): Promise<void>;
}

/**
 * An HTTP server answering like the management API: the handler's answer, or 404 with the
 * API's error shape when it has none. It records every request.
 */
export async function startStubApi(handler: StubHandler): Promise<StubApi> {
  const requests: StubRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const text = Buffer.concat(chunks).toString('utf8');
      const request: StubRequest = {
        method: req.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: text === '' ? undefined : JSON.parse(text),
      };
      requests.push(request);
      const answer = handler(request) ?? {
        status: 404,
        body: { error: `no management route ${request.method} ${request.path}` },
      };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(stringifyExactJson(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const devDir = mkdtempSync(path.join(tmpdir(), 'esync-cli-'));
  mkdirSync(path.join(devDir, '.esync'));
  writeFileSync(path.join(devDir, '.esync', 'dev.json'), JSON.stringify({ apiUrl: url, endpoints: {} }));
  return {
    url,
    requests,
    devDir,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(devDir, { recursive: true, force: true });
    },
  };
}

export interface CapturedIo extends CliIo {
  readonly stdout: string[];
  /** Everything written raw to the terminal (with `terminal: true`), control sequences included. */
  readonly terminalText: () => string;
  readonly stderr: string[];
  /** Everything written to stdout, one string. */
  text(): string;
  errText(): string;
}

/** A CliIo that captures output; `cwd` decides which `.esync/dev.json` `--local` finds. */
export function captureIo(
  cwd: string,
  options: { terminal?: boolean; env?: NodeJS.ProcessEnv } = {},
): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const raw: string[] = [];
  const terminal = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw.push(chunk.toString());
        done();
      },
    }),
    { isTTY: true, columns: 160 },
  );
  return {
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    terminal: options.terminal ? terminal : null,
    terminalText: () => raw.join(''),
    env: options.env ?? {},
    cwd,
    stdout,
    stderr,
    text: () => stdout.join('\n'),
    errText: () => stderr.join('\n'),
  };
}

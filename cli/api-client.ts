import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import * as z from 'zod';
import { parseExactJson, stringifyExactJson } from '../shared/records/exact-json.ts';
import { type CliIo, type Command, UsageError } from './io.ts';

/** The request shape SignatureV4 signs (smithy's HttpRequest). */
type SignableRequest = Parameters<SignatureV4['sign']>[0];
type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

/** The API answered with a non-2xx status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** The API could not be found or reached (no local stack, no stack output, no network). */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

/** Flags every management command takes. */
export const CONNECTION_OPTIONS = {
  local: { type: 'boolean', default: false },
  stage: { type: 'string', default: 'dev' },
  'api-url': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

export interface ConnectionFlags {
  readonly local?: boolean;
  readonly stage?: string;
  readonly 'api-url'?: string;
}

/** The local stack accepts any credentials; these are the ones it hands its own clients. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'esynclocal', secretAccessKey: 'esynclocal' };

const NO_LOCAL_STACK = 'no local stack running: start it with `npx esync dev`';

const devFileSchema = z.object({ apiUrl: z.url() }).loose();

/** Finds `.esync/dev.json` in `cwd` or the nearest parent that has one. */
export function findDevFile(cwd: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, '.esync', 'dev.json');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function localApiUrl(cwd: string): string {
  const file = findDevFile(cwd);
  if (file === undefined)
    throw new ConnectionError(`${NO_LOCAL_STACK} (no .esync/dev.json in ${cwd} or its parents)`);
  let parsed: unknown;
  try {
    parsed = parseExactJson(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConnectionError(`${NO_LOCAL_STACK} (${file} is not valid JSON: ${(error as Error).message})`);
  }
  const result = devFileSchema.safeParse(parsed);
  if (!result.success) throw new ConnectionError(`${NO_LOCAL_STACK} (${file} has no valid apiUrl)`);
  return result.data.apiUrl;
}

/** Region of an `https://<id>.execute-api.<region>.amazonaws.com` URL. */
export function regionOfApiUrl(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
}

/** The deployed stack's `ApiUrl` output (`esync-<stage>`). */
export async function apiUrlFromStack(cloudFormation: CloudFormationClient, stage: string): Promise<string> {
  const stackName = `esync-${stage}`;
  let outputs: { OutputKey?: string; OutputValue?: string }[];
  try {
    const out = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = out.Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    const message = (error as Error).message;
    if (/region is missing/i.test(message))
      throw new UsageError(
        'no AWS region to find the deployed stack in: pass --local for the running `esync dev`, set AWS_REGION (or AWS_DEFAULT_REGION, or a profile with a region), or pass --api-url',
      );
    const region = await cloudFormation.config.region().catch(() => 'the default region');
    if (/does not exist/i.test(message))
      throw new ConnectionError(
        `stack ${stackName} is not deployed in ${region}; deploy it (npx cdk deploy -c stage=${stage}), pick another --stage, or pass --api-url`,
      );
    throw new ConnectionError(`cannot read stack ${stackName} to find the API URL: ${message}`);
  }
  const output =
    outputs.find((o) => o.OutputKey === 'ApiUrl') ?? outputs.find((o) => o.OutputKey?.startsWith('ApiUrl'));
  if (!output?.OutputValue)
    throw new ConnectionError(
      `stack ${stackName} has no ApiUrl output (outputs: ${outputs.map((o) => o.OutputKey).join(', ') || 'none'}); pass --api-url`,
    );
  return output.OutputValue;
}

/** SigV4 signing for API Gateway (`execute-api`). */
export interface RequestSigner {
  sign(request: SignableRequest): Promise<SignableRequest>;
}

/** A signer for `execute-api` in `region`; `signingDate` fixes the clock (tests). */
export function executeApiSigner(
  region: string,
  credentials: Credentials,
  signingDate?: Date,
): RequestSigner {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return { sign: (request) => signer.sign(request, signingDate ? { signingDate } : undefined) };
}

/** RFC 3986 encoding, the one SigV4 canonicalizes with, so the signed and the sent query agree. */
const rfc3986 = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Builds a path from segments, each percent-encoded (`['runs', id]` → `/runs/<id>`). */
export const apiPath = (...segments: string[]) => `/${segments.map(rfc3986).join('/')}`;

export interface ApiRequest {
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
}

/** Calls the ESync management API, signed with SigV4 on AWS, unsigned on the local stack. */
export class ManagementClient {
  constructor(
    readonly baseUrl: string,
    private readonly options: {
      readonly signer?: RequestSigner;
      /** Principal the local stack records in audit entries (it checks no signature). */
      readonly localPrincipal?: string;
      readonly local?: boolean;
      readonly timeoutMs?: number;
    } = {},
  ) {}

  /**
   * Finds the API from the flags: `--local` → `.esync/dev.json`; otherwise `--api-url`, then
   * `ESYNC_API_URL`, then the `ApiUrl` output of stack `esync-<stage>`, with requests signed by
   * the default AWS credential chain.
   */
  static async connect(
    flags: ConnectionFlags,
    io: CliIo,
    aws: { cloudFormation?: CloudFormationClient; credentials?: Credentials; signingDate?: Date } = {},
  ): Promise<ManagementClient> {
    if (flags.local) {
      if (flags['api-url']) throw new UsageError('--local and --api-url exclude each other');
      // Signed like AWS requests (the local gateway may demand a signature, though it checks none).
      return new ManagementClient(localApiUrl(io.cwd), {
        local: true,
        localPrincipal: localPrincipal(),
        signer: executeApiSigner('us-east-1', LOCAL_CREDENTIALS, aws.signingDate),
      });
    }
    const stage = flags.stage ?? 'dev';
    let baseUrl = flags['api-url'] ?? io.env.ESYNC_API_URL;
    let cloudFormation = aws.cloudFormation;
    if (!baseUrl) {
      cloudFormation ??= new CloudFormationClient({});
      baseUrl = await apiUrlFromStack(cloudFormation, stage);
    }
    try {
      new URL(baseUrl);
    } catch {
      throw new UsageError(`--api-url must be an absolute URL, got "${baseUrl}"`);
    }
    const region =
      regionOfApiUrl(baseUrl) ??
      io.env.AWS_REGION ??
      io.env.AWS_DEFAULT_REGION ??
      (await cloudFormation?.config.region().catch(() => undefined)) ??
      'us-east-1';
    const credentials = aws.credentials ?? fromNodeProviderChain();
    return new ManagementClient(baseUrl, { signer: executeApiSigner(region, credentials, aws.signingDate) });
  }

  async get<T = Record<string, unknown>>(path: string, query?: ApiRequest['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  async post<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  async put<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  /** Sends one request; a non-2xx answer throws {@link ApiError} with the API's message. */
  async request<T>(method: string, apiPathText: string, request: ApiRequest = {}): Promise<T> {
    const base = new URL(this.baseUrl);
    const basePath = base.pathname.replace(/\/+$/, '');
    const query = Object.fromEntries(
      Object.entries(request.query ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
    );
    const queryText = Object.entries(query)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .join('&');
    const body = request.body === undefined ? undefined : stringifyExactJson(request.body);
    let headers: Record<string, string> = {
      host: base.host,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(this.options.localPrincipal ? { [LOCAL_PRINCIPAL_HEADER]: this.options.localPrincipal } : {}),
    };
    const fullPath = `${basePath}${apiPathText}`;
    if (this.options.signer) {
      const signed = await this.sign(base, method, fullPath, query, headers, body);
      headers = signed;
    }
    const url = `${base.origin}${fullPath}${queryText ? `?${queryText}` : ''}`;
    let response: Response;
    try {
      const { host: _host, ...sendHeaders } = headers;
      response = await fetch(url, {
        method,
        headers: sendHeaders,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      if (this.options.local)
        throw new ConnectionError(`${NO_LOCAL_STACK} (nothing answers at ${this.baseUrl}: ${reason})`);
      throw new ConnectionError(`cannot reach the ESync API at ${this.baseUrl}: ${reason}`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? {} : parseExactJson(text);
    } catch {
      // A gateway error page, not JSON: keep the text for the message.
    }
    if (!response.ok)
      throw new ApiError(response.status, describeFailure(method, apiPathText, response, parsed), parsed);
    return parsed as T;
  }

  private async sign(
    base: URL,
    method: string,
    fullPath: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    const signer = this.options.signer as RequestSigner;
    try {
      const signed = await signer.sign({
        method,
        protocol: base.protocol,
        hostname: base.hostname,
        ...(base.port ? { port: Number(base.port) } : {}),
        path: fullPath,
        query,
        headers,
        body,
      });
      return signed.headers;
    } catch (error) {
      const e = error as Error;
      if (e.name === 'CredentialsProviderError')
        throw new ConnectionError(
          `no AWS credentials found (${e.message}); configure them (aws configure, AWS_PROFILE, SSO) or use --local`,
        );
      throw error;
    }
  }
}

function describeFailure(method: string, path: string, response: Response, body: unknown): string {
  const head = `${method} ${path} failed with ${response.status} ${response.statusText}`.trim();
  if (typeof body === 'object' && body !== null) {
    const b = body as { error?: unknown; message?: unknown; issues?: unknown; requestId?: unknown };
    const message =
      typeof b.error === 'string' ? b.error : typeof b.message === 'string' ? b.message : undefined;
    const issues = Array.isArray(b.issues)
      ? b.issues
          .filter(
            (i): i is { path: string; message: string } => typeof i === 'object' && i !== null && 'path' in i,
          )
          .map((i) => `\n  ${i.path}: ${i.message}`)
          .join('')
      : '';
    const request = typeof b.requestId === 'string' ? ` (request id ${b.requestId})` : '';
    if (message) return `${head}: ${message}${request}${issues}`;
  }
  if (typeof body === 'string' && body.trim() !== '') return `${head}: ${body.trim().slice(0, 300)}`;
  return head;
}

/**
 * Header through which the local HTTP gateway (local/http-gateway.ts) takes the caller's
 * IAM principal, since nothing signs requests there.
 */
const LOCAL_PRINCIPAL_HEADER = 'x-esync-local-principal';

/** `arn:aws:iam::000000000000:user/<os user>`: the local account id, the person at the keyboard. */
function localPrincipal(): string {
  let name = 'local';
  try {
    name = userInfo().username.replace(/[^\w+=,.@-]/g, '') || 'local';
  } catch {
    // No user database entry (some containers): keep the generic name.
  }
  return `arn:aws:iam::000000000000:user/${name}`;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's arguments strictly (unknown flags are errors), with the connection flags
 * added. A bad flag becomes a {@link UsageError} naming it.
 */
export function parseCommandArgs<O extends OptionsConfig>(argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    const e = error as Error & { code?: string };
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${flag ?? e.message}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(
        flag === undefined
          ? e.message
          : `flag ${flag} ${/argument missing/.test(e.message) ? 'needs a value' : 'takes no value'}`,
      );
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(e.message);
    throw error;
  }
}

/**
 * Runs a management command body: `--help` prints the usage (exit 0); a usage error prints the
 * message and the usage (exit 2); an API or connection error prints its message (exit 1).
 */
export async function runManagementCommand(
  argv: readonly string[],
  io: CliIo,
  usage: string,
  body: () => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(usage);
    return 0;
  }
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`esync: ${error.message}`);
      io.err(usage);
      return 2;
    }
    if (error instanceof ApiError || error instanceof ConnectionError) {
      io.err(`esync: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/**
 * With `--json`, prints `body` as one line of JSON (exact numbers as their literals) and answers
 * true: the command is done (exit 0). Without it answers false and the command prints for people.
 */
export function printedAsJson(io: CliIo, json: boolean | undefined, body: unknown): boolean {
  if (json) io.out(stringifyExactJson(body));
  return json === true;
}

/**
 * Connects by the command's flags and sends its one request. With `--json` it prints the answer
 * (or what `asJson` keeps of it) as JSON and answers undefined: the command is done. Without it
 * answers the view, for the command to print for people.
 */
export async function requestView<T>(
  flags: ConnectionFlags & { readonly json?: boolean | undefined },
  io: CliIo,
  request: (api: ManagementClient) => Promise<T>,
  asJson: (view: T) => unknown = (view) => view,
): Promise<T | undefined> {
  const view = await request(await ManagementClient.connect(flags, io));
  return printedAsJson(io, flags.json, asJson(view)) ? undefined : view;
}

/**
 * The one argument of a subcommand such as `dlq list`, or a usage error: `dlq list needs a
 * pipeline name`, `dlq list takes one pipeline, got also "b"`.
 */
export function onlyArgument(
  positionals: readonly string[],
  command: string,
  names: { readonly needs: string; readonly one: string },
): string {
  const [argument, ...extra] = positionals;
  if (argument === undefined) throw new UsageError(`${command} needs ${names.needs}`);
  if (extra.length > 0) throw new UsageError(`${command} takes ${names.one}, got also "${extra.join(' ')}"`);
  return argument;
}

/** The pipeline a subcommand such as `dlq list` takes as its one argument. */
export const pipelineArg = (positionals: readonly string[], command: string): string =>
  onlyArgument(positionals, command, { needs: 'a pipeline name', one: 'one pipeline' });

/** The flags of a listing by pipeline and status, a page at a time. */
const LISTING_FLAGS = {
  pipeline: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
} as const;

/**
 * What a subcommand such as `runs show <id>` shows: the GET of `pathOf` its one argument, answered
 * as {@link requestView} answers (undefined once printed as JSON).
 */
export async function viewByArgument<T>(
  argv: string[],
  io: CliIo,
  command: string,
  names: { readonly needs: string; readonly one: string },
  pathOf: (argument: string) => string,
): Promise<T | undefined> {
  const { values, positionals } = parseCommandArgs(argv, {});
  const argument = onlyArgument(positionals, command, names);
  return requestView(values, io, (api) => api.get<T>(pathOf(argument)));
}

/** A listing takes flags only: a usage error names what else it got. */
export function noArguments(positionals: readonly string[], command: string): void {
  if (positionals.length > 0)
    throw new UsageError(`${command} takes no arguments, got "${positionals.join(' ')}"`);
}

/** `--limit N` of a listing: a whole number from 1 to `most`. */
export function parseLimit(text: string | undefined, most = 100): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > most)
    throw new UsageError(`--limit must be a whole number from 1 to ${most}, got "${text}"`);
  return n;
}

/**
 * The flags of a listing such as `runs list`, checked (no arguments, a `--status` among `statuses`,
 * a `--limit` from 1 to 100), and the query the listing sends.
 */
export function parseListing(argv: string[], command: string, statuses: readonly string[]) {
  const { values, positionals } = parseCommandArgs(argv, LISTING_FLAGS);
  noArguments(positionals, command);
  if (values.status !== undefined && !statuses.includes(values.status))
    throw new UsageError(`--status must be ${oneOf(statuses)}, got "${values.status}"`);
  const { pipeline, status, after } = values;
  return { values, query: { pipeline, status, limit: parseLimit(values.limit), after } };
}

/** A subcommand: takes the arguments after its name, returns the exit code. */
type Subcommand = (argv: string[], io: CliIo) => Promise<number>;

/** `a`, `a or b`, `a, b or c`. */
const oneOf = (names: readonly string[]) =>
  names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;

/**
 * A management command made of subcommands (`esync <command> <sub> …`), run by
 * {@link runManagementCommand}; a missing or unknown subcommand is a usage error naming them.
 */
export function managementCommand(
  command: string,
  usage: string,
  subcommands: Readonly<Record<string, Subcommand>>,
): Command {
  const names = Object.keys(subcommands);
  return (argv, io) =>
    runManagementCommand(argv, io, usage, async () => {
      const [sub, ...rest] = argv;
      if (sub !== undefined && Object.hasOwn(subcommands, sub)) return subcommands[sub]?.(rest, io) ?? 2;
      throw new UsageError(
        sub === undefined
          ? `${command} needs a subcommand: ${oneOf(names)}`
          : `unknown subcommand "${command} ${sub}"; use ${oneOf(names)}`,
      );
    });
}

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { IamMode } from '../../local/iam/enforcer.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { type CfnTemplate, loadStackTemplate } from '../../local/template.ts';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.ts';
import { loadExtensions } from '../../shared/extensions/load.ts';
import { formatProblem, loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { createStateRepositories, type StateRepositories } from '../../shared/state/index.ts';

/** The repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The IAM principal the e2e tests act as on the management API (recorded in audit entries). */
export const E2E_PRINCIPAL = 'arn:aws:iam::000000000000:user/e2e-tester';

/** The text of one of the repository's example pipelines, to run it as shipped. */
export function examplePipeline(name: string): string {
  return readFileSync(path.join(REPO_ROOT, 'pipelines', `${name}.yaml`), 'utf8');
}

/**
 * A pipeline that needs no database: JSON Lines files under `incoming/<name>/` of the data bucket
 * into a DynamoDB table keyed by `order_id`. `more` is appended YAML (validation...).
 */
export function s3OrdersPipeline(name: string, more = ''): string {
  return `
name: ${name}
source:
  type: s3
  prefix: incoming/${name}/
  format: jsonl
  key: [order_id]
  cursor: []
target:
  type: dynamodb
${more}`;
}

/** A throwaway project directory under the OS temp dir: `<root>/pipelines/<name>.yaml`. */
export interface E2eProject {
  readonly root: string;
  readonly pipelinesDir: string;
  remove(): void;
}

/** Writes pipeline files (file name without extension → YAML text) into a new temp project. */
export function createProject(pipelines: Readonly<Record<string, string>>): E2eProject {
  const root = mkdtempSync(path.join(tmpdir(), 'esync-e2e-'));
  const pipelinesDir = path.join(root, 'pipelines');
  mkdirSync(pipelinesDir);
  for (const [name, text] of Object.entries(pipelines))
    writeFileSync(path.join(pipelinesDir, `${name}.yaml`), text);
  return { root, pipelinesDir, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** A running stack with what the e2e tests use to talk to it and to read its state. */
export interface E2eStack {
  readonly stack: LocalStack;
  readonly clients: AwsClients;
  readonly state: StateRepositories;
  /** The ESync data bucket (lake, quarantine, reports). */
  readonly dataBucket: string;
  /** Lines the stack logged, for failure messages. */
  readonly log: readonly string[];
  /** The value of a secret the stack serves (given, or generated like the mask key). */
  secret(name: string): Promise<string>;
  stop(): Promise<void>;
}

export interface E2eStackOptions {
  /** @default 'enforce' - as `esync dev` */
  readonly iam?: IamMode;
  /** Changes the synthesized template before the stack reads it (a removed grant). */
  readonly template?: (template: CfnTemplate) => CfnTemplate;
  /** Extension modules the pipelines name, loaded as `esync dev --extensions` does. @default - none */
  readonly extensionsDir?: string;
  /** How often the DLQ alarms are judged. @default 10000 - as `esync dev` */
  readonly queueAlarmCheckMs?: number;
}

/**
 * Starts the local stack for the pipelines of `project`, as `esync dev` would, with schedules
 * armed but not firing by themselves (tests fire them through the scheduler) and short Wait
 * states. The template is synthesized from those pipelines once and kept in the repository's
 * `.esync/cache` (keyed by pipelines and infra sources), so reruns skip the CDK synth.
 */
export async function startE2eStack(
  project: E2eProject,
  secrets: Readonly<Record<string, string>>,
  options: E2eStackOptions = {},
): Promise<E2eStack> {
  const extensions = options.extensionsDir
    ? (await loadExtensions(options.extensionsDir, { required: true })).registry
    : undefined;
  const loaded = await loadPipelineFiles([project.pipelinesDir], { ...(extensions && { extensions }) });
  if (loaded.problems.length > 0)
    throw new Error(`e2e pipelines have problems:\n${loaded.problems.map(formatProblem).join('\n')}`);
  const { template } = await loadStackTemplate({
    rootDir: REPO_ROOT,
    stage: 'dev',
    pipelines: loaded.pipelines,
    pipelinesDir: path.join(REPO_ROOT, 'pipelines'),
    cdkOut: false,
  });
  const log: string[] = [];
  const stack = await startLocalStack({
    pipelinesDir: project.pipelinesDir,
    pipelines: loaded.pipelines,
    template: options.template ? options.template(template) : template,
    ...(options.iam && { iam: options.iam }),
    ...(options.extensionsDir && { extensionsDir: options.extensionsDir }),
    ...(options.queueAlarmCheckMs !== undefined && { queueAlarmCheckMs: options.queueAlarmCheckMs }),
    secrets,
    schedules: false,
    writeDevFile: false,
    waitOverrideMs: 50,
    log: (line) => log.push(line),
  });
  // Built after the stack set AWS_ENDPOINT_URL_*: the same clients the handlers use.
  const clients = createAwsClients();
  return {
    stack,
    clients,
    state: createStateRepositories(clients.ddb, stack.env.ESYNC_STATE_TABLE ?? ''),
    dataBucket: stack.env.ESYNC_DATA_BUCKET ?? '',
    log,
    async secret(name: string) {
      const out = await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
      return out.SecretString ?? '';
    },
    async stop() {
      for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
      await stack.stop();
    },
  };
}

/**
 * Writes a project of `pipelines` and starts its stack (see {@link startE2eStack}); `stop()`
 * stops the stack and removes the project.
 */
export async function startE2eProject(
  pipelines: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
  options: E2eStackOptions = {},
): Promise<E2eStack> {
  const project = createProject(pipelines);
  try {
    const e2e = await startE2eStack(project, secrets, options);
    return {
      ...e2e,
      async stop() {
        await e2e.stop();
        project.remove();
      },
    };
  } catch (error) {
    project.remove();
    throw error;
  }
}

/** A management API answer. */
export interface ApiAnswer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** Calls the management API of the stack as {@link E2E_PRINCIPAL}. */
export async function callApi<T = Record<string, unknown>>(
  stack: LocalStack,
  method: string,
  route: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  const response = await fetch(`${stack.apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-esync-local-principal': E2E_PRINCIPAL },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** The run report of `GET /runs/{id}`, as far as the tests read it. */
export interface RunReport {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly trigger: string;
  readonly counts: {
    readonly extracted: number;
    readonly loaded: number;
    readonly skipped: number;
    readonly filtered: number;
    readonly conflicts: number;
    readonly quarantined: number;
    readonly deadLettered: number;
  };
  readonly phases: readonly { readonly name: string; readonly status: string }[];
  readonly verify: { readonly status?: string } & Record<string, unknown>;
  readonly failure: { readonly error: string; readonly cause: string } | null;
}

/** Polls `GET /runs/{id}` until the run has ended; fails naming the run when it does not. */
export async function waitForRun(stack: LocalStack, runId: string, timeoutMs = 90_000): Promise<RunReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await callApi<RunReport>(stack, 'GET', `/runs/${encodeURIComponent(runId)}`);
    if (answer.status === 200 && answer.body.status !== 'running') return answer.body;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} did not end within ${timeoutMs} ms: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** Polls until `check` returns a value other than undefined; fails with `what` after the timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Every item of a DynamoDB table, by its `pk`. */
export async function scanTable(
  clients: AwsClients,
  table: string,
): Promise<Map<string, Record<string, unknown>>> {
  const items = new Map<string, Record<string, unknown>>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) items.set(String(item.pk), item);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The keys of the objects under `prefix` (few enough for one listing page). */
export async function listKeys(clients: AwsClients, bucket: string, prefix: string): Promise<string[]> {
  const out = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  if (out.IsTruncated) throw new Error(`more than one page of objects under ${prefix}; keep e2e data small`);
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

/** The text of one object. */
export async function readObject(clients: AwsClients, bucket: string, key: string): Promise<string> {
  const out = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/servers.ts';
import { stateTableName } from '../../shared/naming.ts';
import { createStateRepositories, type StateRepositories } from '../../shared/state/index.ts';
import { type CliProcess, jsonObjectLine, startCli } from './e2e-process.ts';
import { E2E_PRINCIPAL, eventually, REPO_ROOT, type RunReport } from './e2e-stack.ts';

/** The `--json` line `esync dev` prints once its local stack is ready, as far as tests read it. */
export interface DevReady {
  readonly apiUrl: string;
  readonly endpoints: { readonly dynamodb: string; readonly s3: string };
}

/** An `esync dev` child process and clients of its local stack, to kill it and look inside. */
export interface DevProcess {
  readonly dev: CliProcess;
  readonly ready: DevReady;
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  /** The stack's state table (runs, ledger, plans and partition progress). */
  readonly state: StateRepositories;
  /** Every item of a table, read consistently. */
  items(table: string): Promise<Record<string, unknown>[]>;
  /** The ESync data bucket (source objects, plans, reports). */
  dataBucket(): Promise<string>;
  /** Destroys the clients (the process keeps running). */
  close(): void;
}

/**
 * Starts `esync dev --json` for the pipelines in `pipelinesDir`, keeping its state in `dataDir`
 * so that a second process started on the same directory finds what the first left behind.
 * The process is pushed onto `running` for the test's cleanup.
 */
export async function startDev(
  pipelinesDir: string,
  dataDir: string,
  running: CliProcess[],
): Promise<DevProcess> {
  const args = ['--import', 'tsx', 'cli/main.ts', 'dev', '--json', '--pipelines-dir', pipelinesDir];
  const dev = startCli([...args, '--data-dir', dataDir], { cwd: REPO_ROOT });
  running.push(dev);
  const ready = (await dev.firstLine(jsonObjectLine, 110_000)) as unknown as DevReady;
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const documents = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...common, endpoint: ready.endpoints.dynamodb }),
  );
  const s3 = new S3Client({ ...common, endpoint: ready.endpoints.s3, forcePathStyle: true });
  return {
    dev,
    ready,
    documents,
    s3,
    state: createStateRepositories(documents, stateTableName('dev')),
    async items(table) {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await documents.send(
          new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    },
    async dataBucket() {
      const { Buckets } = await s3.send(new ListBucketsCommand({}));
      const name = Buckets?.map((b) => b.Name ?? '').find((n) => n.includes('databucket'));
      if (!name) throw new Error('the local stack has no data bucket');
      return name;
    },
    close() {
      documents.destroy();
      s3.destroy();
    },
  };
}

/** Calls the management API of an `esync dev` process as {@link E2E_PRINCIPAL}. */
export async function devApi<T>(
  apiUrl: string,
  method: string,
  route: string,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-esync-local-principal': E2E_PRINCIPAL },
    ...(method === 'POST' && { body: '{}' }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls the run until it has ended; fails with its last state (a loaded machine is slow, not wrong). */
export async function devRunEnded(apiUrl: string, runId: string, timeoutMs = 240_000): Promise<RunReport> {
  let last: unknown;
  return eventually(
    `run ${runId} to end`,
    async () => {
      const run = await devApi<RunReport>(apiUrl, 'GET', `/runs/${encodeURIComponent(runId)}`);
      last = run.body;
      return run.status === 200 && run.body.status !== 'running' ? run.body : undefined;
    },
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
  });
}

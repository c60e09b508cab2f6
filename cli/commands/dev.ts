import path from 'node:path';
import { parseArgs } from 'node:util';
import { IAM_MODES, type IamDenial, type IamMode } from '../../local/iam/modes.ts';
import { readSecretsFile, secretsFilePath } from '../../local/secrets-file.ts';
import type { LocalStack } from '../../local/stack.ts';
import { CATALOG_MODES, type CatalogMode } from '../../shared/pipeline/catalog-source.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';
import { watchLaunchers } from '../launcher-watch.ts';

export const devUsage = `Usage: esync dev [--pipelines-dir DIR] [--extensions DIR] [--port N] [--data-dir DIR] [--dynamodb dynalite|local] [--iam enforce|report|off] [--catalog baked|parameters] [--demo-data] [--json]

Runs the local stack for the pipelines in DIR (default pipelines/) until Ctrl-C.
  --extensions DIR load the extension modules (validators, sources, targets) from DIR (default: extensions/ beside the pipelines directory)
  --data-dir DIR   keep queues, tables, objects and histories in DIR across restarts (default: in memory)
  --dynamodb local use Amazon's DynamoDB Local (needs Java) instead of dynalite
  --iam MODE       enforce (default): a call the role's policies in the template deny gets AccessDenied, as on AWS; report: it goes through and is listed; off: no check
  --catalog MODE   baked (default): every function has the pipelines in its environment; parameters: as a stage deployed with a stack per pipeline, the shared functions read them from the local Parameter Store (/esync/<stage>/pipelines), rereading after the catalog's maximum age
  --demo-data      start the demo PostgreSQL (PGlite) with a seeded users table, for users-sync
  --json           print one JSON object on one line when ready`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'pipelines-dir': { type: 'string' },
      extensions: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      dynamodb: { type: 'string' },
      iam: { type: 'string' },
      catalog: { type: 'string' },
      'demo-data': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535))
    throw new UsageError(`--port must be a port number (0-65535), got "${values.port}"`);
  if (values.dynamodb !== undefined && values.dynamodb !== 'dynalite' && values.dynamodb !== 'local')
    throw new UsageError(`--dynamodb must be dynalite or local, got "${values.dynamodb}"`);
  if (values.iam !== undefined && !(IAM_MODES as readonly string[]).includes(values.iam))
    throw new UsageError(`--iam must be one of ${IAM_MODES.join(', ')}, got "${values.iam}"`);
  if (values.catalog !== undefined && !(CATALOG_MODES as readonly string[]).includes(values.catalog))
    throw new UsageError(`--catalog must be one of ${CATALOG_MODES.join(', ')}, got "${values.catalog}"`);
  return {
    ...values,
    port,
    iam: values.iam as IamMode | undefined,
    catalog: values.catalog as CatalogMode | undefined,
  };
}

/**
 * Resolves when the process is asked to stop: SIGINT, SIGTERM, or the end of the npm, npx or
 * shell process that started it (they do not pass a SIGTERM on), so no process is left behind.
 */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    let unwatch = () => {};
    const stop = (signal: string) => {
      unwatch();
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    unwatch = watchLaunchers(() => stop('the launching process ended'));
  });
}

export const dev: Command = async (argv: string[], io: CliIo) => {
  const flags = parse(argv);
  if (flags.help) {
    io.out(devUsage);
    return 0;
  }
  // Watched from the start, not from the ready line: a launcher told to stop while the stack
  // starts, or just after it said ready, must still stop it (npm and npx pass no SIGTERM on,
  // and a launcher already gone when the watch began would leave it unwatched).
  const stopRequested = untilSignal();
  const { startLocalStack } = await import('../../local/stack.ts');
  const pipelinesDir = path.resolve(io.cwd, flags['pipelines-dir'] ?? 'pipelines');
  const secretsFile = secretsFilePath(pipelinesDir);
  const { secrets, demoDb } = await devSecrets(secretsFile, flags['demo-data']);
  const stack = await startLocalStack({
    pipelinesDir,
    ...(flags.extensions ? { extensionsDir: path.resolve(io.cwd, flags.extensions) } : {}),
    ...(flags['data-dir'] ? { dataDir: path.resolve(io.cwd, flags['data-dir']) } : {}),
    ...(flags.port !== undefined ? { port: flags.port } : {}),
    ...(flags.dynamodb === 'local' ? { dynamodb: 'dynamodb-local' as const } : {}),
    ...(flags.iam ? { iam: flags.iam } : {}),
    ...(flags.catalog ? { catalog: flags.catalog } : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    log: (line) => io.err(line),
  });
  const names = Object.keys(secrets).sort();
  io.out(
    flags.json
      ? JSON.stringify(readyJson(stack, secretsFile, names))
      : readyLines(stack, secretsFile, names).join('\n'),
  );
  const signal = await stopRequested;
  io.err(`received ${signal}, stopping`);
  await stack.stop();
  await demoDb?.stop();
  if (stack.iam.mode === 'report') io.err(iamReport(stack.iam.denials));
  return 0;
};

/** The user's secrets, and with --demo-data the demo database (started) and its secrets on top of them. */
async function devSecrets(
  secretsFile: string,
  demoData: boolean,
): Promise<{ secrets: Record<string, string>; demoDb?: { stop(): Promise<void> } }> {
  const secrets: Record<string, string> = readSecretsFile(secretsFile);
  if (!demoData) return { secrets };
  const { startDemoDatabase, seedUsers } = await import('../../demo/demo-db.ts');
  const db = await startDemoDatabase();
  await seedUsers(db.db, 10_000);
  secrets['esync/demo/users-db'] = db.secretValue;
  secrets['esync/demo/orders-db'] = db.secretValue;
  return { secrets, demoDb: db };
}

/** `--json`: what a script needs to reach the stack, on one line. */
function readyJson(stack: LocalStack, secretsFile: string, secrets: readonly string[]) {
  return {
    apiUrl: stack.apiUrl,
    eventBus: stack.env.ESYNC_EVENT_BUS ?? null,
    secretsFile,
    secrets,
    endpoints: stack.endpoints,
    pipelines: stack.resources,
    devFile: stack.devFile ?? null,
  };
}

const IAM_LINES: Readonly<Record<IamMode, string>> = {
  enforce: 'enforced: a call its role does not allow gets AccessDenied',
  report: 'report: denied calls go through and are listed at stop',
  off: 'off',
};

/** What a person needs to reach the stack: API, bus, secrets, endpoints and each pipeline's resources. */
function readyLines(stack: LocalStack, secretsFile: string, secrets: readonly string[]): string[] {
  return [
    `ESync local stack (stage ${stack.stage}) is ready.`,
    '',
    `  API          ${stack.apiUrl}`,
    `  event bus    ${stack.env.ESYNC_EVENT_BUS ?? '-'}  (CDC events: PutEvents here)`,
    `  secrets      ${secretsFile}${secrets.length > 0 ? `  (${secrets.join(', ')})` : '  (none; add name → value there)'}`,
    ...stack.resources.filter((r) => r.webhookUrl).map((r) => `  webhook      ${r.webhookUrl}  (${r.name})`),
    '',
    '  endpoints    (AWS_ENDPOINT_URL_<SERVICE>)',
    ...Object.entries(stack.endpoints).map(([service, url]) => `    ${service.padEnd(15)} ${url}`),
    '',
    '  pipelines',
    ...stack.resources.flatMap((r) => [
      `    ${r.name}`,
      ...(r.stateMachineArn ? [`      state machine  ${r.stateMachineArn}`] : []),
      ...(r.loadQueueUrl ? [`      load queue     ${r.loadQueueUrl}`] : []),
      ...(r.deadLetterQueueUrl ? [`      dead letters   ${r.deadLetterQueueUrl}`] : []),
      ...(r.targetTable ? [`      target table   ${r.targetTable}`] : []),
      ...(r.schedule ? [`      schedule       ${r.schedule}`] : []),
    ]),
    ...(stack.notes.length > 0
      ? ['', '  differences from AWS', ...stack.notes.map((n) => `    - ${n}`)]
      : []),
    '',
    `  IAM          ${IAM_LINES[stack.iam.mode]}`,
    '',
    'Other terminals: `npx esync run <pipeline> --local --wait`. Ctrl-C stops.',
  ];
}

function iamReport(denials: readonly IamDenial[]): string {
  if (denials.length === 0) return 'iam report: no call was denied';
  return [
    `iam report: ${denials.length} call(s) the template's policies do not allow:`,
    ...denials.map((d) => `  ${d.caller}: ${d.action} on ${d.resource}`),
  ].join('\n');
}

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateSecretCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { readSecretsFile, secretsFilePath } from '../../local/secrets-file.ts';
import { findDevFile, LOCAL_CREDENTIALS } from '../api-client.ts';
import { table } from '../format.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';

export const secretsUsage = `usage:
  esync secrets set <name> (--value TEXT | --from-file FILE) [--pipelines-dir DIR]
      stores a local secret in .esync/secrets.json, and in the running esync dev at once
  esync secrets list [--pipelines-dir DIR] [--json]  the local secrets' names, never their values
Local stack only: a deployed stage reads its secrets from AWS Secrets Manager.`;

/** Secrets Manager's rule for names: 1–512 of letters, digits and /_+=.@- */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        value: { type: 'string' },
        'from-file': { type: 'string' },
        'pipelines-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]}\n\n${secretsUsage}`);
  }
}

/** The running `esync dev`'s Secrets Manager, when there is one for this folder. */
function runningSecretsManager(cwd: string): SecretsManagerClient | undefined {
  const devFile = findDevFile(cwd);
  if (!devFile) return undefined;
  const dev = JSON.parse(readFileSync(devFile, 'utf8')) as {
    region?: string;
    endpoints?: { secretsManager?: string };
  };
  if (!dev.endpoints?.secretsManager) return undefined;
  return new SecretsManagerClient({
    region: dev.region ?? 'us-east-1',
    endpoint: dev.endpoints.secretsManager,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
}

async function storeInRunningStack(client: SecretsManagerClient, name: string, value: string): Promise<void> {
  try {
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  }
}

async function set(
  positionals: string[],
  values: ReturnType<typeof parse>['values'],
  io: CliIo,
  file: string,
) {
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError(`secrets set takes one secret name\n\n${secretsUsage}`);
  if (!SECRET_NAME.test(name))
    throw new UsageError(`secret name "${name}" may hold only letters, digits and /_+=.@- (at most 512)`);
  if ((values.value === undefined) === (values['from-file'] === undefined))
    throw new UsageError('give the value with exactly one of --value TEXT or --from-file FILE');
  const value =
    values.value ?? readFileSync(path.resolve(io.cwd, values['from-file'] ?? ''), 'utf8').trimEnd();
  const secrets = { ...readSecretsFile(file), [name]: value };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  const running = runningSecretsManager(io.cwd);
  if (running) await storeInRunningStack(running, name, value).finally(() => running.destroy());
  io.out(
    `stored ${name} in ${file}${running ? '; the running esync dev has it now' : '; esync dev loads it at start'}`,
  );
  return 0;
}

async function list(values: ReturnType<typeof parse>['values'], io: CliIo, file: string) {
  const inFile = new Set(Object.keys(readSecretsFile(file)));
  const running = runningSecretsManager(io.cwd);
  const inStack = new Set<string>();
  if (running)
    try {
      for (let token: string | undefined, first = true; first || token; first = false) {
        const page = await running.send(new ListSecretsCommand({ NextToken: token }));
        for (const s of page.SecretList ?? []) if (s.Name) inStack.add(s.Name);
        token = page.NextToken;
      }
    } finally {
      running.destroy();
    }
  const names = [...new Set([...inFile, ...inStack])].sort();
  const rows = names.map((n) => ({
    name: n,
    inFile: inFile.has(n),
    inRunningStack: running ? inStack.has(n) : null,
  }));
  if (values.json) io.out(JSON.stringify({ file, secrets: rows }));
  else
    io.out(
      names.length === 0
        ? `no local secrets (${file} does not name any)`
        : table(
            ['NAME', 'IN FILE', 'IN esync dev'],
            rows.map((r) => [
              r.name,
              r.inFile ? 'yes' : 'no',
              r.inRunningStack === null ? 'not running' : r.inRunningStack ? 'yes' : 'no',
            ]),
          ),
    );
  return 0;
}

/** `esync secrets set|list`: the local stack's secrets, kept in `.esync/secrets.json`. */
export const secrets: Command = async (argv, io) => {
  const { values, positionals } = parse(argv);
  if (values.help) {
    io.out(secretsUsage);
    return 0;
  }
  const file = secretsFilePath(path.resolve(io.cwd, values['pipelines-dir'] ?? 'pipelines'));
  const [sub, ...rest] = positionals;
  if (sub === 'set') return set(rest, values, io, file);
  if (sub === 'list') return list(values, io, file);
  throw new UsageError(`secrets needs set or list${sub ? `, got "${sub}"` : ''}\n\n${secretsUsage}`);
};

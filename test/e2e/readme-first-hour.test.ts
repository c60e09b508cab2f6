import { createHmac } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDevFile } from '../../local/stack.ts';
import { type CliProcess, startCli } from '../support/e2e-process.ts';
import { createProject, type E2eProject, REPO_ROOT } from '../support/e2e-stack.ts';

/** The README's first-hour commands, in order, each line without its comment. */
function firstHourCommands(): string[] {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /<!-- first-hour:start -->\n```bash\n([\s\S]*?)```\n<!-- first-hour:end -->/.exec(readme);
  if (!block?.[1]) throw new Error('README.md has no first-hour block');
  return block[1]
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

/** What each command must print (stdout or stderr) besides exiting 0; `<run-id>` is the run's id. */
const KEY_LINES: ReadonlyArray<readonly [string, RegExp]> = [
  ['npx esync run users-sync --local --wait', /^started run (users-sync-\S+)$/m],
  ['npx esync runs list --pipeline users-sync --local', /<run-id>.*succeeded/],
  ['npx esync runs show <run-id> --local', /verify\s+passed/],
  ['npx esync runs history <run-id> --local', /ExecutionSucceeded/],
  ['npx esync checkpoint show users-sync --local', /updated_at/],
  ['npx esync dlq list users-sync --local', /\b0\b/],
  ['npx esync conflicts list --pipeline inventory-cdc --local', /conflict/i],
  ['npx esync audit --local', /users-sync/],
  ['npx esync secrets list', /esync\/demo\/users-db\s+no\s+yes/],
];

const TSX = fileURLToPath(import.meta.resolve('tsx'));
const CLI = path.join(REPO_ROOT, 'cli', 'main.ts');
/** `npx esync …` as the test runs it: the repository's CLI on this Node, from the project's folder. */
const cliArgs = (command: string) => [
  '--import',
  TSX,
  CLI,
  ...command.replace(/^npx esync /, '').split(/\s+/),
];

async function runCommand(command: string, cwd: string): Promise<{ code: number | string; output: string }> {
  const cli = startCli(cliArgs(command), { cwd });
  const code = await cli.exited;
  return { code, output: [...cli.stdout, ...cli.stderr].join('\n') };
}

/** The user's own secret, in the project's `.esync/secrets.json`: the webhook secret of github-issues. */
const USER_SECRETS = { 'esync/demo/github-webhook': 'the-users-own-webhook-secret' };

describe('the README’s first hour, command by command, on a fresh project with a secrets file', () => {
  let project: E2eProject;
  let dev: CliProcess;
  const commands = firstHourCommands();

  beforeAll(async () => {
    project = createProject({});
    cpSync(path.join(REPO_ROOT, 'pipelines'), project.pipelinesDir, { recursive: true });
    mkdirSync(path.join(project.root, '.esync'));
    writeFileSync(path.join(project.root, '.esync', 'secrets.json'), JSON.stringify(USER_SECRETS));
    expect(commands[0]).toBe('npx esync dev --demo-data');
    dev = startCli(cliArgs(commands[0] ?? ''), { cwd: project.root });
    await dev.firstLine((line) => (line.includes('is ready') ? line : undefined), 240_000);
  }, 300_000);

  afterAll(async () => {
    await dev?.kill();
    project?.remove();
  });

  it('lists in the README exactly the commands this test checks, in its order', () => {
    expect(commands.slice(1)).toEqual(KEY_LINES.map(([command]) => command));
  });

  it('serves the user’s secrets file beside the demo database’s secrets with --demo-data', async () => {
    // Prepare
    const dev = readDevFile(path.join(project.root, '.esync', 'dev.json'));
    const body = readFileSync(path.join(REPO_ROOT, 'events', 'github', 'issues.opened.json'), 'utf8');
    const secret = USER_SECRETS['esync/demo/github-webhook'];

    // Act
    const response = await fetch(`${dev?.apiUrl}/webhooks/github-issues`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'issues',
        'x-github-delivery': 'first-hour-1',
        'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
      },
      body,
    });
    await response.arrayBuffer();
    const listed = await runCommand('npx esync secrets list', project.root);

    // Assess
    expect(response.status).toBe(202);
    expect(listed.output).toMatch(/esync\/demo\/github-webhook\s+yes\s+yes/);
    expect(listed.output).toMatch(/esync\/demo\/users-db\s+no\s+yes/);
  });

  it('runs every command with exit code 0 and its key line, in order', async () => {
    let runId = '';
    const results: string[] = [];
    for (const [documented, keyLine] of KEY_LINES) {
      const command = documented.replaceAll('<run-id>', runId);
      const { code, output } = await runCommand(command, project.root);
      const expected = new RegExp(keyLine.source.replaceAll('<run-id>', runId), keyLine.flags);
      results.push(
        `${command}: exit ${code}${expected.test(output) ? '' : `, no line matching ${expected}:\n${output}`}`,
      );
      runId ||= keyLine.exec(output)?.[1] ?? '';
    }

    expect(results).toEqual(
      KEY_LINES.map(([documented]) => `${documented.replaceAll('<run-id>', runId)}: exit 0`),
    );
  }, 600_000);
});

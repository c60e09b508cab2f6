import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIO = path.join(ROOT, 'test/security/fixtures/log-scenario.ts');

interface ScenarioResult {
  readonly webhook: Record<string, number>;
  readonly load: {
    readonly messages: number;
    readonly response?: { batchItemFailures: unknown[] };
    readonly failed?: string;
  };
  readonly quarantineObjects: number;
  readonly discover: Record<string, string>;
}

/** Runs the scenario in a child process and returns everything it wrote, stdout and stderr interleaved. */
function runScenario(env: Record<string, string>): Promise<{ output: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCENARIO], {
      cwd: ROOT,
      env: { ...process.env, ...env, POWERTOOLS_LOG_LEVEL: 'DEBUG' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ output, code }));
  });
}

describe('log safety', () => {
  it('writes no webhook secret, signature, raw masked value or database password to the logs of a run', async () => {
    // Prepare
    const hookSecret = `hook-${randomBytes(12).toString('hex')}`;
    const dbPassword = `db-${randomBytes(12).toString('hex')}`;
    const phones = Array.from({ length: 6 }, () => `+1555${String(randomInt(1_000_000, 9_999_999))}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'esync-log-scenario-'));
    const signaturesFile = path.join(dir, 'signatures.json');

    // Act
    let run: { output: string; code: number | null };
    let signatures: string[];
    try {
      run = await runScenario({
        ESYNC_LOG_SCENARIO: JSON.stringify({ hookSecret, dbPassword, phones }),
        ESYNC_LOG_SCENARIO_SIGNATURES: signaturesFile,
      });
      signatures = JSON.parse(readFileSync(signaturesFile, 'utf8')) as string[];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // Assess: the scenario did what it is meant to, and its logs were captured...
    expect(run.code, run.output.slice(-2000)).toBe(0);
    const resultLine = run.output.split('\n').find((line) => line.startsWith('SCENARIO-RESULT '));
    const result = JSON.parse(resultLine?.slice('SCENARIO-RESULT '.length) ?? '{}') as ScenarioResult;
    expect(result.webhook).toEqual({
      valid: 202,
      forged: 401,
      stale: 401,
      malformed: 400,
      unknownPipeline: 404,
    });
    expect(result.load.response?.batchItemFailures).toEqual([]);
    expect(result.quarantineObjects).toBeGreaterThanOrEqual(2);
    expect(result.discover).toEqual({
      'users-db': 'ConnectorError',
      'users-db-url': 'ConnectorError',
      'users-db-bad-scheme': 'ConfigError',
    });
    for (const line of ['webhook refused', 'poison message quarantined', 'Invoke Error'])
      expect(run.output).toContain(line);
    // ...and hold none of the secrets, in any common spelling.
    const needles = [
      hookSecret,
      dbPassword,
      encodeURIComponent(dbPassword),
      Buffer.from(dbPassword).toString('base64'),
      ...signatures,
      ...phones,
      ...phones.map((p) => p.slice(1)),
    ];
    expect(needles.filter((needle) => run.output.includes(needle))).toEqual([]);
  }, 90_000);
});

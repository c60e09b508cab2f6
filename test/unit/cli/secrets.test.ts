import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../cli/io.ts';
import { main } from '../../../cli/main.ts';

let dir: string;
const lines: { out: string[]; err: string[] } = { out: [], err: [] };
const io = (): CliIo => ({
  out: (t) => lines.out.push(t),
  err: (t) => lines.err.push(t),
  terminal: null,
  env: {},
  cwd: dir,
});

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'esync-secrets-'));
  lines.out = [];
  lines.err = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('esync secrets without a running esync dev', () => {
  it('keeps a set secret in .esync/secrets.json readable by its owner only, and lists its name but not its value', async () => {
    // Act
    const setCode = await main(['secrets', 'set', 'esync/api-token', '--value', 'hunter2'], io());
    const listCode = await main(['secrets', 'list'], io());

    // Assess
    const file = path.join(dir, '.esync', 'secrets.json');
    expect(setCode).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'esync/api-token': 'hunter2' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(lines.out[0]).toContain('esync dev loads it at start');
    expect(listCode).toBe(0);
    expect(lines.out[1]).toMatch(/esync\/api-token +yes +not running/);
    expect(lines.out.join('\n')).not.toContain('hunter2');
  });

  it('refuses a bad name, a missing or doubled value and an unknown subcommand with exit 2 and the reason', async () => {
    // Act
    const badName = await main(['secrets', 'set', 'bad name!', '--value', 'x'], io());
    const noValue = await main(['secrets', 'set', 'esync/x'], io());
    const twoValues = await main(['secrets', 'set', 'esync/x', '--value', 'a', '--from-file', 'f'], io());
    const unknown = await main(['secrets', 'rotate'], io());

    // Assess
    expect([badName, noValue, twoValues, unknown]).toEqual([2, 2, 2, 2]);
    expect(lines.err[0]).toContain('secret name "bad name!" may hold only');
    expect(lines.err[1]).toContain('exactly one of --value TEXT or --from-file FILE');
    expect(lines.err[3]).toContain('secrets needs set or list, got "rotate"');
  });
});

import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../../cli/io.ts';
import { COMMANDS, type CommandName, loadCommand, main } from '../../../cli/main.ts';

/** An io that keeps what the CLI writes. */
function recordingIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    terminal: null,
    env: {},
    cwd: process.cwd(),
  };
  return { out, err, io };
}

describe('the esync command table', () => {
  it.each(Object.keys(COMMANDS) as CommandName[])('loads the %s command from its module', async (name) => {
    // Act
    const command = await loadCommand(name);

    // Assess
    expect(command).toBeTypeOf('function');
  });

  it('lists every command with its summary in the help', async () => {
    // Prepare
    const { out, io } = recordingIo();

    // Act
    const code = await main(['--help'], io);

    // Assess
    expect(code).toBe(0);
    for (const [name, summary] of Object.entries(COMMANDS))
      expect(out.join('\n')).toMatch(
        new RegExp(`^  ${name} +${summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
      );
  });

  it('refuses an unknown command with the usage, exit code 2', async () => {
    // Prepare
    const { err, io } = recordingIo();

    // Act
    const code = await main(['toString'], io);

    // Assess
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('esync: unknown command "toString"');
  });
});

import { describe, expect, it } from 'vitest';
import { connectors } from '../../../cli/commands/connectors.ts';
import { type CliIo, UsageError } from '../../../cli/io.ts';
import { CONNECTOR_CATALOG } from '../../../shared/connectors/catalog.ts';

function captureIo(): CliIo & { stdout: string[] } {
  const stdout: string[] = [];
  return {
    out: (text) => stdout.push(text),
    err: () => undefined,
    terminal: null,
    env: {},
    cwd: '/',
    stdout,
  };
}

describe('esync connectors', () => {
  it('prints a table with one row per connector and its required fields', async () => {
    // Prepare
    const io = captureIo();

    // Act
    const code = await connectors([], io);

    // Assess
    expect(code).toBe(0);
    const lines = io.stdout.join('\n').split('\n');
    expect(lines[0]).toMatch(/^KIND\s+TYPE\s+REQUIRED\s+DESCRIPTION$/);
    expect(lines.find((line) => /^source\s+postgres\s/.test(line))).toMatch(
      /connection\.secret, table\s+Reads a PostgreSQL/,
    );
    expect(lines.find((line) => /^source\s+github\s/.test(line))).toMatch(/\sowner, repo\s/);
    expect(lines.find((line) => /^webhook signature\s+hmac\s/.test(line))).toMatch(
      /triggers\.webhook\.secret/,
    );
    expect(lines.filter((line) => /^(source|target|webhook signature|cdc format)\s/.test(line))).toHaveLength(
      CONNECTOR_CATALOG.length,
    );
  });

  it('prints the whole catalog as one JSON object on --json', async () => {
    // Prepare
    const io = captureIo();

    // Act
    const code = await connectors(['--json'], io);

    // Assess
    expect(code).toBe(0);
    expect(io.stdout).toHaveLength(1);
    const parsed = JSON.parse(io.stdout[0] ?? '') as {
      connectors: { kind: string; type: string; fields: unknown[] }[];
    };
    expect(parsed.connectors.map((c) => `${c.kind}:${c.type}`)).toContain('cdc:debezium');
    expect(
      parsed.connectors.find((c) => c.type === 'postgres' && c.kind === 'source')?.fields,
    ).toContainEqual(expect.objectContaining({ path: 'source.table', required: true }));
  });

  it('rejects arguments it does not know', async () => {
    await expect(connectors(['postgres'], captureIo())).rejects.toThrow(UsageError);
    await expect(connectors(['--jsno'], captureIo())).rejects.toThrow(/did you mean `--json`/);
  });
});

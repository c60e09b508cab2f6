import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validate } from '../../../cli/commands/validate.ts';
import { type CliIo, UsageError } from '../../../cli/io.ts';
import { main } from '../../../cli/main.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function captureIo(cwd: string): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    out: (text) => stdout.push(text),
    err: (text) => stderr.push(text),
    terminal: null,
    env: {},
    cwd,
    stdout,
    stderr,
  };
}

const GOOD = `name: good\nsource:\n  type: cdc\n  key: [id]\ntriggers:\n  cdc:\n    pattern: { source: [test] }\ntarget:\n  type: dynamodb\n`;

describe('esync validate', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'esync-validate-'));
    await mkdir(path.join(dir, 'pipelines'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validates the repository pipelines/ by default and exits 0', async () => {
    // Prepare
    const io = captureIo(repoRoot);

    // Act
    const code = await validate([], io);

    // Assess
    expect(code).toBe(0);
    expect(io.stdout).toEqual([
      'warning: orders-sync source.deletes.mode is none: rows deleted at the source stay in the target. Use soft (a column marks deleted rows) or verify (Verify deletes target keys the source no longer has).',
      '4 pipelines valid: github-issues, inventory-cdc, orders-sync, users-sync',
    ]);
  });

  it('warns when retention.historyDays is not a history tier, naming the days the archive keeps', async () => {
    // Prepare
    const withHistory = (name: string, days: number) =>
      `${GOOD.replace('name: good', `name: ${name}`)}retention:\n  keepHistory: true\n  historyDays: ${days}\n`;
    await writeFile(path.join(dir, 'pipelines', 'between.yaml'), withHistory('between', 45));
    await writeFile(path.join(dir, 'pipelines', 'tier.yaml'), withHistory('tier', 90));
    const io = captureIo(dir);

    // Act
    const code = await validate(['--json'], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout[0] ?? '').warnings).toEqual([
      {
        pipeline: 'between',
        path: 'retention.historyDays',
        message: expect.stringMatching(/^is 45: archived changes are kept 90 days, the next history tier/),
      },
    ]);
  });

  it('warns of a polled source that detects no deletes, and of delete detection by a Verify that is off', async () => {
    // Prepare
    const polled = (name: string, extra: string) =>
      `name: ${name}\nsource:\n  type: s3\n  prefix: in/\n  format: jsonl\n  key: [id]\n${extra}target:\n  type: dynamodb\n`;
    await writeFile(path.join(dir, 'pipelines', 'blind.yaml'), polled('blind', ''));
    await writeFile(
      path.join(dir, 'pipelines', 'off.yaml'),
      polled('off', '  deletes: { mode: verify }\nverify: { mode: off }\n'),
    );
    await writeFile(
      path.join(dir, 'pipelines', 'seeing.yaml'),
      polled('seeing', '  deletes: { mode: verify }\n'),
    );
    const io = captureIo(dir);

    // Act
    const code = await validate(['--json'], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout[0] ?? '').warnings).toEqual([
      {
        pipeline: 'blind',
        path: 'source.deletes.mode',
        message: expect.stringMatching(/^is none: rows deleted at the source stay in the target/),
      },
      {
        pipeline: 'off',
        path: 'source.deletes.mode',
        message: 'is verify, but verify.mode is off: hard deletes are never found.',
      },
    ]);
  });

  it('flags a JSON webhook pipeline without an entity timestamp or a signed timestamp as replayable', async () => {
    // Prepare
    const webhook = (name: string, cursor: string, signature: string) =>
      `name: ${name}\nsource:\n  type: webhook\n  key: [id]\n${cursor}triggers:\n  webhook:\n${signature}    secret: s\ntarget:\n  type: dynamodb\n`;
    await writeFile(
      path.join(dir, 'pipelines', 'replayable.yaml'),
      webhook('replayable', '', '    signature: hmac\n'),
    );
    await writeFile(
      path.join(dir, 'pipelines', 'stamped.yaml'),
      webhook('stamped', '  cursor: [updated_at]\n', '    signature: hmac\n'),
    );
    await writeFile(
      path.join(dir, 'pipelines', 'signed-time.yaml'),
      webhook('signed-time', '', '    signature: hmac\n    timestampHeader: x-timestamp\n'),
    );
    await writeFile(
      path.join(dir, 'pipelines', 'standard.yaml'),
      webhook('standard', '', '    signature: standard-webhooks\n'),
    );
    const io = captureIo(dir);

    // Act
    const code = await validate(['--json'], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout[0] ?? '').warnings).toEqual([
      {
        pipeline: 'replayable',
        path: 'source.cursor',
        message: expect.stringMatching(
          /^is empty and the signature covers no timestamp: deliveries are replayable/,
        ),
      },
    ]);
  });

  it('explains the channels of a backfill poll and a CDC pipeline writing one table, and advises on the event format', async () => {
    // Prepare
    const table = 'target:\n  type: dynamodb\n  table: users\n';
    await writeFile(
      path.join(dir, 'pipelines', 'backfill.yaml'),
      `name: backfill\nsource:\n  type: postgres\n  connection: { secret: db }\n  table: users\n  key: [id]\n  cursor: [updated_at]\n  deletes: { mode: soft, column: deleted }\ntriggers:\n  schedule: rate(1 hour)\n${table}`,
    );
    await writeFile(
      path.join(dir, 'pipelines', 'stream.yaml'),
      `name: stream\nsource:\n  type: cdc\n  format: esync\n  key: [id]\ntriggers:\n  cdc:\n    pattern: { source: [esync.cdc] }\n${table}`,
    );
    const io = captureIo(dir);

    // Act
    const code = await validate([], io);

    // Assess
    expect(code).toBe(0);
    expect(io.stdout).toEqual([
      'channels: dynamodb table users: backfill poll (triggers.schedule): cursor [updated_at]: t:<time>|2|<key> when updated_at holds timestamps, p:<position> (below every timestamp) when it holds integers; stream bus (triggers.cdc): the version the esync.change event carries, as its sender set it. One version order only when the esync.change sender builds versions as records/version.ts does (t:<ISO time>|3|<position> for a stream); any other version compares by its bytes alone.',
      "warning: stream source.format is esync: the bus channel carries its sender's versions, ordered with backfill poll only when they are t:<ISO time>|3|<position> (records/version.ts). Use format debezium, or build versions that way.",
      '2 pipelines valid: backfill, stream',
    ]);
  });

  it('prints every problem as file:line:col path message relative to cwd, then a summary, and exits 1', async () => {
    // Prepare
    await writeFile(path.join(dir, 'pipelines', 'good.yaml'), GOOD);
    await writeFile(
      path.join(dir, 'pipelines', 'typo.yaml'),
      GOOD.replace('good', 'typo').replace('target:', 'targt:'),
    );
    const io = captureIo(dir);

    // Act
    const code = await validate([], io);

    // Assess
    expect(code).toBe(1);
    expect(io.stdout).toEqual([
      `${path.join('pipelines', 'typo.yaml')}:1:1 target missing required key \`target\``,
      `${path.join('pipelines', 'typo.yaml')}:8:1 targt unknown key \`targt\`; did you mean \`target\`?`,
      '2 problems in 1 file; 1 pipeline valid',
    ]);
  });

  it('takes files and directories as arguments', async () => {
    // Prepare
    await writeFile(path.join(dir, 'one.yaml'), GOOD.replace('good', 'one'));
    await writeFile(path.join(dir, 'pipelines', 'two.yml'), GOOD.replace('good', 'two'));
    const io = captureIo(dir);

    // Act
    const code = await validate(['one.yaml', 'pipelines'], io);

    // Assess
    expect(code).toBe(0);
    expect(io.stdout).toEqual(['2 pipelines valid: one, two']);
  });

  it('prints one JSON object with ok, pipelines and problems on --json', async () => {
    // Prepare
    await writeFile(path.join(dir, 'pipelines', 'good.yaml'), GOOD);
    await writeFile(
      path.join(dir, 'pipelines', 'bad.yaml'),
      'name: bad\nsource: {type: nope, key: [id]}\ntarget: {type: s3}\n',
    );
    const io = captureIo(dir);

    // Act
    const code = await validate(['--json'], io);

    // Assess
    expect(code).toBe(1);
    expect(io.stdout).toHaveLength(1);
    expect(io.stdout[0]).not.toContain('\n');
    expect(JSON.parse(io.stdout[0] ?? '')).toEqual({
      ok: false,
      pipelines: ['good'],
      warnings: [],
      channels: [],
      problems: [
        {
          file: path.join('pipelines', 'bad.yaml'),
          line: 2,
          col: 16,
          path: 'source.type',
          message: expect.stringMatching(/^unknown source type `nope`; valid source types: postgres, /),
        },
      ],
    });
  });

  it('reports ok true and no problems in JSON when everything is valid', async () => {
    // Prepare
    await writeFile(path.join(dir, 'pipelines', 'good.yaml'), GOOD);
    const io = captureIo(dir);

    // Act
    const code = await validate(['--json'], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout[0] ?? '')).toEqual({
      ok: true,
      pipelines: ['good'],
      problems: [],
      warnings: [],
      channels: [],
    });
  });

  it('exits 1 for a path that does not exist', async () => {
    // Prepare
    const io = captureIo(dir);

    // Act
    const code = await validate(['nowhere'], io);

    // Assess
    expect(code).toBe(1);
    expect(io.stdout[0]).toBe('nowhere:1:1 no such file or directory');
  });

  it('rejects an unknown flag with a UsageError suggesting the right one', async () => {
    // Prepare
    const io = captureIo(dir);

    // Act
    const run = validate(['--jsn'], io);

    // Assess
    await expect(run).rejects.toThrow(UsageError);
    await expect(validate(['--jsn'], io)).rejects.toThrow(/^unknown option --jsn; did you mean `--json`\?/);
  });

  it('exits 2 with the message on stderr when run through the CLI with an unknown flag', async () => {
    // Prepare
    const io = captureIo(dir);

    // Act
    const code = await main(['validate', '--strict'], io);

    // Assess
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toContain('unknown option --strict');
    expect(io.stdout).toEqual([]);
  });

  it('prints its usage on --help and exits 0', async () => {
    // Prepare
    const io = captureIo(dir);

    // Act
    const code = await validate(['--help'], io);

    // Assess
    expect(code).toBe(0);
    expect(io.stdout[0]).toMatch(/^Usage: esync validate/);
  });

  describe('extensions', () => {
    const USING = `name: orders-feed\nsource:\n  type: custom\n  connector: jsonl-url\n  options: { url: https://example.com/o.jsonl }\n  key: [order_id]\ntarget:\n  type: dynamodb\nvalidation:\n  - { field: order_id, custom: order-id }\n`;

    it('accepts the validator and source the --extensions modules register', async () => {
      // Prepare
      await writeFile(path.join(dir, 'pipelines', 'feed.yaml'), USING);
      const io = captureIo(dir);

      // Act
      const code = await validate(['--extensions', path.join(repoRoot, 'examples', 'extensions')], io);

      // Assess
      expect(io.stdout.at(-1)).toBe('1 pipeline valid: orders-feed');
      expect(code).toBe(0);
    });

    it('refuses them where no extensions/ folder registers them, with the known ones', async () => {
      // Prepare
      await writeFile(path.join(dir, 'pipelines', 'feed.yaml'), USING);
      const io = captureIo(dir);

      // Act
      const code = await validate([], io);

      // Assess
      expect(code).toBe(1);
      expect(io.stdout.slice(0, 2)).toEqual([
        `${path.join('pipelines', 'feed.yaml')}:4:14 source.connector unknown source connector "jsonl-url"; no extension module registers one (defineSource in extensions/*.ts)`,
        `${path.join('pipelines', 'feed.yaml')}:10:32 validation[0].custom unknown validator "order-id"; known: email, iso-country, uuid`,
      ]);
    });

    it('fails naming a --extensions directory that does not exist', async () => {
      await expect(validate(['--extensions', 'nowhere'], captureIo(dir))).rejects.toThrow(
        /extensions directory .*nowhere.*ENOENT/,
      );
    });
  });
});

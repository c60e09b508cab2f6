import { type CliIo, type Command, processIo, UsageError } from './io.ts';

/** Commands by name, loaded on demand so `esync validate` does not pay for the local stack. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  validate: {
    summary: 'check pipeline files',
    load: async () => (await import('./commands/validate.ts')).validate,
  },
  connectors: {
    summary: 'list sources, targets and adapters',
    load: async () => (await import('./commands/connectors.ts')).connectors,
  },
  dev: { summary: 'run the local stack', load: async () => (await import('./commands/dev.ts')).dev },
  demo: {
    summary: 'run the end-to-end demo (npm start)',
    load: async () => (await import('./commands/demo.ts')).demo,
  },
  run: {
    summary:
      'start a run; --wait follows it (records, rate, ETA) and exits 0 only when it succeeded and verified',
    load: async () => (await import('./commands/run.ts')).run,
  },
  runs: { summary: 'list or show runs', load: async () => (await import('./commands/runs.ts')).runs },
  conflicts: {
    summary: 'list, show or resolve conflicts',
    load: async () => (await import('./commands/conflicts.ts')).conflicts,
  },
  dlq: {
    summary: 'list, inspect or redrive dead letters',
    load: async () => (await import('./commands/dlq.ts')).dlq,
  },
  checkpoint: {
    summary: 'show or reset a checkpoint',
    load: async () => (await import('./commands/checkpoint.ts')).checkpoint,
  },
  stream: {
    summary: 'what a change stream did on a day: outcomes, events that changed no row, ties',
    load: async () => (await import('./commands/stream.ts')).stream,
  },
  secrets: {
    summary: 'set or list the local stack’s secrets',
    load: async () => (await import('./commands/secrets.ts')).secrets,
  },
  history: {
    summary: 'rebuild a record as it was, from its archived changes',
    load: async () => (await import('./commands/history.ts')).history,
  },
  audit: {
    summary: 'read the audit trail: who changed what, when and why',
    load: async () => (await import('./commands/audit.ts')).audit,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: esync <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `esync <command> --help` for a command’s options.',
  ].join('\n');
}

/** Runs the CLI with the given arguments; returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`esync: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`esync ${name}: ${(error as Error).message}`);
      return 2;
    }
    io.err(`esync ${name}: ${(error as Error).message}`);
    if (io.env.ESYNC_DEBUG) io.err(String((error as Error).stack));
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /cli[\\/]main\.ts$/.test(process.argv[1]);
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));

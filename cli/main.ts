import { type CliIo, type Command, processIo, UsageError } from './io.ts';

/**
 * Commands by name, with the summary `esync --help` lists. Command `x` is the export `x` of
 * `./commands/x.ts`, imported only when it runs, so `esync validate` does not pay for the local stack.
 */
export const COMMANDS = {
  validate: 'check pipeline files',
  connectors: 'list sources, targets and adapters',
  dev: 'run the local stack',
  demo: 'run the end-to-end demo (npm start)',
  run: 'start a run; --wait follows it (records, rate, ETA) and exits 0 only when it succeeded and verified',
  runs: 'list or show runs',
  conflicts: 'list, show or resolve conflicts',
  dlq: 'list, inspect or redrive dead letters',
  checkpoint: 'show or reset a checkpoint',
  stream: 'what a change stream did on a day: outcomes, events that changed no row, ties',
  secrets: 'set or list the local stack’s secrets',
  history: 'rebuild a record as it was, from its archived changes',
  audit: 'read the audit trail: who changed what, when and why',
} as const;

export type CommandName = keyof typeof COMMANDS;

const isCommandName = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

/**
 * Imports a command from its module.
 * @throws Error when the module does not export the command under its name.
 */
export async function loadCommand(name: CommandName): Promise<Command> {
  const module: Readonly<Record<string, unknown>> = await import(`./commands/${name}.ts`);
  const command = module[name];
  if (typeof command !== 'function') throw new Error(`cli/commands/${name}.ts exports no command "${name}"`);
  return command as Command;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: esync <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
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
  if (!isCommandName(name)) {
    io.err(`esync: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await loadCommand(name))(rest, io);
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

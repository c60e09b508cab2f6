/** Where a command writes; tests pass their own to capture output. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Stdout when it is a terminal, where a progress line is redrawn in place; null in a pipe or file. */
  readonly terminal: NodeJS.WritableStream | null;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  terminal: process.stdout.isTTY ? process.stdout : null,
  env: process.env,
  cwd: process.cwd(),
};

/** A command: takes the arguments after its name, returns the exit code. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

/** A bad flag or argument; the CLI prints the message and the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A CLI started as a child process, its output collected line by line. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal's name when killed). */
  readonly exited: Promise<number | string>;
  /** Resolves with the first stdout line `accept` returns a value for. */
  firstLine<T>(accept: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
  /** SIGKILL when still running; for cleanup after a failed test. */
  kill(): Promise<void>;
}

/** Starts `node <args>` with `cwd` and the extra environment, without a terminal. */
export function startCli(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): CliProcess {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<(line: string) => void>();
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      for (const waiter of [...waiters]) waiter(line);
    });
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const describe = () => `stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.slice(-40).join('\n')}`;
  return {
    child,
    stdout,
    stderr,
    exited,
    firstLine<T>(accept: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const finish = (error: Error | undefined, value?: T) => {
          clearTimeout(timer);
          waiters.delete(onLine);
          if (error) reject(error);
          else resolve(value as T);
        };
        const onLine = (line: string) => {
          const value = accept(line);
          if (value !== undefined) finish(undefined, value);
        };
        const timer = setTimeout(
          () => finish(new Error(`no expected line within ${timeoutMs} ms\n${describe()}`)),
          timeoutMs,
        );
        for (const line of stdout) {
          const value = accept(line);
          if (value !== undefined) return finish(undefined, value);
        }
        waiters.add(onLine);
        void exited.then((code) =>
          finish(new Error(`exited (${code}) before the expected line\n${describe()}`)),
        );
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Parses a line as a JSON object, or undefined when it is not one. */
export function jsonObjectLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

import { readFileSync } from 'node:fs';

/**
 * The programs that start `esync` for a user: npm and npx (`npm exec`, `npm run`) and the shell
 * they run the bin under. None passes a SIGTERM on to its child, so when one of them is told to
 * stop, `esync dev` would outlive it as an orphan.
 */
const LAUNCHER = /^(npm|npx)\b|\bnpm-cli\.js\b|\bnpx-cli\.js\b|^(\S*\/)?(ba|da)?sh( |$)/;

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether a process is gone (or a zombie waiting to be reaped). */
function gone(pid: number): boolean {
  const stat = readProc(pid, 'stat');
  return stat === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')') + 1, stat.lastIndexOf(')') + 4));
}

/** The chain of launchers above this process, nearest first (Linux: read from /proc; else none). */
export function launcherPids(): number[] {
  const pids: number[] = [];
  for (let pid = process.ppid; pid > 1 && pids.length < 8; ) {
    const command = readProc(pid, 'cmdline')?.replaceAll('\0', ' ').trim();
    if (!command || !LAUNCHER.test(command)) break;
    pids.push(pid);
    const stat = readProc(pid, 'stat') ?? '';
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return pids;
}

/**
 * Calls `onGone` once when the parent process changes or any launcher above this process ends,
 * checking every `intervalMs`; returns the function that stops watching.
 */
export function watchLaunchers(onGone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const launchers = launcherPids();
  const timer = setInterval(() => {
    if (process.ppid !== parent || launchers.some(gone)) {
      clearInterval(timer);
      onGone();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

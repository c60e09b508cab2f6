import { stopOrphanedServers } from '../../local/orphan-servers.ts';

/**
 * Stops the database servers (and deletes the directories) that test processes left behind when
 * they died before their teardown: a hook that timed out, a killed worker. Before the run, what
 * an earlier run on this machine left; after it, what this one did. Servers whose test process
 * is alive (another run in parallel) are left alone.
 */
async function sweep(when: string): Promise<void> {
  const { removed, failed } = await stopOrphanedServers();
  if (removed.length > 0)
    console.warn(`[orphan-servers] ${when}: stopped and deleted ${removed.length} left by dead processes`);
  for (const { dir, error } of failed)
    console.warn(`[orphan-servers] ${when}: could not clean ${dir}: ${error}`);
}

export async function setup(): Promise<() => Promise<void>> {
  await sweep('before the run');
  return () => sweep('after the run');
}

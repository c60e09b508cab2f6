import { Session } from 'node:inspector/promises';
import { decorateClients } from '../../shared/aws/clients.ts';

/** A V8 CPU profile as the inspector's `Profiler.stop` returns it. */
export interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber?: number;
  };
}

/** Who a sampled frame belongs to, by its script URL and function name; `idle` is left out of the shares. */
export type OwnerOf<Owner extends string> = (url: string, functionName: string) => Owner | 'idle';

/**
 * The thread's CPU time `cpuMs` split by owner in the proportions of the profile's non-idle
 * samples: a sample's time delta is wall time, which on a busy machine includes time the thread
 * waited for a core, so only the shares are taken from it.
 */
export function cpuShares<Owner extends string>(
  profile: Profile,
  cpuMs: number,
  owners: readonly Owner[],
  ownerOf: OwnerOf<Owner>,
): Record<Owner, number> {
  const byNode = new Map(
    profile.nodes.map((n) => [n.id, ownerOf(n.callFrame.url, n.callFrame.functionName)]),
  );
  const sampled = Object.fromEntries(owners.map((o) => [o, 0])) as Record<Owner, number>;
  for (const [i, id] of profile.samples.entries()) {
    const owner = byNode.get(id);
    if (owner !== undefined && owner !== 'idle') sampled[owner] += profile.timeDeltas[i] ?? 0;
  }
  const busy = owners.reduce((sum, o) => sum + sampled[o], 0) || 1;
  for (const owner of owners) sampled[owner] = (sampled[owner] / busy) * cpuMs;
  return sampled;
}

/** One function's share of the thread's CPU (its self time), in ms per record. */
export interface HotFunction {
  readonly name: string;
  /** `file:line`, the file relative to node_modules or the repository. */
  readonly where: string;
  readonly ms: number;
}

/** The `top` functions by self time, `cpuMs` split in the profile's non-idle shares as {@link cpuShares} does. */
export function hotFunctions(profile: Profile, cpuMs: number, top: number): HotFunction[] {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, { name: string; where: string; t: number }>();
  let busy = 0;
  for (const [i, id] of profile.samples.entries()) {
    const frame = frames.get(id);
    if (!frame || frame.functionName === '(idle)' || frame.url === 'node:inspector') continue;
    const t = profile.timeDeltas[i] ?? 0;
    busy += t;
    const file = frame.url
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\/.*?\/(shared|functions|local|test)\//, '$1/');
    const where = `${file}:${(frame.lineNumber ?? 0) + 1}`;
    const id2 = `${frame.functionName}@${where}`;
    const seen = self.get(id2) ?? { name: frame.functionName || '(anonymous)', where, t: 0 };
    seen.t += t;
    self.set(id2, seen);
  }
  return [...self.values()]
    .sort((a, b) => b.t - a.t)
    .slice(0, top)
    .map(({ name, where, t }) => ({ name, where, ms: (t / (busy || 1)) * cpuMs }));
}

/** The main thread's sampling profiler, connected and started with a 200 µs interval. */
export async function startProfiler(): Promise<{ stop(): Promise<Profile>; close(): void }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    stop: async () => ((await session.post('Profiler.stop')) as { profile: Profile }).profile,
    close: () => session.disconnect(),
  };
}

/** What a client's request is: its service, command name and input. */
export interface RequestSeen {
  readonly service: string;
  /** The command's name without its `Command` suffix: `PutItem`, `SendMessageBatch`. */
  readonly command: string;
  readonly input: {
    readonly TableName?: string;
    readonly RequestItems?: object;
    readonly Statements?: unknown;
  };
}

/**
 * Times every request the AWS clients built from now on send, by the label `labelOf` gives it
 * (none: not counted), until `uninstall`.
 */
export function timeRequests(labelOf: (request: RequestSeen) => string | undefined) {
  const byWhat = new Map<string, { count: number; ms: number }>();
  const uninstall = decorateClients((client, service) => {
    (client as { middlewareStack: { add: (m: unknown, o: unknown) => void } }).middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input: RequestSeen['input'] }) => {
          const command = context.commandName?.replace(/Command$/, '') ?? '';
          const what = labelOf({ service, command, input: args.input });
          const started = performance.now();
          try {
            return await next(args);
          } finally {
            if (what !== undefined) {
              const seen = byWhat.get(what) ?? { count: 0, ms: 0 };
              byWhat.set(what, { count: seen.count + 1, ms: seen.ms + performance.now() - started });
            }
          }
        },
      { step: 'initialize', name: 'benchRequestTimer' },
    );
  });
  return { byWhat, uninstall };
}

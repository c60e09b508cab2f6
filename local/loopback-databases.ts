import { isIP } from 'node:net';
import { connectsToDatabase } from '../shared/pipeline/database-connections.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';

/** The host a database secret names (`host`, or the host of `url`), or undefined. */
function secretHost(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as { host?: unknown; url?: unknown };
    if (typeof parsed.host === 'string') return parsed.host;
    if (typeof parsed.url === 'string') return new URL(parsed.url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    // Not a database secret: its connector reports the problem when it reads it.
  }
  return undefined;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * The local stack's one override of a pipeline: a database on this machine's loopback interface
 * (the demo's embedded PGlite, a server started for tests) is reached without TLS, because such
 * servers seldom speak it and the traffic never leaves the machine. The example pipelines can thus
 * keep the deployed default, `ssl: verify-full`; `cdk synth` refuses `ssl: disable`, so no
 * deployed stage connects in plaintext. Each override is logged.
 */
export function reachLoopbackDatabasesWithoutTls(
  pipelines: readonly Pipeline[],
  secrets: Readonly<Record<string, string>>,
  log: (line: string) => void,
): Pipeline[] {
  const override = <T extends object>(part: T, where: string): T => {
    if (!connectsToDatabase(part) || part.connection.ssl === 'disable') return part;
    const host = secretHost(secrets[part.connection.secret]);
    if (host === undefined || !isLoopbackHost(host)) return part;
    log(`local: ${where} reaches ${host} without TLS (loopback; pipeline says ssl: ${part.connection.ssl})`);
    return { ...part, connection: { ...part.connection, ssl: 'disable' } };
  };
  return pipelines.map((p) => ({
    ...p,
    source: override(p.source, `${p.name} source`),
    target: override(p.target, `${p.name} target`),
  }));
}
